#!/usr/bin/env python3
"""Emomusic static arousal and valence (regression, MARBLE's split). Usage:

    python recipes/Emomusic/regression/train.py recipes/Emomusic/regression/hparams/default.yaml --data_folder=/data/emomusic [--overrides]

See recipes/Emomusic/README.md (layout, split, metrics).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the clip Brain (petl_core/clip_brain.py): ``compute_cost`` (MSE by default) compares
the outputs with the task's targets, standardised with the training set (RegressionTask); the task
reports R² and Pearson's r in the annotation's units.
"""
import sys

from petl_core.clip_brain import ClipBrain
from petl_core.datasets.emomusic import prepare
from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    """Emomusic clips as manifests (labels ``arousal;valence``); datasets of (audio, [arousal, valence])."""
    return clip_datasets(hparams, prepare)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], ClipBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = ClipBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
