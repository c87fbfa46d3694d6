#!/usr/bin/env python3
"""GTZAN genre classification (10 genres, fault-filtered split). Usage:

    python recipes/GTZAN/genre/train.py recipes/GTZAN/genre/hparams/default.yaml --data_folder=/data/gtzan [--overrides]
    torchrun --nproc_per_node=2 recipes/GTZAN/genre/train.py recipes/GTZAN/genre/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GTZAN/README.md (Training).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from petl_core.datasets.gtzan import prepare_genre as prepare  # noqa: E402
from petl_core.recipe import run  # noqa: E402

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
