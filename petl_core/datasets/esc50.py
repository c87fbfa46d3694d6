"""ESC-50 (Piczak 2015): 2,000 five-second clips, 50 classes, 5 predefined folds.

Official layout (``git clone https://github.com/karolpiczak/ESC-50`` or the GitHub zip)::

    <data_folder>/meta/esc50.csv      filename,fold,target,category,esc10,src_file,take
    <data_folder>/audio/1-100032-A-0.wav ...

``<data_folder>/ESC-50-master/`` (the unpacked zip) is accepted too.

Splits (5-fold cross-validation), PETL_AST's fold roles by default: ``test`` = fold ``test_fold``
(1-5), ``valid`` = the previous fold (``valid_fold="previous"``: 5 → 4, 1 → 5), ``train`` = the
other three folds (the three after the test fold, as PETL_AST's ``folds_train``). ``valid_fold``
takes ``"next"`` or a fold number too (see :class:`petl_core.manifest.CrossValidation`).
Labels are the ``category`` names (``dog``, ``rain``, ...). ``esc10=True`` keeps the ESC-10 subset.
Manifest extra column: ``fold``.
"""
from __future__ import annotations

import logging
import os

from petl_core.manifest import CrossValidation, ensure_dataset, finalize_splits, prepare_once, read_table

logger = logging.getLogger(__name__)

URL = "https://github.com/karoldvl/ESC-50/archive/master.zip"
LAYOUT = "meta/esc50.csv and audio/*.wav, from https://github.com/karolpiczak/ESC-50"
SPLITS = ("train", "valid", "test")
NUM_FOLDS = 5


def _root(data_folder: str) -> str:
    sub = os.path.join(data_folder, "ESC-50-master")
    if not os.path.isfile(os.path.join(data_folder, "meta", "esc50.csv")) and os.path.isdir(sub):
        return sub
    return data_folder


def prepare(
    data_folder: str,
    save_folder: str,
    test_fold: int = 1,
    valid_fold: str | int = "previous",
    esc10: bool = False,
    download: bool = False,
    skip_bad_files: bool = False,
    check_samples: bool = False,
) -> dict[str, str]:
    """Write ``train/valid/test.csv`` for fold ``test_fold``; return ``{split: path}``."""
    cv = CrossValidation("ESC-50", test_fold, NUM_FOLDS, valid_fold)
    data_folder = os.path.abspath(data_folder)
    if not os.path.isdir(os.path.join(data_folder, "ESC-50-master")):
        ensure_dataset(data_folder, os.path.join("meta", "esc50.csv"), "ESC-50", LAYOUT, download,
                       [(URL, None)])
    root = _root(data_folder)
    options = dict(dataset="esc50", data_folder=root, test_fold=cv.test_fold, valid_fold=cv.valid_fold,
                   esc10=esc10, skip_bad_files=skip_bad_files, check_samples=check_samples)

    def build():
        meta = os.path.join(root, "meta", "esc50.csv")
        entries = read_table(meta, ("filename", "fold", "category"), "ESC-50 metadata", LAYOUT)
        rows = {s: [] for s in SPLITS}
        for i, e in enumerate(entries):
            if esc10 and str(e.get("esc10", "")).strip().lower() != "true":
                continue
            name = e["filename"].strip()
            for split in cv.splits(e["fold"], f"{meta}: line {i + 2}"):
                rows[split].append({
                    "ID": os.path.splitext(name)[0],
                    "wav": os.path.join(root, "audio", name),
                    "label": e["category"].strip(),
                    "fold": int(e["fold"]),
                })
        cv.check_disjoint(rows, "ESC-50")
        return finalize_splits(rows, skip_bad_files, check_samples, "ESC-50")

    return prepare_once(save_folder, SPLITS, options, build)
