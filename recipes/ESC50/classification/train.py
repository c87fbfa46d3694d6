#!/usr/bin/env python3
"""ESC-50 classification (50 classes, 5-fold cross-validation). Usage:

    python recipes/ESC50/classification/train.py recipes/ESC50/classification/hparams/default.yaml --data_folder=/data/ESC-50 [--overrides]
    torchrun --nproc_per_node=2 recipes/ESC50/classification/train.py recipes/ESC50/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/ESC50/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the clip Brain (petl_core/clip_brain.py); the yaml's ``task`` says what the loss
compares the logits with and how labels follow the augmentation (petl_core/tasks.py).
"""
import sys

from petl_core.clip_brain import ClipBrain
from petl_core.datasets.esc50 import prepare
from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    """ESC-50's folds as manifests (test fold ``test_fold``); datasets of (audio, class index)."""
    return clip_datasets(hparams, prepare)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], ClipBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = ClipBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
