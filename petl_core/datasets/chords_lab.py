"""A chord dataset of audio files with ``.lab`` annotations, in the Isophonics (Beatles) layout.

Layout read (the Isophonics "The Beatles Annotations" archive, and the user's own audio in a
mirrored tree; Queen, Carole King and Zweieck annotations have the same layout)::

    <data_folder>/chordlab/<artist>/<album>/<track>.lab      (or "The Beatles Annotations/chordlab/...")
    <data_folder>/audio/<artist>/<album>/<track>.{wav,flac,mp3,...}

e.g. ``chordlab/The Beatles/01_-_Please_Please_Me/01_-_I_Saw_Her_Standing_There.lab`` and
``audio/The Beatles/01_-_Please_Please_Me/01_-_I_Saw_Her_Standing_There.wav``. Any depth of
sub-folders works: an annotation and its audio share the path below ``chordlab/`` and ``audio/``
(``lab_folder``, ``audio_folder`` override the two roots). Annotations without audio are excluded
with one log line each.

Splits: ``num_folds``-fold cross-validation (default 5; no official split exists): tracks sorted
by path go to folds 1..k in turn; ``test`` = ``test_fold``, ``valid`` = the next fold
(:class:`petl_core.manifest.CrossValidation`). Label = the absolute ``.lab`` path (frame-level
task, :mod:`petl_core.chord`). ID = the path below ``chordlab/`` with ``/`` -> ``__``. Extra column:
``fold``. Every annotation is checked against its audio (:func:`petl_core.chord.read_lab`): a segment
out of order, overlapping, or ending after the audio is a :class:`~petl_core.manifest.DatasetError`
naming the file and line.
"""
from __future__ import annotations

import logging
import os

from petl_core.chord import read_lab
from petl_core.manifest import (
    CrossValidation,
    DatasetError,
    finalize_splits,
    first_existing,
    prepare_once,
    resolve_audio,
)

logger = logging.getLogger(__name__)

LAYOUT = "chordlab/<artist>/<album>/<track>.lab and audio/<artist>/<album>/<track>.wav (or .flac/.mp3)"
SPLITS = ("train", "valid", "test")
_LAB_DIRS = ("chordlab", os.path.join("The Beatles Annotations", "chordlab"), os.path.join("annotations", "chordlab"))


def prepare(data_folder: str, save_folder: str, test_fold: int = 1, num_folds: int = 5,
            valid_fold: str | int = "next", lab_folder: str | None = None, audio_folder: str | None = None,
            skip_bad_files: bool = False, check_samples: bool = False) -> dict[str, str]:
    """Write ``train/valid/test.csv`` for fold ``test_fold``; return ``{split: path}``."""
    cv = CrossValidation("chord .lab dataset", test_fold, int(num_folds), valid_fold)
    data_folder = os.path.abspath(data_folder)
    labs = lab_folder or first_existing([os.path.join(data_folder, d) for d in _LAB_DIRS], isdir=True)
    audio = audio_folder or os.path.join(data_folder, "audio")
    for what, folder in (("chord annotation (.lab)", labs), ("audio", audio)):
        if folder is None or not os.path.isdir(folder):
            raise DatasetError(f"{what} folder not found under {data_folder} (layout: {LAYOUT})")
    labs, audio = os.path.abspath(labs), os.path.abspath(audio)
    options = dict(dataset="chords_lab", labs=labs, audio=audio, test_fold=cv.test_fold, num_folds=int(num_folds),
                   valid_fold=cv.valid_fold, skip_bad_files=skip_bad_files, check_samples=check_samples)

    def build():
        found = sorted(os.path.relpath(os.path.join(d, f), labs) for d, _, files in os.walk(labs)
                       for f in files if f.endswith(".lab"))
        if not found:
            raise DatasetError(f"no .lab files under {labs} (layout: {LAYOUT})")
        rows = {s: [] for s in SPLITS}
        missing = 0
        for i, rel in enumerate(found):
            stem = os.path.splitext(rel)[0]
            wav = resolve_audio(os.path.join(audio, stem + ".wav"))
            if not os.path.exists(wav):
                logger.warning("chords: no audio for %s (looked for %s.{wav,flac,mp3,...}); excluded", rel,
                               os.path.join(audio, stem))
                missing += 1
                continue
            fold = i % int(num_folds) + 1
            for split in cv.splits(str(fold), rel):
                rows[split].append({"ID": stem.replace(os.sep, "__"), "wav": wav,
                                    "label": os.path.join(labs, rel), "fold": fold})
        if missing == len(found):
            raise DatasetError(f"none of the {len(found)} .lab files under {labs} has audio under {audio} "
                               f"(layout: {LAYOUT})")
        cv.check_disjoint(rows, "chords")
        rows = finalize_splits(rows, skip_bad_files, check_samples, "chords")
        for row in (r for split_rows in rows.values() for r in split_rows):
            try:
                read_lab(row["label"], duration=row["duration"])
            except ValueError as exc:
                raise DatasetError(str(exc)) from None
        return rows

    return prepare_once(save_folder, SPLITS, options, build)
