#!/usr/bin/env python3
"""VocalSet classification: singer identification (20 singers) or singing technique (10 classes). Usage:

    python recipes/VocalSet/classification/train.py recipes/VocalSet/classification/hparams/singer.yaml --data_folder=/data/VocalSet [--overrides]
    python recipes/VocalSet/classification/train.py recipes/VocalSet/classification/hparams/technique.yaml --data_folder=/data/VocalSet
    torchrun --nproc_per_node=2 recipes/VocalSet/classification/train.py recipes/VocalSet/classification/hparams/singer.yaml --data_folder=... --distributed_backend=nccl

See recipes/VocalSet/README.md (layout, MARBLE's split convention). The hparams file's
``prepare: {task: ...}`` chooses the label and its split; everything else is the same recipe.

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (ClassificationBrain: cross-entropy on class indices), shared by the
recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.vocalset import prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import ClassificationBrain


def dataio_prep(hparams):
    """VocalSet recordings as manifests; datasets of (audio, singer or technique index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = ClassificationBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    ClassificationBrain(hparams, run_opts).fit_and_test(datasets)
