#!/usr/bin/env python3
"""Fluent Speech Commands intent classification (31 intents). Usage:

    python recipes/FluentSpeechCommands/classification/train.py recipes/FluentSpeechCommands/classification/hparams/default.yaml --data_folder=/data/fluent_speech_commands_dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/FluentSpeechCommands/classification/train.py recipes/FluentSpeechCommands/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/FluentSpeechCommands/README.md (Training).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from petl_core.datasets.fluent_speech_commands import prepare  # noqa: E402
from petl_core.recipe import run  # noqa: E402

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
