#!/usr/bin/env python3
"""GTZAN key estimation (24 keys, gtzan_key labels, fault-filtered split). Usage:

    python recipes/GTZAN/key/train.py recipes/GTZAN/key/hparams/default.yaml --data_folder=/data/gtzan [--overrides]
    torchrun --nproc_per_node=2 recipes/GTZAN/key/train.py recipes/GTZAN/key/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GTZAN/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (KeyBrain: cross-entropy on key indices, which a pitch shift rotates),
shared by the recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.gtzan import prepare_key as prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import KeyBrain


def dataio_prep(hparams):
    """GTZAN with the gtzan_key labels (fault-filtered split) as manifests; datasets of (audio, key index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = KeyBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    KeyBrain(hparams, run_opts).fit_and_test(datasets)
