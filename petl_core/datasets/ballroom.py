"""Ballroom (Gouyon et al. 2006) beat and downbeat tracking: 698 30-s excerpts of 10 dance styles.

Layout read (the official ``data1.tar.gz`` audio and the Krebs et al. 2013 beat annotations,
``git clone https://github.com/CPJKU/BallroomAnnotations``)::

    <data_folder>/BallroomData/<style>/<name>.wav          (ChaChaCha, Jive, Quickstep, Rumba-*, Samba,
                                                            Tango, VienneseWaltz, Waltz)
    <data_folder>/BallroomAnnotations/<name>.beats         time<TAB>position in bar (1 = downbeat)

``annotation_folder`` defaults to the first existing of ``data_folder/BallroomAnnotations``,
``data_folder/annotations``, ``data_folder/beats``. Excerpts without an annotation are excluded
with a log line.

Splits: there is no official split; the literature reports 8-fold cross-validation (Böck et al.).
Here the excerpts of each style, sorted by name, go to folds 1..8 in turn (so every fold holds every
style); ``test`` = fold ``test_fold``, ``valid`` = the next fold, ``train`` = the other six
(:class:`petl_core.manifest.CrossValidation`). Label = the absolute ``.beats`` path (frame-level task,
:mod:`petl_core.beat`). Extra columns: ``style``, ``fold``.
"""
from __future__ import annotations

import logging
import os

from petl_core.manifest import (
    AUDIO_EXTENSIONS,
    CrossValidation,
    DatasetError,
    finalize_splits,
    first_existing,
    prepare_once,
    resolve_audio,
)

logger = logging.getLogger(__name__)

LAYOUT = "BallroomData/<style>/<name>.wav and BallroomAnnotations/<name>.beats"
SPLITS = ("train", "valid", "test")
NUM_FOLDS = 8
_AUDIO_DIRS = ("BallroomData", "data1", "")
_ANNOTATION_DIRS = ("BallroomAnnotations", "annotations", "beats")


def prepare(data_folder: str, save_folder: str, test_fold: int = 1, valid_fold: str | int = "next",
            annotation_folder: str | None = None, skip_bad_files: bool = False,
            check_samples: bool = False) -> dict[str, str]:
    """Write ``train/valid/test.csv`` for fold ``test_fold`` (1-8); return ``{split: path}``."""
    cv = CrossValidation("Ballroom", test_fold, NUM_FOLDS, valid_fold)
    data_folder = os.path.abspath(data_folder)
    audio_root = first_existing([os.path.join(data_folder, d, "ChaChaCha") for d in _AUDIO_DIRS], isdir=True)
    if audio_root is None:
        raise DatasetError(f"Ballroom audio not found in {data_folder} (layout: {LAYOUT})")
    audio_root = os.path.dirname(audio_root)
    ann = annotation_folder or first_existing([os.path.join(data_folder, d) for d in _ANNOTATION_DIRS], isdir=True)
    if ann is None or not os.path.isdir(ann):
        raise DatasetError(f"Ballroom beat annotations not found: none of "
                           f"{[os.path.join(data_folder, d) for d in _ANNOTATION_DIRS]} (layout: {LAYOUT}; "
                           "get them from https://github.com/CPJKU/BallroomAnnotations)")
    ann = os.path.abspath(ann)
    options = dict(dataset="ballroom_beat", audio=audio_root, annotations=ann, test_fold=cv.test_fold,
                   valid_fold=cv.valid_fold, skip_bad_files=skip_bad_files, check_samples=check_samples)

    def build():
        rows = {s: [] for s in SPLITS}
        styles = sorted(d for d in os.listdir(audio_root) if os.path.isdir(os.path.join(audio_root, d)))
        for style in styles:
            names = sorted({os.path.splitext(f)[0] for f in os.listdir(os.path.join(audio_root, style))
                            if os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS and not f.startswith(".")})
            for i, name in enumerate(names):
                beats = os.path.join(ann, f"{name}.beats")
                if not os.path.isfile(beats):
                    logger.warning("Ballroom: no annotation %s; %s excluded", beats, name)
                    continue
                fold = i % NUM_FOLDS + 1
                for split in cv.splits(str(fold), f"{style}/{name}"):
                    rows[split].append({"ID": name, "wav": resolve_audio(os.path.join(audio_root, style, name)),
                                        "label": beats, "style": style, "fold": fold})
        cv.check_disjoint(rows, "Ballroom")
        return finalize_splits(rows, skip_bad_files, check_samples, "Ballroom")

    return prepare_once(save_folder, SPLITS, options, build)
