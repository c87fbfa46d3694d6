#!/usr/bin/env python3
"""MagnaTagATune top-50 tagging (split of Won et al.). Usage:

    python recipes/MagnaTagATune/tagging/train.py recipes/MagnaTagATune/tagging/hparams/default.yaml --data_folder=/data/magnatagatune [--overrides]
    torchrun --nproc_per_node=2 recipes/MagnaTagATune/tagging/train.py recipes/MagnaTagATune/tagging/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/MagnaTagATune/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (TaggingBrain: binary cross-entropy on multi-hot tags), shared by the
recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.magnatagatune import prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import TaggingBrain


def dataio_prep(hparams):
    """MagnaTagATune top-50 tags (the usual split) as manifests; datasets of (audio, multi-hot tags)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = TaggingBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    TaggingBrain(hparams, run_opts).fit_and_test(datasets)
