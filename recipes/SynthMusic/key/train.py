#!/usr/bin/env python3
"""SynthMusic key detection. Usage:

    python recipes/SynthMusic/key/train.py recipes/SynthMusic/key/hparams/default.yaml [--overrides]
    torchrun --nproc_per_node=2 recipes/SynthMusic/key/train.py hparams.yaml --distributed_backend=gloo --device=cpu
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from petl_core.datasets.synthmusic import prepare  # noqa: E402
from petl_core.recipe import run  # noqa: E402

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
