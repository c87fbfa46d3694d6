#!/usr/bin/env python3
"""Fluent Speech Commands intent classification (31 intents). Usage:

    python recipes/FluentSpeechCommands/classification/train.py recipes/FluentSpeechCommands/classification/hparams/default.yaml --data_folder=/data/fluent_speech_commands_dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/FluentSpeechCommands/classification/train.py recipes/FluentSpeechCommands/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/FluentSpeechCommands/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the clip Brain (petl_core/clip_brain.py); the yaml's ``task`` says what the loss
compares the logits with and how labels follow the augmentation (petl_core/tasks.py).
"""
import sys

from petl_core.clip_brain import ClipBrain
from petl_core.datasets.fluent_speech_commands import prepare
from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    """Fluent Speech Commands intents (official splits) as manifests; datasets of (audio, intent index)."""
    return clip_datasets(hparams, prepare)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], ClipBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = ClipBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
