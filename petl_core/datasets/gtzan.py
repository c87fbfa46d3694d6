"""GTZAN (Tzanetakis & Cook 2002): genre, key and tempo, all on the fault-filtered split.

Audio layout (the marsyas ``genres.tar.gz`` with ``.au`` files, or the common ``.wav`` copy)::

    <data_folder>/genres/<genre>/<genre>.000xx.{wav,au}     (or genres_original/, or Data/genres_original/)

Split (Kereliuk et al. 2015 fault-filtered, as distributed by github.com/jongpillee/
music_dataset_split and coreyker/dnn-mgr: 443 / 197 / 290 excerpts)::

    <split_folder>/train_filtered.txt valid_filtered.txt test_filtered.txt   ("blues/blues.00029.wav")

``split_folder`` defaults to the first of ``data_folder``, ``data_folder/split``,
``data_folder/splits``, ``data_folder/gtzan_split`` holding ``train_filtered.txt``.

Tasks (all use the same split, as Ding & Lerch 2024 do):

- ``genre``: label = the genre folder name (10 classes).
- ``key`` (github.com/alexanderlerch/gtzan_key; ``key_folder`` default: the first existing of
  ``data_folder/gtzan_key/gtzan_key/genres``, ``data_folder/gtzan_key/genres``,
  ``data_folder/gtzan_key``): one file ``<genre>/<genre>.000xx.lerch.txt`` per excerpt holding an
  integer. Its ``KeyEnumeration.txt`` counts from A: ``0..11`` = A, A#, B, C, C#, D, D#, E, F, F#,
  G, G# **major**; ``12..23`` = the same tonics **minor**; ``-1`` = modulation/unknown. So
  ``n`` -> tonic ``["A","A#","B","C","C#","D","D#","E","F","F#","G","G#"][n % 12]``, mode
  ``major if n < 12 else minor`` (e.g. 3 = ``C major``, 12 = ``A minor``, 15 = ``C minor``).
  Excerpts labelled ``-1`` (or without/with a malformed annotation) are excluded, with a log line;
  other files in the folders (the repository has a stray binary ``disco.00055.pk``) are ignored.
- ``tempo`` (github.com/TempoBeatDownbeat/gtzan_tempo_beat; ``tempo_folder`` default: the first
  existing of ``data_folder/gtzan_tempo_beat/tempo``, ``data_folder/tempo``): one file
  ``gtzan_<genre>_000xx.bpm`` per excerpt holding the BPM (e.g. ``1.2587e+02``); label = BPM as a
  float string. Excerpts without a ``.bpm`` file are excluded with a log line (in the public
  annotations only reggae.00086 lacks one, and it is outside the filtered split).
- ``beat`` (same repository; ``beat_folder`` default: the first existing of
  ``data_folder/gtzan_tempo_beat/beats``, ``data_folder/beats``): one file
  ``gtzan_<genre>_000xx.beats`` per excerpt (``time<TAB>position in bar``, 1 = downbeat); label =
  the absolute path of that file (a frame-level task, :mod:`petl_core.beat`). Excerpts without one
  are excluded with a log line.

Extra column: ``genre``.
"""
from __future__ import annotations

import logging
import os

from petl_core.music import key_name
from petl_core.manifest import (
    DatasetError,
    check_disjoint,
    download_and_extract,
    finalize_splits,
    first_existing,
    format_bpm,
    prepare_once,
    read_lines,
    require_file,
)

logger = logging.getLogger(__name__)

URL = "http://opihi.cs.uvic.ca/sound/genres.tar.gz"
SHA256 = "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6"  # as in torchaudio
LAYOUT = ("genres/<genre>/<genre>.000xx.wav (or .au; or genres_original/) and the fault-filtered "
          "split files train_filtered.txt, valid_filtered.txt, test_filtered.txt")
SPLITS = ("train", "valid", "test")
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
          "rock")
_AUDIO_DIRS = ("genres", "genres_original", os.path.join("Data", "genres_original"),
               os.path.join("gtzan", "genres"))


def gtzan_key_label(value: int) -> str | None:
    """mir_eval key string of a gtzan_key integer (``None`` for -1/unknown)."""
    if not 0 <= value <= 23:
        return None
    return key_name(value + 9, 'major' if value < 12 else 'minor')  # n = 0 is A


def _audio_root(data_folder: str, download: bool) -> str:
    root = first_existing([os.path.join(data_folder, d) for d in _AUDIO_DIRS], isdir=True)
    if root is None and download:
        download_and_extract(URL, data_folder, sha256=SHA256, name="GTZAN", layout=LAYOUT)
        root = first_existing([os.path.join(data_folder, d) for d in _AUDIO_DIRS], isdir=True)
    if root is None:
        raise DatasetError(
            f"GTZAN audio not found: none of {[os.path.join(data_folder, d) for d in _AUDIO_DIRS]}"
            f" exists{'' if download else ' (pass download=True to try ' + URL + ')'}; put the "
            f"dataset in {data_folder} (layout: {LAYOUT})")
    return root


def _audio_path(root: str, genre: str, stem: str) -> str:
    for ext in (".wav", ".au", ".flac", ".mp3"):
        p = os.path.join(root, genre, stem + ext)
        if os.path.exists(p):
            return p
    return os.path.join(root, genre, stem + ".wav")  # reported as missing by the validation


def read_split(split_folder: str) -> dict[str, list[tuple[str, str]]]:
    """``{split: [(genre, stem)]}`` from the fault-filtered lists."""
    out = {}
    for split in SPLITS:
        path = require_file(os.path.join(split_folder, f"{split}_filtered.txt"),
                            f"GTZAN {split} split file", LAYOUT)
        items = []
        for line in read_lines(path):
            rel = line.replace("\\", "/")
            genre, _, name = rel.rpartition("/")
            stem = os.path.splitext(name)[0]
            genre = genre.split("/")[-1] or stem.split(".")[0]
            items.append((genre, stem))
        out[split] = items
    return out


def _find_split_folder(data_folder: str, split_folder: str | None) -> str:
    if split_folder:
        return os.path.abspath(split_folder)
    candidates = [os.path.join(data_folder, d) for d in ("", "split", "splits", "gtzan_split")]
    found = first_existing(os.path.join(c, "train_filtered.txt") for c in candidates)
    if found is None:
        raise DatasetError(
            "GTZAN split file train_filtered.txt not found in any of "
            f"{[os.path.normpath(c) for c in candidates]}; pass split_folder (get the files from "
            "https://github.com/jongpillee/music_dataset_split/tree/master/GTZAN_split)")
    return os.path.dirname(found)


def read_key_file(path: str) -> str | None:
    """Key label of one ``.lerch.txt`` file; ``None`` (logged) for -1 or a malformed file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read().strip()
    try:
        value = int(text)
    except ValueError:
        logger.warning("GTZAN key: %s: cannot parse %r; excluded", path, text[:20])
        return None
    label = gtzan_key_label(value)
    if label is None:
        logger.info("GTZAN key: %s: %d (unknown/modulating key); excluded", path, value)
    return label


def _default_folder(data_folder: str, candidates, what: str, given: str | None) -> str:
    if given:
        if not os.path.isdir(given):
            raise DatasetError(f"GTZAN {what} folder not found: {given}")
        return os.path.abspath(given)
    paths = [os.path.join(data_folder, *c) for c in candidates]
    found = first_existing(paths, isdir=True)
    if found is None:
        raise DatasetError(f"GTZAN {what} annotations not found: none of {paths} exists")
    return os.path.abspath(found)


def prepare(
    data_folder: str,
    save_folder: str,
    task: str = "genre",
    split_folder: str | None = None,
    key_folder: str | None = None,
    tempo_folder: str | None = None,
    beat_folder: str | None = None,
    download: bool = False,
    skip_bad_files: bool = False,
    check_samples: bool = False,
) -> dict[str, str]:
    """Write ``train/valid/test.csv`` for ``task`` in ``genre|key|tempo|beat``; return paths."""
    if task not in ("genre", "key", "tempo", "beat"):
        raise ValueError(f"GTZAN task must be genre, key, tempo or beat, got {task!r}")
    data_folder = os.path.abspath(data_folder)
    root = _audio_root(data_folder, download)
    split_folder = _find_split_folder(data_folder, split_folder)
    ann_folder = None
    if task == "key":
        ann_folder = _default_folder(
            data_folder, [("gtzan_key", "gtzan_key", "genres"), ("gtzan_key", "genres"),
                          ("gtzan_key",)], "key", key_folder)
    elif task == "tempo":
        ann_folder = _default_folder(
            data_folder, [("gtzan_tempo_beat", "tempo"), ("tempo",)], "tempo", tempo_folder)
    elif task == "beat":
        ann_folder = _default_folder(
            data_folder, [("gtzan_tempo_beat", "beats"), ("beats",)], "beat", beat_folder)
    options = dict(dataset=f"gtzan_{task}", audio_folder=root, split_folder=split_folder,
                   annotation_folder=ann_folder, skip_bad_files=skip_bad_files,
                   check_samples=check_samples)

    def label_of(genre: str, stem: str) -> str | None:
        if task == "genre":
            return genre
        if task == "key":
            path = os.path.join(ann_folder, genre, f"{stem}.lerch.txt")
            if not os.path.isfile(path):
                logger.warning("GTZAN key: no annotation %s; %s excluded", path, stem)
                return None
            return read_key_file(path)
        number = stem.split(".")[-1]
        if task == "beat":
            path = os.path.join(ann_folder, f"gtzan_{genre}_{number}.beats")
            if not os.path.isfile(path):
                logger.warning("GTZAN beat: no annotation %s; %s excluded", path, stem)
                return None
            return path
        path = os.path.join(ann_folder, f"gtzan_{genre}_{number}.bpm")
        if not os.path.isfile(path):
            logger.warning("GTZAN tempo: no annotation %s; %s excluded", path, stem)
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            bpm = format_bpm(f.read())
        if bpm is None:
            logger.warning("GTZAN tempo: %s holds no positive BPM; %s excluded", path, stem)
        return bpm

    def build():
        rows = {}
        excluded = 0
        for split, items in read_split(split_folder).items():
            rows[split] = []
            for genre, stem in items:
                label = label_of(genre, stem)
                if label is None:
                    excluded += 1
                    continue
                rows[split].append({"ID": stem, "wav": _audio_path(root, genre, stem),
                                    "label": label, "genre": genre})
        if excluded:
            logger.info("GTZAN %s: %d excerpt(s) excluded for lack of a usable label", task,
                        excluded)
        check_disjoint(rows, f"GTZAN {task}")
        return finalize_splits(rows, skip_bad_files, check_samples, f"GTZAN {task}")

    return prepare_once(save_folder, SPLITS, options, build)


def prepare_genre(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="genre", **kwargs)


def prepare_key(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="key", **kwargs)


def prepare_tempo(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="tempo", **kwargs)


def prepare_beat(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="beat", **kwargs)
