"""MTG-Jamendo (Bogdanov et al. 2019), auto-tagging top-50, split-0 by default.

Official layout (``git clone https://github.com/MTG/mtg-jamendo-dataset`` for the splits; audio
with its ``scripts/download/download.py``, no automatic download here)::

    <data_folder>/data/splits/split-<n>/autotagging_top50tags-{train,validation,test}.tsv
    <data_folder>/data/splits/split-<n>/autotagging_{genre,instrument,moodtheme}-{train,validation,test}.tsv
    <audio_folder>/<00-99>/<track>.mp3     (default audio_folder: <data_folder>/audio)

Each TSV line: ``TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION`` then the tags, all tab-separated
(the tags are the 6th field onwards, e.g. ``genre---rock``, ``mood/theme---happy``). Split names
become ``train``/``valid``/``test``. Labels are the tags joined by ``;``; ``tags.txt`` (the sorted
vocabulary) is written next to the manifests. ``low_quality=True`` uses the ``.low.mp3`` files of
the low-quality download. Extra column: ``artist``.

``subset`` (:data:`SUBSETS`): ``top50tags`` (the default), ``genre`` (87 tags), ``instrument``
(40), ``moodtheme`` (56) — seed 003's / MARBLE's MTG-Genre, -Instrument and -MoodTheme tasks on
split-0 — or ``all`` (``autotagging-*.tsv``). A category subset's files must hold only that
category's tags (``genre---``, ``instrument---``, ``mood/theme---``), which catches a swapped file.
"""
from __future__ import annotations

import logging
import os

from petl_core.manifest import (
    DatasetError,
    check_disjoint,
    finalize_splits,
    first_existing,
    prepare_once,
    read_lines,
    resolve_audio,
    write_lines_atomic,
)

logger = logging.getLogger(__name__)

LAYOUT = ("data/splits/split-0/autotagging_top50tags-{train,validation,test}.tsv from "
          "https://github.com/MTG/mtg-jamendo-dataset and the audio in audio/<00-99>/*.mp3")
SPLITS = ("train", "valid", "test")
#: subset -> (split file prefix, tag category its tags must carry; None = any)
SUBSETS = {"top50tags": ("autotagging_top50tags", None), "genre": ("autotagging_genre", "genre---"),
           "instrument": ("autotagging_instrument", "instrument---"),
           "moodtheme": ("autotagging_moodtheme", "mood/theme---"), "all": ("autotagging", None)}
_FILE_SPLIT = {"train": "train", "valid": "validation", "test": "test"}


def read_split_tsv(path: str) -> list[dict]:
    """Entries ``{track_id, artist_id, path, tags}`` of a split TSV (CRLF-safe)."""
    lines = read_lines(path)
    if len(lines) < 2:
        raise DatasetError(f"{path}: empty split file (no track after the header)")
    header = lines[0].split("\t")
    if header[:4] != ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH"]:
        raise DatasetError(f"{path}: expected header TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION "
                           f"TAGS, got {header}")
    out = []
    for n, line in enumerate(lines[1:], start=2):
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) < 6:
            raise DatasetError(f"{path}: line {n} has no tags ({len(fields)} fields)")
        out.append({"track_id": fields[0], "artist_id": fields[1], "path": fields[3],
                    "tags": [t for t in fields[5:] if t]})
    return out


def prepare(
    data_folder: str,
    save_folder: str,
    split: int = 0,
    subset: str = "top50tags",
    audio_folder: str | None = None,
    low_quality: bool = False,
    download: bool = False,
    skip_bad_files: bool = False,
    check_samples: bool = False,
) -> dict[str, str]:
    """Write ``train/valid/test.csv`` and ``tags.txt``; return ``{split: path}``."""
    if subset not in SUBSETS:
        raise ValueError(f"MTG-Jamendo subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    prefix, category = SUBSETS[subset]
    data_folder = os.path.abspath(data_folder)
    split_dir = first_existing(
        [os.path.join(data_folder, "data", "splits", f"split-{split}"),
         os.path.join(data_folder, "splits", f"split-{split}"),
         os.path.join(data_folder, f"split-{split}")], isdir=True)
    if split_dir is None:
        how = " (cannot be downloaded automatically)" if download else ""
        raise DatasetError(
            f"MTG-Jamendo split folder not found{how}: "
            f"{os.path.join(data_folder, 'data', 'splits', f'split-{split}')}; put the dataset in "
            f"{data_folder} (layout: {LAYOUT})")
    files = {s: os.path.join(split_dir, f"{prefix}-{_FILE_SPLIT[s]}.tsv")
             for s in SPLITS}
    for s, f in files.items():
        if not os.path.isfile(f):
            raise DatasetError(f"MTG-Jamendo {s} split file not found: {f} (layout: {LAYOUT})")
    audio_root = os.path.abspath(audio_folder or os.path.join(data_folder, "audio"))
    options = dict(dataset=f"mtg_jamendo_{subset}", split_files=files, audio_folder=audio_root,
                   low_quality=low_quality, skip_bad_files=skip_bad_files,
                   check_samples=check_samples)

    def build():
        rows, vocab = {}, set()
        for s in SPLITS:
            rows[s] = []
            for e in read_split_tsv(files[s]):
                foreign = [t for t in e["tags"] if category and not t.startswith(category)]
                if foreign:
                    raise DatasetError(f"{files[s]}: {e['track_id']} has tags {foreign} outside the {subset} "
                                       f"subset ({category}*): is this the right split file?")
                rel = e["path"]
                if low_quality and not rel.endswith(".low.mp3"):
                    rel = rel[: -len(".mp3")] + ".low.mp3" if rel.endswith(".mp3") else rel
                vocab.update(e["tags"])
                rows[s].append({
                    "ID": e["track_id"],
                    "wav": resolve_audio(os.path.join(audio_root, rel)),
                    "label": ";".join(e["tags"]),
                    "artist": e["artist_id"],
                })
        check_disjoint(rows, "MTG-Jamendo")
        rows = finalize_splits(rows, skip_bad_files, check_samples, "MTG-Jamendo")
        write_lines_atomic(sorted(vocab), os.path.join(save_folder, "tags.txt"))
        return rows

    return prepare_once(save_folder, SPLITS, options, build)


def prepare_genre(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, subset="genre", **kwargs)


def prepare_instrument(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, subset="instrument", **kwargs)


def prepare_moodtheme(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, subset="moodtheme", **kwargs)
