#!/usr/bin/env python3
"""NSynth note classification: instrument family (11 classes) or pitch (128 MIDI notes). Usage:

    python recipes/NSynth/classification/train.py recipes/NSynth/classification/hparams/instrument.yaml --data_folder=/data/nsynth [--overrides]
    python recipes/NSynth/classification/train.py recipes/NSynth/classification/hparams/pitch.yaml --data_folder=/data/nsynth
    torchrun --nproc_per_node=2 recipes/NSynth/classification/train.py recipes/NSynth/classification/hparams/instrument.yaml --data_folder=... --distributed_backend=nccl

See recipes/NSynth/README.md (layout, split, layer sweeps). The hparams file's ``prepare: {task: ...}``
chooses the label; everything else is the same recipe.

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the clip Brain (petl_core/clip_brain.py); the yaml's ``task`` says what the loss
compares the logits with and how labels follow the augmentation (petl_core/tasks.py).
"""
import sys

from petl_core.clip_brain import ClipBrain
from petl_core.datasets.nsynth import prepare
from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    """NSynth notes (official folders) as manifests; datasets of (audio, family or pitch index)."""
    return clip_datasets(hparams, prepare)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], ClipBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = ClipBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
