#!/usr/bin/env python3
"""GTZAN genre classification (10 genres, fault-filtered split). Usage:

    python recipes/GTZAN/genre/train.py recipes/GTZAN/genre/hparams/default.yaml --data_folder=/data/gtzan [--overrides]
    torchrun --nproc_per_node=2 recipes/GTZAN/genre/train.py recipes/GTZAN/genre/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GTZAN/README.md (Training).
"""
import sys

from petl_core.datasets.gtzan import prepare_genre as prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
