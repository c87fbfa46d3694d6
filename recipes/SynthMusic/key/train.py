#!/usr/bin/env python3
"""SynthMusic key detection. Usage:

    python recipes/SynthMusic/key/train.py recipes/SynthMusic/key/hparams/default.yaml [--overrides]
    torchrun --nproc_per_node=2 recipes/SynthMusic/key/train.py hparams.yaml --distributed_backend=gloo --device=cpu
"""
import sys

from petl_core.datasets.synthmusic import prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
