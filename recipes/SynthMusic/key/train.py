#!/usr/bin/env python3
"""SynthMusic key detection. Usage:

    python recipes/SynthMusic/key/train.py recipes/SynthMusic/key/hparams/default.yaml [--overrides]
    torchrun --nproc_per_node=2 recipes/SynthMusic/key/train.py hparams.yaml --distributed_backend=gloo --device=cpu

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (KeyBrain: cross-entropy on key indices, which a pitch shift rotates),
shared by the recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.synthmusic import prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import KeyBrain


def dataio_prep(hparams):
    """Generate the SynthMusic clips once (main process); datasets of (audio, key index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = KeyBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    KeyBrain(hparams, run_opts).fit_and_test(datasets)
