#!/usr/bin/env python3
"""Speech Commands v2 keyword spotting (35 words). Usage:

    python recipes/SpeechCommands/classification/train.py recipes/SpeechCommands/classification/hparams/default.yaml --data_folder=/data/speech_commands_v0.02 [--overrides]
    torchrun --nproc_per_node=2 recipes/SpeechCommands/classification/train.py recipes/SpeechCommands/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/SpeechCommands/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (ClassificationBrain: cross-entropy on class indices), shared by the recipes
of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.speech_commands import prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import ClassificationBrain


def dataio_prep(hparams):
    """Speech Commands v2 (35 words, official lists) as manifests; datasets of (audio, word index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = ClassificationBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    ClassificationBrain(hparams, run_opts).fit_and_test(datasets)
