#!/usr/bin/env python3
"""GTZAN tempo estimation (300 one-BPM classes, fault-filtered split). Usage:

    python recipes/GTZAN/tempo/train.py recipes/GTZAN/tempo/hparams/default.yaml --data_folder=/data/gtzan [--overrides]
    torchrun --nproc_per_node=2 recipes/GTZAN/tempo/train.py recipes/GTZAN/tempo/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GTZAN/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (TempoBrain: cross-entropy on soft BPM-bin targets; a time stretch scales
the BPM), shared by the recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.gtzan import prepare_tempo as prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import TempoBrain


def dataio_prep(hparams):
    """GTZAN with its tempo annotations (fault-filtered split) as manifests; datasets of (audio, BPM)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = TempoBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    TempoBrain(hparams, run_opts).fit_and_test(datasets)
