#!/usr/bin/env python3
"""MTG-Jamendo moodtheme tagging (56 tags, split-0). Usage:

    python recipes/MTGJamendo/moodtheme/train.py recipes/MTGJamendo/moodtheme/hparams/default.yaml --data_folder=/data/mtg-jamendo-dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/MTGJamendo/moodtheme/train.py recipes/MTGJamendo/moodtheme/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/MTGJamendo/README.md (layout, split, layer sweeps).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (TaggingBrain: binary cross-entropy on multi-hot tags), shared by the
recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.mtg_jamendo import prepare_moodtheme as prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import TaggingBrain


def dataio_prep(hparams):
    """MTG-Jamendo moodtheme tags (split 0) as manifests; datasets of (audio, multi-hot tags)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = TaggingBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    TaggingBrain(hparams, run_opts).fit_and_test(datasets)
