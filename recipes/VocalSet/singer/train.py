#!/usr/bin/env python3
"""VocalSet singer identification (20 singers). Usage:

    python recipes/VocalSet/singer/train.py recipes/VocalSet/singer/hparams/default.yaml --data_folder=/data/VocalSet [--overrides]
    torchrun --nproc_per_node=2 recipes/VocalSet/singer/train.py recipes/VocalSet/singer/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/VocalSet/README.md (layout, split, layer sweeps).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (ClassificationBrain: cross-entropy on class indices), shared by the
recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.vocalset import prepare_singer as prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import ClassificationBrain


def dataio_prep(hparams):
    """VocalSet recordings (recording-disjoint split) as manifests; datasets of (audio, singer index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = ClassificationBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    ClassificationBrain(hparams, run_opts).fit_and_test(datasets)
