#!/usr/bin/env python3
"""VocalSet classification: singer identification (20 singers) or singing technique (10 classes). Usage:

    python recipes/VocalSet/classification/train.py recipes/VocalSet/classification/hparams/singer.yaml --data_folder=/data/VocalSet [--overrides]
    python recipes/VocalSet/classification/train.py recipes/VocalSet/classification/hparams/technique.yaml --data_folder=/data/VocalSet
    torchrun --nproc_per_node=2 recipes/VocalSet/classification/train.py recipes/VocalSet/classification/hparams/singer.yaml --data_folder=... --distributed_backend=nccl

See recipes/VocalSet/README.md (layout, MARBLE's split convention). The hparams file's
``prepare: {task: ...}`` chooses the label and its split; everything else is the same recipe.

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the clip Brain (petl_core/clip_brain.py); the yaml's ``task`` says what the loss
compares the logits with and how labels follow the augmentation (petl_core/tasks.py).
"""
import sys

from petl_core.clip_brain import ClipBrain
from petl_core.datasets.vocalset import prepare
from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    """VocalSet recordings as manifests; datasets of (audio, singer or technique index)."""
    return clip_datasets(hparams, prepare)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], ClipBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = ClipBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
