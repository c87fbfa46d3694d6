#!/usr/bin/env python3
"""Fluent Speech Commands intent classification (31 intents). Usage:

    python recipes/FluentSpeechCommands/classification/train.py recipes/FluentSpeechCommands/classification/hparams/default.yaml --data_folder=/data/fluent_speech_commands_dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/FluentSpeechCommands/classification/train.py recipes/FluentSpeechCommands/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/FluentSpeechCommands/README.md (Training).
"""
import sys

from petl_core.datasets.fluent_speech_commands import prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
