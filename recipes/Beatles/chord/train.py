#!/usr/bin/env python3
"""Chord recognition on .lab annotations in the Isophonics (Beatles) layout. Usage:

    python recipes/Beatles/chord/train.py recipes/Beatles/chord/hparams/default.yaml --data_folder=/data/... [--overrides]

hparams/*.yaml hold every object (backbone, PETL method, per-frame head, optimiser, loss, task);
the Brain is the task's (ChordBrain, shared by the frame-level recipes: petl_core/frame_brain.py).
"""
import sys

from petl_core.datasets.chords_lab import prepare
from petl_core.frame_brain import ChordBrain, frame_datasets


def dataio_prep(hparams):
    """Manifests from the official layout; training crops with frame targets, whole tracks."""
    return frame_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = ChordBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    ChordBrain(hparams, run_opts).fit_and_test(datasets)
