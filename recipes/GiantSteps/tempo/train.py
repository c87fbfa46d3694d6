#!/usr/bin/env python3
"""GiantSteps tempo estimation (300 one-BPM classes, 3:1:1 split). Usage:

    python recipes/GiantSteps/tempo/train.py recipes/GiantSteps/tempo/hparams/default.yaml --data_folder=/data/giantsteps-tempo-dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/GiantSteps/tempo/train.py recipes/GiantSteps/tempo/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GiantSteps/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (TempoBrain: cross-entropy on soft BPM-bin targets; a time stretch scales
the BPM), shared by the recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.giantsteps import prepare_tempo as prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import TempoBrain


def dataio_prep(hparams):
    """GiantSteps tempo (test) and its training set as manifests; datasets of (audio, BPM)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = TempoBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    TempoBrain(hparams, run_opts).fit_and_test(datasets)
