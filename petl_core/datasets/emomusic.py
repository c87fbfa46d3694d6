"""Emomusic (Soleymani et al. 2013, MediaEval "Emotion in Music"): static arousal and valence.

Official layout (the "1000 songs" database, https://cvml.unige.ch/databases/emoMusic/; no
automatic download)::

    <data_folder>/songs_info.csv              (or <data_folder>/annotations/songs_info.csv)
    <data_folder>/static_annotations.csv      (or <data_folder>/annotations/static_annotations.csv)
    <data_folder>/clips_45seconds/<song_id>.mp3

``songs_info.csv`` columns used: ``song_id``, ``Artist``, ``Mediaeval 2013 set``
(``development`` / ``evaluation``); ``static_annotations.csv``: ``song_id``, ``mean_arousal``,
``mean_valence`` (1-9 scale). Cells and headers are stripped (the files pad them with spaces).

Split (MARBLE's, from JukeMIR): test = the MediaEval 2013 ``evaluation`` set; the development
songs go to train or valid by artist, so no artist is in both: ``sha1`` of the artist name
(lower-cased, ASCII letters and spaces only, whitespace collapsed) as an integer, modulo 10,
8 buckets train, 2 valid. Songs without a static annotation are left out (logged).

Labels: ``"<arousal>;<valence>"`` in the annotation's units (task ``regression`` with targets
``[arousal, valence]``, which standardises them with the training statistics, as MARBLE does).
Extra columns: ``arousal``, ``valence``, ``artist`` (the hashed form of the name).
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os

from petl_core.manifest import (
    DatasetError,
    check_disjoint,
    finalize_splits,
    first_existing,
    prepare_once,
    resolve_audio,
)

logger = logging.getLogger(__name__)

LAYOUT = "songs_info.csv, static_annotations.csv (or annotations/...) and clips_45seconds/<song_id>.mp3"
SPLITS = ("train", "valid", "test")
TARGETS = ["arousal", "valence"]
_VALID_BUCKETS = (8, 9)  # of 10: ["train"] * 8 + ["valid"] * 2


def artist_key(artist: str) -> str:
    """The artist name as hashed: lower-cased, ASCII letters and spaces only, whitespace collapsed."""
    return " ".join("".join(c for c in artist.lower() if ord(c) < 128 and (c.isalpha() or c.isspace())).split())


def artist_split(artist: str) -> str:
    """``train`` or ``valid`` for a development-set artist (MARBLE / JukeMIR hashing)."""
    digest = int(hashlib.sha1(artist_key(artist).encode("utf-8")).hexdigest(), 16)
    return "valid" if digest % 10 in _VALID_BUCKETS else "train"


def _read_csv(data_folder: str, name: str, required: tuple[str, ...]) -> tuple[str, list[dict]]:
    path = first_existing([os.path.join(data_folder, name), os.path.join(data_folder, "annotations", name)])
    if path is None:
        raise DatasetError(f"Emomusic {name} not found in {data_folder} or {data_folder}/annotations "
                           f"(layout: {LAYOUT})")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]
    missing = [c for c in required if not rows or c not in rows[0]]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}")
    return path, rows


def _song_id(value: str, where: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        raise DatasetError(f"{where}: bad song_id {value!r}") from None


def prepare(data_folder: str, save_folder: str, download: bool = False, skip_bad_files: bool = False,
            check_samples: bool = False) -> dict[str, str]:
    """Write ``train/valid/test.csv`` (labels ``arousal;valence``); return ``{split: path}``."""
    data_folder = os.path.abspath(data_folder)
    audio = os.path.join(data_folder, "clips_45seconds")
    if not os.path.isdir(audio):
        how = " (Emomusic cannot be downloaded automatically)" if download else ""
        raise DatasetError(f"Emomusic audio folder not found{how}: {audio} (layout: {LAYOUT})")
    options = dict(dataset="emomusic", data_folder=data_folder, skip_bad_files=skip_bad_files,
                   check_samples=check_samples)

    def build():
        info_path, info = _read_csv(data_folder, "songs_info.csv", ("song_id", "Artist", "Mediaeval 2013 set"))
        ann_path, static = _read_csv(data_folder, "static_annotations.csv",
                                     ("song_id", "mean_arousal", "mean_valence"))
        values = {}
        for n, row in enumerate(static, start=2):
            try:
                values[_song_id(row["song_id"], f"{ann_path}:{n}")] = (float(row["mean_arousal"]),
                                                                       float(row["mean_valence"]))
            except ValueError:
                raise DatasetError(f"{ann_path}:{n}: non-numeric mean_arousal/mean_valence") from None
        rows = {s: [] for s in SPLITS}
        unannotated = []
        for n, row in enumerate(info, start=2):
            song = _song_id(row["song_id"], f"{info_path}:{n}")
            subset = row["Mediaeval 2013 set"].lower()
            if subset not in ("development", "evaluation"):
                raise DatasetError(f"{info_path}:{n}: 'Mediaeval 2013 set' is {subset!r} "
                                   "(expected development or evaluation)")
            if song not in values:
                unannotated.append(song)
                continue
            arousal, valence = values[song]
            split = "test" if subset == "evaluation" else artist_split(row["Artist"])
            rows[split].append({"ID": str(song), "wav": resolve_audio(os.path.join(audio, f"{song}.mp3")),
                                "label": f"{arousal};{valence}", "arousal": arousal, "valence": valence,
                                "artist": artist_key(row["Artist"])})
        if unannotated:
            logger.info("Emomusic: %d song(s) without a static annotation left out: %s", len(unannotated),
                        unannotated[:10])
        check_disjoint(rows, "Emomusic")
        return finalize_splits(rows, skip_bad_files, check_samples, "Emomusic")

    return prepare_once(save_folder, SPLITS, options, build)
