#!/usr/bin/env python3
"""SynthMusic tagging. Usage:

    python recipes/SynthMusic/tagging/train.py recipes/SynthMusic/tagging/hparams/default.yaml [--overrides]
    torchrun --nproc_per_node=2 recipes/SynthMusic/tagging/train.py hparams.yaml --distributed_backend=gloo --device=cpu

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the clip Brain (petl_core/clip_brain.py); the yaml's ``task`` says what the loss
compares the logits with and how labels follow the augmentation (petl_core/tasks.py).
"""
import sys

from petl_core.clip_brain import ClipBrain
from petl_core.datasets.synthmusic import prepare
from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    """Generate the SynthMusic clips once (main process); datasets of (audio, multi-hot tags)."""
    return clip_datasets(hparams, prepare)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], ClipBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = ClipBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
