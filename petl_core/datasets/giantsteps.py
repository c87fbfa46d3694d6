"""GiantSteps (Knees et al. 2015) key and tempo, electronic dance music previews from Beatport.

No automatic download: each repository's ``audio_dl.sh`` fetches the mp3 previews.

Key (as in Ding & Lerch 2024: train/valid on GiantSteps-MTG-Key, test on GiantSteps key)::

    <data_folder>/giantsteps-mtg-key-dataset/annotations/annotations.txt   ID<TAB>key<TAB>confidence
    <data_folder>/giantsteps-mtg-key-dataset/audio/<ID>.LOFI.mp3
    <data_folder>/giantsteps-key-dataset/annotations/key/<ID>.LOFI.key    e.g. "Eb minor"
    <data_folder>/giantsteps-key-dataset/audio/<ID>.LOFI.mp3

(``mtg_key_folder`` / ``key_folder`` override the two repository folders.) MTG-Key tracks are kept
when their confidence is ``>= min_confidence`` (default 2, the highest) and their key is one
unambiguous key; ambiguous (``"F minor / G# major"``), unknown (``-``) and blank keys are
excluded with a log line. ``valid`` = a seeded random ``valid_fraction`` (10 %) of the kept
MTG-Key tracks (``random.Random(seed).shuffle`` of the sorted IDs, seed 1234), ``train`` = the
rest; ``test`` = all parsable GiantSteps key tracks. Keys are mir_eval strings with sharps
(``Eb minor`` -> ``D# minor``).

Tempo (GiantSteps tempo; Ding & Lerch split it 3:1:1)::

    <data_folder>/annotations_v2/tempo/<ID>.LOFI.bpm     (v2, Schreiber & Mueller 2018; default)
    <data_folder>/annotations/tempo/<ID>.LOFI.bpm        (v1, ``annotations="v1"``)
    <data_folder>/splits/fold01.txt ... fold10.txt       <ID>.LOFI.mp3 per line
    <data_folder>/audio/<ID>.LOFI.mp3

(``data_folder`` may also be the parent of ``giantsteps-tempo-dataset/``.) With the repository's
ten folds, 3:1:1 is ``train`` = folds 1-6, ``valid`` = folds 7-8, ``test`` = folds 9-10
(``valid_folds``/``test_folds`` change it); without a ``splits`` folder the sorted tracks are
shuffled with ``seed`` and cut 3:1:1. Tracks whose BPM is 0 (three in v2) are excluded with a log
line.
"""
from __future__ import annotations

import glob
import logging
import os
import random

from petl_core.manifest import (
    DatasetError,
    check_disjoint,
    finalize_splits,
    format_bpm,
    normalize_key,
    prepare_once,
    read_lines,
    require_file,
    resolve_audio,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
KEY_LAYOUT = ("giantsteps-mtg-key-dataset/{annotations/annotations.txt,audio/*.mp3} and "
              "giantsteps-key-dataset/{annotations/key/*.key,audio/*.mp3} (github.com/GiantSteps)")
TEMPO_LAYOUT = ("annotations_v2/tempo/*.bpm (or annotations/tempo), splits/fold01-10.txt and "
                "audio/*.mp3 of github.com/GiantSteps/giantsteps-tempo-dataset")


def _no_download(download: bool) -> str:
    return " (cannot be downloaded automatically: run the repository's audio_dl.sh)" \
        if download else ""


def read_mtg_key_annotations(path: str) -> list[tuple[str, str, int]]:
    """``[(ID, key text, confidence)]`` of GiantSteps-MTG-Key ``annotations.txt``."""
    out = []
    for n, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t")
        if n == 1 and fields[0].strip().upper() == "ID":
            continue
        try:
            conf = int(fields[2].strip()) if len(fields) > 2 else 0
        except ValueError:
            conf = 0
        out.append((fields[0].strip(), fields[1].strip() if len(fields) > 1 else "", conf))
    if not out:
        raise DatasetError(f"{path}: no annotations")
    return out


def prepare_key(
    data_folder: str,
    save_folder: str,
    key_folder: str | None = None,
    mtg_key_folder: str | None = None,
    min_confidence: int = 2,
    valid_fraction: float = 0.1,
    seed: int = 1234,
    download: bool = False,
    skip_bad_files: bool = False,
    check_samples: bool = False,
) -> dict[str, str]:
    """Write key ``train/valid/test.csv``; return ``{split: path}``."""
    data_folder = os.path.abspath(data_folder)
    key_root = os.path.abspath(key_folder or os.path.join(data_folder, "giantsteps-key-dataset"))
    mtg_root = os.path.abspath(mtg_key_folder
                               or os.path.join(data_folder, "giantsteps-mtg-key-dataset"))
    ann = os.path.join(mtg_root, "annotations", "annotations.txt")
    require_file(ann, "GiantSteps-MTG-Key annotations" + _no_download(download), KEY_LAYOUT)
    key_dir = os.path.join(key_root, "annotations", "key")
    if not os.path.isdir(key_dir):
        raise DatasetError(f"GiantSteps key annotations not found{_no_download(download)}: "
                           f"{key_dir} (layout: {KEY_LAYOUT})")
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    options = dict(dataset="giantsteps_key", key_folder=key_root, mtg_key_folder=mtg_root,
                   min_confidence=min_confidence, valid_fraction=valid_fraction, seed=seed,
                   skip_bad_files=skip_bad_files, check_samples=check_samples)

    def build():
        test = []
        for path in sorted(glob.glob(os.path.join(key_dir, "*.key"))):
            stem = os.path.basename(path)[: -len(".key")]
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read().strip()
            key = normalize_key(text)
            if key is None:
                logger.warning("GiantSteps key: %s: unusable key %r; excluded", path, text)
                continue
            test.append({"ID": stem.split(".")[0], "wav": resolve_audio(
                os.path.join(key_root, "audio", stem + ".mp3")), "label": key})
        if not test:
            raise DatasetError(f"GiantSteps key: no usable .key file in {key_dir}")
        test_ids = {r["ID"] for r in test}
        pool, low, bad = [], 0, 0
        for track, text, conf in read_mtg_key_annotations(ann):
            if conf < min_confidence:
                low += 1
                continue
            key = normalize_key(text)
            if key is None:
                bad += 1
                logger.info("GiantSteps-MTG-Key: %s: unusable key %r; excluded", track, text)
                continue
            if track in test_ids:
                logger.warning("GiantSteps-MTG-Key: %s is also a GiantSteps test track; excluded",
                               track)
                continue
            pool.append({"ID": track, "wav": resolve_audio(
                os.path.join(mtg_root, "audio", f"{track}.LOFI.mp3")), "label": key})
        logger.info("GiantSteps-MTG-Key: kept %d tracks (%d below confidence %d, %d ambiguous "
                    "or unknown keys)", len(pool), low, min_confidence, bad)
        pool.sort(key=lambda r: r["ID"])
        random.Random(seed).shuffle(pool)
        n_valid = max(1, round(valid_fraction * len(pool))) if len(pool) > 1 else 0
        rows = {"train": sorted(pool[n_valid:], key=lambda r: r["ID"]),
                "valid": sorted(pool[:n_valid], key=lambda r: r["ID"]), "test": test}
        check_disjoint(rows, "GiantSteps key")
        return finalize_splits(rows, skip_bad_files, check_samples, "GiantSteps key")

    return prepare_once(save_folder, SPLITS, options, build)


def prepare_tempo(
    data_folder: str,
    save_folder: str,
    annotations: str = "v2",
    valid_folds: tuple[int, ...] = (7, 8),
    test_folds: tuple[int, ...] = (9, 10),
    seed: int = 1234,
    download: bool = False,
    skip_bad_files: bool = False,
    check_samples: bool = False,
) -> dict[str, str]:
    """Write tempo ``train/valid/test.csv``; return ``{split: path}``."""
    if annotations not in ("v1", "v2"):
        raise ValueError(f"annotations must be 'v1' or 'v2', got {annotations!r}")
    root = os.path.abspath(data_folder)
    ann_name = "annotations_v2" if annotations == "v2" else "annotations"
    if not os.path.isdir(os.path.join(root, ann_name)) and os.path.isdir(
            os.path.join(root, "giantsteps-tempo-dataset")):
        root = os.path.join(root, "giantsteps-tempo-dataset")
    tempo_dir = os.path.join(root, ann_name, "tempo")
    if not os.path.isdir(tempo_dir):
        raise DatasetError(f"GiantSteps tempo annotations not found{_no_download(download)}: "
                           f"{tempo_dir} (layout: {TEMPO_LAYOUT})")
    split_dir = os.path.join(root, "splits")
    has_folds = os.path.isfile(os.path.join(split_dir, "fold01.txt"))
    valid_folds, test_folds = tuple(int(f) for f in valid_folds), tuple(int(f) for f in test_folds)
    if set(valid_folds) & set(test_folds):
        raise ValueError(f"valid_folds {valid_folds} and test_folds {test_folds} overlap")
    options = dict(dataset="giantsteps_tempo", data_folder=root, annotations=annotations,
                   split=("folds", valid_folds, test_folds) if has_folds else ("seeded", seed),
                   skip_bad_files=skip_bad_files, check_samples=check_samples)

    def label_of(stem: str) -> str | None:
        path = os.path.join(tempo_dir, f"{stem}.bpm")
        if not os.path.isfile(path):
            logger.warning("GiantSteps tempo: no annotation %s; excluded", path)
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            bpm = format_bpm(f.read())
        if bpm is None:
            logger.info("GiantSteps tempo: %s has no tempo (0); excluded", path)
        return bpm

    def build():
        assignment: dict[str, str] = {}
        if has_folds:
            fold_files = sorted(glob.glob(os.path.join(split_dir, "fold*.txt")))
            for path in fold_files:
                fold = int(os.path.basename(path)[4:-4])
                split = ("test" if fold in test_folds else "valid" if fold in valid_folds
                         else "train")
                for line in read_lines(path):
                    stem = os.path.splitext(os.path.basename(line))[0]
                    if stem in assignment:
                        raise DatasetError(f"{path}: {stem} is in two folds")
                    assignment[stem] = split
        else:
            logger.info("GiantSteps tempo: no %s; seeded 3:1:1 split (seed %d)",
                        os.path.join(split_dir, "fold01.txt"), seed)
            stems = sorted(os.path.basename(p)[: -len(".bpm")]
                           for p in glob.glob(os.path.join(tempo_dir, "*.bpm")))
            random.Random(seed).shuffle(stems)
            n = len(stems)
            n_test, n_valid = round(n / 5), round(n / 5)
            for i, stem in enumerate(stems):
                assignment[stem] = "test" if i < n_test else "valid" if i < n_test + n_valid \
                    else "train"
        rows = {s: [] for s in SPLITS}
        for stem in sorted(assignment):
            bpm = label_of(stem)
            if bpm is None:
                continue
            rows[assignment[stem]].append({
                "ID": stem.split(".")[0],
                "wav": resolve_audio(os.path.join(root, "audio", stem + ".mp3")),
                "label": bpm,
            })
        check_disjoint(rows, "GiantSteps tempo")
        return finalize_splits(rows, skip_bad_files, check_samples, "GiantSteps tempo")

    return prepare_once(save_folder, SPLITS, options, build)


def prepare(data_folder: str, save_folder: str, task: str = "key", **kwargs) -> dict[str, str]:
    """Dispatch to :func:`prepare_key` or :func:`prepare_tempo`."""
    if task == "key":
        return prepare_key(data_folder, save_folder, **kwargs)
    if task == "tempo":
        return prepare_tempo(data_folder, save_folder, **kwargs)
    raise ValueError(f"GiantSteps task must be key or tempo, got {task!r}")
