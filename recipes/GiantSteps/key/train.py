#!/usr/bin/env python3
"""GiantSteps key estimation (train/valid: GiantSteps-MTG-Key, test: GiantSteps-Key). Usage:

    python recipes/GiantSteps/key/train.py recipes/GiantSteps/key/hparams/default.yaml --data_folder=/data/giantsteps [--overrides]
    torchrun --nproc_per_node=2 recipes/GiantSteps/key/train.py recipes/GiantSteps/key/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GiantSteps/README.md (Training).
"""
import sys

from petl_core.datasets.giantsteps import prepare_key as prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
