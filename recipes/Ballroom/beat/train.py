#!/usr/bin/env python3
"""Ballroom beat and downbeat tracking (Krebs et al. annotations, 8-fold cross-validation). Usage:

    python recipes/Ballroom/beat/train.py recipes/Ballroom/beat/hparams/default.yaml --data_folder=/data/... [--overrides]

hparams/*.yaml hold every object (backbone, PETL method, per-frame head, optimiser, loss, task);
the Brain is the task's (BeatBrain, shared by the frame-level recipes: petl_core/frame_brain.py).
"""
import sys

from petl_core.datasets.ballroom import prepare
from petl_core.frame_brain import BeatBrain, frame_datasets


def dataio_prep(hparams):
    """Manifests from the official layout; training crops with frame targets, whole tracks."""
    return frame_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = BeatBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    BeatBrain(hparams, run_opts).fit_and_test(datasets)
