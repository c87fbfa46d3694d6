#!/usr/bin/env python3
"""Fluent Speech Commands intent classification (31 intents). Usage:

    python recipes/FluentSpeechCommands/classification/train.py recipes/FluentSpeechCommands/classification/hparams/default.yaml --data_folder=/data/fluent_speech_commands_dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/FluentSpeechCommands/classification/train.py recipes/FluentSpeechCommands/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/FluentSpeechCommands/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (ClassificationBrain: cross-entropy on class indices), shared by the recipes
of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.fluent_speech_commands import prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import ClassificationBrain


def dataio_prep(hparams):
    """Fluent Speech Commands intents (official splits) as manifests; datasets of (audio, intent index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = ClassificationBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    ClassificationBrain(hparams, run_opts).fit_and_test(datasets)
