#!/usr/bin/env python3
"""GTZAN key estimation (24 keys, gtzan_key labels, fault-filtered split). Usage:

    python recipes/GTZAN/key/train.py recipes/GTZAN/key/hparams/default.yaml --data_folder=/data/gtzan [--overrides]
    torchrun --nproc_per_node=2 recipes/GTZAN/key/train.py recipes/GTZAN/key/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GTZAN/README.md (Training).
"""
import sys

from petl_core.datasets.gtzan import prepare_key as prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
