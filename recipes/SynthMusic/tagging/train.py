#!/usr/bin/env python3
"""SynthMusic tagging. Usage:

    python recipes/SynthMusic/tagging/train.py recipes/SynthMusic/tagging/hparams/default.yaml [--overrides]
    torchrun --nproc_per_node=2 recipes/SynthMusic/tagging/train.py hparams.yaml --distributed_backend=gloo --device=cpu

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (TaggingBrain: binary cross-entropy on multi-hot tags), shared by the
recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.synthmusic import prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import TaggingBrain


def dataio_prep(hparams):
    """Generate the SynthMusic clips once (main process); datasets of (audio, multi-hot tags)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = TaggingBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    TaggingBrain(hparams, run_opts).fit_and_test(datasets)
