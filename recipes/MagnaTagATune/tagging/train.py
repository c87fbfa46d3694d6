#!/usr/bin/env python3
"""MagnaTagATune top-50 tagging (split of Won et al.). Usage:

    python recipes/MagnaTagATune/tagging/train.py recipes/MagnaTagATune/tagging/hparams/default.yaml --data_folder=/data/magnatagatune [--overrides]
    torchrun --nproc_per_node=2 recipes/MagnaTagATune/tagging/train.py recipes/MagnaTagATune/tagging/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/MagnaTagATune/README.md (Training).
"""
import sys

from petl_core.datasets.magnatagatune import prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
