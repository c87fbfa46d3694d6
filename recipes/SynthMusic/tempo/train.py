#!/usr/bin/env python3
"""SynthMusic tempo estimation. Usage:

    python recipes/SynthMusic/tempo/train.py recipes/SynthMusic/tempo/hparams/default.yaml [--overrides]
    torchrun --nproc_per_node=2 recipes/SynthMusic/tempo/train.py hparams.yaml --distributed_backend=gloo --device=cpu

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (TempoBrain: cross-entropy on soft BPM-bin targets; a time stretch scales
the BPM), shared by the recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.synthmusic import prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import TempoBrain


def dataio_prep(hparams):
    """Generate the SynthMusic clips once (main process); datasets of (audio, BPM)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = TempoBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    TempoBrain(hparams, run_opts).fit_and_test(datasets)
