#!/usr/bin/env python3
"""GiantSteps key estimation (train/valid: GiantSteps-MTG-Key, test: GiantSteps-Key). Usage:

    python recipes/GiantSteps/key/train.py recipes/GiantSteps/key/hparams/default.yaml --data_folder=/data/giantsteps [--overrides]
    torchrun --nproc_per_node=2 recipes/GiantSteps/key/train.py recipes/GiantSteps/key/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GiantSteps/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (KeyBrain: cross-entropy on key indices, which a pitch shift rotates),
shared by the recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.giantsteps import prepare_key as prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import KeyBrain


def dataio_prep(hparams):
    """GiantSteps MTG-key (train) and GiantSteps key (test) as manifests; datasets of (audio, key index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = KeyBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    KeyBrain(hparams, run_opts).fit_and_test(datasets)
