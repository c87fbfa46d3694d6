#!/usr/bin/env python3
"""ESC-50 classification (50 classes, 5-fold cross-validation). Usage:

    python recipes/ESC50/classification/train.py recipes/ESC50/classification/hparams/default.yaml --data_folder=/data/ESC-50 [--overrides]
    torchrun --nproc_per_node=2 recipes/ESC50/classification/train.py recipes/ESC50/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/ESC50/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (ClassificationBrain: cross-entropy on class indices), shared by the recipes
of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.esc50 import prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import ClassificationBrain


def dataio_prep(hparams):
    """ESC-50's folds as manifests (test fold ``test_fold``); datasets of (audio, class index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = ClassificationBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    ClassificationBrain(hparams, run_opts).fit_and_test(datasets)
