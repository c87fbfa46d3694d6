#!/usr/bin/env python3
"""GTZAN genre classification (10 genres, fault-filtered split). Usage:

    python recipes/GTZAN/genre/train.py recipes/GTZAN/genre/hparams/default.yaml --data_folder=/data/gtzan [--overrides]
    torchrun --nproc_per_node=2 recipes/GTZAN/genre/train.py recipes/GTZAN/genre/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GTZAN/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (ClassificationBrain: cross-entropy on class indices), shared by the recipes
of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.gtzan import prepare_genre as prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import ClassificationBrain


def dataio_prep(hparams):
    """GTZAN genres (fault-filtered split) as manifests; datasets of (audio, genre index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = ClassificationBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    ClassificationBrain(hparams, run_opts).fit_and_test(datasets)
