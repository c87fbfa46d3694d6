"""VocalSet (Wilkins et al. 2018): singer identification (20) and singing technique (10).

Official layout (``VocalSet.zip`` from https://zenodo.org/record/1193957; no automatic
download)::

    <data_folder>/FULL/<singer>/<context>/<technique>/<file>.wav     (or <data_folder>/VocalSet/FULL/...)
    <data_folder>/test_singers_technique.txt      (optional; the singers held out for technique:
                                                   female2 ... male10 as in the zip, or f2 ... m10)

``<singer>`` is ``f1`` … ``f9``, ``m1`` … ``m11``; ``<context>`` is ``arpeggios``, ``scales``,
``long_tones`` or ``excerpts``; ``<technique>`` one of the 17 folders of :data:`TECHNIQUES`.
Labels come from the folders (some file names lack the singer, e.g. ``lip_trill_arps.wav``).

Splits (the MARBLE / seed-003 convention, ``benchmark/tasks/VocalSet/preprocess.py``):

- ``technique``: the 10 classes of :data:`TECHNIQUE_CLASSES` (those of the VocalSet paper). Test
  = the singers of ``test_singers_technique.txt`` (VocalSet's own file; default
  :data:`TEST_SINGERS_TECHNIQUE` = f2 f8 m3 m5 m10); the recordings of the other 15 singers go
  40 % to valid, 60 % to train.
- ``singer``: every recording of the 17 technique folders; 20 % of the recordings test, then
  40 % of the rest valid (32 % / 48 % of all).

Recordings are assigned by a hash of their path below ``FULL/`` (``sha1`` → bucket), so a split is
recording-disjoint and the same on every machine; MARBLE draws the same proportions with a seeded
``GroupShuffleSplit`` and cuts 3 s chunks, so its exact membership differs. Here the unit is the
whole recording: recipes train on random 3 s crops and evaluate the mean over 3 s windows.
MARBLE's removed files (:data:`EXCLUDED`: a duplicate and four not in the paper's Table 2) are
left out too. Extra columns: ``singer``, ``technique``, ``context``.
"""
from __future__ import annotations

import hashlib
import logging
import os

from petl_core.manifest import (
    DatasetError,
    check_disjoint,
    finalize_splits,
    first_existing,
    prepare_once,
    read_lines,
)

logger = logging.getLogger(__name__)

LAYOUT = "FULL/<singer>/<context>/<technique>/<file>.wav (VocalSet.zip from zenodo.org/record/1193957)"
SPLITS = ("train", "valid", "test")
TASKS = ("singer", "technique")
SINGERS = [f"f{i}" for i in range(1, 10)] + [f"m{i}" for i in range(1, 12)]
TECHNIQUE_CLASSES = ["belt", "breathy", "inhaled", "lip_trill", "spoken", "straight", "trill", "trillo", "vibrato",
                     "vocal_fry"]
TECHNIQUES = TECHNIQUE_CLASSES + ["fast_forte", "fast_piano", "forte", "messa", "pp", "slow_forte", "slow_piano"]
TEST_SINGERS_TECHNIQUE = ["f2", "f8", "m3", "m5", "m10"]
EXCLUDED = {"f2_scales_vibrato_a(1).wav", "caro_vibrato.wav", "dona_vibrato.wav", "row_vibrato.wav",
            "slow_vibrato_arps.wav"}


def bucket(relative_path: str, buckets: int) -> int:
    """Deterministic bucket ``0 … buckets-1`` of a recording (sha1 of its path below ``FULL/``)."""
    return int(hashlib.sha1(relative_path.encode("utf-8")).hexdigest(), 16) % buckets


def singer_id(name: str) -> str:
    """The folder name of a singer of VocalSet's own lists (``female2`` -> ``f2``, ``male3`` -> ``m3``).

    >>> singer_id("female2"), singer_id("male10"), singer_id("f2")
    ('f2', 'm10', 'f2')
    """
    for word, short in (("female", "f"), ("male", "m")):
        if name.lower().startswith(word):
            return short + name[len(word):]
    return name


def split_of(task: str, singer: str, relative_path: str, test_singers) -> str:
    if task == "technique":
        if singer in test_singers:
            return "test"
        return "valid" if bucket(relative_path, 5) < 2 else "train"
    b = bucket(relative_path, 25)  # 5/25 test, 8/25 valid (40 % of the rest), 12/25 train
    return "test" if b < 5 else "valid" if b < 13 else "train"


def scan(full_folder: str) -> list[dict]:
    """Recordings ``{rel, singer, context, technique}`` below ``FULL/`` (17 technique folders)."""
    out = []
    for singer in sorted(os.listdir(full_folder)):
        singer_dir = os.path.join(full_folder, singer)
        if not os.path.isdir(singer_dir):
            continue
        if singer not in SINGERS:
            raise DatasetError(f"VocalSet: unexpected singer folder {singer_dir} (valid: {', '.join(SINGERS)})")
        for context in sorted(os.listdir(singer_dir)):
            context_dir = os.path.join(singer_dir, context)
            if not os.path.isdir(context_dir):
                continue
            for technique in sorted(os.listdir(context_dir)):
                tech_dir = os.path.join(context_dir, technique)
                if technique not in TECHNIQUES or not os.path.isdir(tech_dir):
                    continue
                for name in sorted(os.listdir(tech_dir)):
                    if not name.lower().endswith(".wav") or name in EXCLUDED or name.startswith("."):
                        continue
                    out.append({"rel": f"{singer}/{context}/{technique}/{name}", "singer": singer,
                                "context": context, "technique": technique})
    return out


def prepare(data_folder: str, save_folder: str, task: str = "technique", test_singers: list[str] | None = None,
            download: bool = False, skip_bad_files: bool = False, check_samples: bool = False) -> dict[str, str]:
    """Write ``train/valid/test.csv`` for ``task`` in ``singer|technique``; return ``{split: path}``.

    ``test_singers`` (technique only) overrides ``test_singers_technique.txt`` / the default list.
    """
    if task not in TASKS:
        raise ValueError(f"VocalSet task must be one of {', '.join(TASKS)}, got {task!r}")
    data_folder = os.path.abspath(data_folder)
    full = first_existing([os.path.join(data_folder, "FULL"), os.path.join(data_folder, "VocalSet", "FULL")],
                          isdir=True)
    if full is None:
        how = " (VocalSet cannot be downloaded automatically)" if download else ""
        raise DatasetError(f"VocalSet FULL folder not found{how} in {data_folder}; unzip VocalSet.zip there "
                           f"(layout: {LAYOUT})")
    if task == "singer" and test_singers is not None:
        raise ValueError("VocalSet test_singers applies to task='technique' only (the singer split is by recording)")
    if task == "technique" and test_singers is None:
        listed = first_existing(os.path.join(d, "test_singers_technique.txt")
                                for d in (data_folder, os.path.dirname(full)))
        test_singers = [singer_id(s) for s in read_lines(listed)] if listed else TEST_SINGERS_TECHNIQUE
    unknown = sorted(set(test_singers or ()) - set(SINGERS))
    if unknown:
        raise DatasetError(f"VocalSet test singers {unknown} are not VocalSet singers ({', '.join(SINGERS)})")
    options = dict(dataset=f"vocalset_{task}", full_folder=full, test_singers=sorted(test_singers or []),
                   skip_bad_files=skip_bad_files, check_samples=check_samples)

    def build():
        recordings = scan(full)
        if not recordings:
            raise DatasetError(f"VocalSet: no recordings in {full} (layout: {LAYOUT})")
        rows = {s: [] for s in SPLITS}
        for rec in recordings:
            if task == "technique" and rec["technique"] not in TECHNIQUE_CLASSES:
                continue
            split = split_of(task, rec["singer"], rec["rel"], set(test_singers or ()))
            rows[split].append({
                "ID": os.path.splitext(rec["rel"])[0].replace("/", "-"),
                "wav": os.path.join(full, *rec["rel"].split("/")),
                "label": rec[task],
                "singer": rec["singer"], "technique": rec["technique"], "context": rec["context"],
            })
        check_disjoint(rows, "VocalSet")
        return finalize_splits(rows, skip_bad_files, check_samples, f"VocalSet {task}")

    return prepare_once(save_folder, SPLITS, options, build)


def prepare_singer(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="singer", **kwargs)


def prepare_technique(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="technique", **kwargs)
