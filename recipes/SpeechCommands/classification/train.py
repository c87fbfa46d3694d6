#!/usr/bin/env python3
"""Speech Commands v2 keyword spotting (35 words). Usage:

    python recipes/SpeechCommands/classification/train.py recipes/SpeechCommands/classification/hparams/default.yaml --data_folder=/data/speech_commands_v0.02 [--overrides]
    torchrun --nproc_per_node=2 recipes/SpeechCommands/classification/train.py recipes/SpeechCommands/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/SpeechCommands/README.md (Training).
"""
import sys

from petl_core.datasets.speech_commands import prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
