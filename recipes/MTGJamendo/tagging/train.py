#!/usr/bin/env python3
"""MTG-Jamendo top-50 tagging (split-0). Usage:

    python recipes/MTGJamendo/tagging/train.py recipes/MTGJamendo/tagging/hparams/default.yaml --data_folder=/data/mtg-jamendo-dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/MTGJamendo/tagging/train.py recipes/MTGJamendo/tagging/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/MTGJamendo/README.md (Training).
"""
import sys

from petl_core.datasets.mtg_jamendo import prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
