"""UrbanSound8K (Salamon et al. 2014): 8,732 excerpts (<= 4 s), 10 classes, 10 predefined folds.

Official layout (https://urbansounddataset.weebly.com/urbansound8k.html, Zenodo record 1203745)::

    <data_folder>/metadata/UrbanSound8K.csv   slice_file_name,fsID,start,end,salience,fold,classID,class
    <data_folder>/audio/fold1/101415-3-0-2.wav ... audio/fold10/...

``<data_folder>/UrbanSound8K/`` (the unpacked tarball) is accepted too.

Splits (10-fold cross-validation, as the dataset's authors require): ``test`` = fold
``test_fold`` (1-10), ``valid`` = the next fold (``test_fold % 10 + 1``), ``train`` = the other
eight. ``valid_fold="test"`` is PETL_AST's protocol instead: train on the nine other folds and
select the checkpoint on the test fold itself (US8K has no validation fold there; the figure is
optimistic, for comparison with that paper only). See :class:`petl_core.manifest.CrossValidation`.
Labels are the ``class`` names (``dog_bark``, ``siren``, ...). Extra columns: ``fold``,
``salience``.
"""
from __future__ import annotations

import logging
import os

from petl_core.manifest import CrossValidation, ensure_dataset, finalize_splits, prepare_once, read_table

logger = logging.getLogger(__name__)

URL = "https://zenodo.org/records/1203745/files/UrbanSound8K.tar.gz"
LAYOUT = "metadata/UrbanSound8K.csv and audio/fold{1..10}/*.wav"
SPLITS = ("train", "valid", "test")
NUM_FOLDS = 10


def _root(data_folder: str) -> str:
    sub = os.path.join(data_folder, "UrbanSound8K")
    marker = os.path.join(data_folder, "metadata", "UrbanSound8K.csv")
    return sub if not os.path.isfile(marker) and os.path.isdir(sub) else data_folder


def prepare(
    data_folder: str,
    save_folder: str,
    test_fold: int = 1,
    valid_fold: str | int = "next",
    download: bool = False,
    skip_bad_files: bool = False,
    check_samples: bool = False,
) -> dict[str, str]:
    """Write ``train/valid/test.csv`` for fold ``test_fold``; return ``{split: path}``."""
    cv = CrossValidation("UrbanSound8K", test_fold, NUM_FOLDS, valid_fold)
    data_folder = os.path.abspath(data_folder)
    if not os.path.isdir(os.path.join(data_folder, "UrbanSound8K")):
        ensure_dataset(data_folder, os.path.join("metadata", "UrbanSound8K.csv"), "UrbanSound8K",
                       LAYOUT, download, [(URL, None)])
    root = _root(data_folder)
    options = dict(dataset="urbansound8k", data_folder=root, test_fold=cv.test_fold,
                   valid_fold=cv.valid_fold, skip_bad_files=skip_bad_files,
                   check_samples=check_samples)

    def build():
        meta = os.path.join(root, "metadata", "UrbanSound8K.csv")
        entries = read_table(meta, ("slice_file_name", "fold", "class"), "UrbanSound8K metadata", LAYOUT)
        rows = {s: [] for s in SPLITS}
        for i, e in enumerate(entries):
            name = e["slice_file_name"].strip()
            fold = e["fold"].strip()
            for split in cv.splits(fold, f"{meta}: line {i + 2}"):
                rows[split].append({
                    "ID": os.path.splitext(name)[0],
                    "wav": os.path.join(root, "audio", f"fold{fold}", name),
                    "label": e["class"].strip(),
                    "fold": int(fold),
                    "salience": e.get("salience", "").strip(),
                })
        cv.check_disjoint(rows, "UrbanSound8K")
        return finalize_splits(rows, skip_bad_files, check_samples, "UrbanSound8K")

    return prepare_once(save_folder, SPLITS, options, build)
