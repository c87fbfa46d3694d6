#!/usr/bin/env python3
"""ESC-50 classification (50 classes, 5-fold cross-validation). Usage:

    python recipes/ESC50/classification/train.py recipes/ESC50/classification/hparams/default.yaml --data_folder=/data/ESC-50 [--overrides]
    torchrun --nproc_per_node=2 recipes/ESC50/classification/train.py recipes/ESC50/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/ESC50/README.md (Training).
"""
import sys

from petl_core.datasets.esc50 import prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
