#!/usr/bin/env python3
"""UrbanSound8K classification (10 classes, 10-fold cross-validation). Usage:

    python recipes/UrbanSound8K/classification/train.py recipes/UrbanSound8K/classification/hparams/default.yaml --data_folder=/data/UrbanSound8K [--overrides]
    torchrun --nproc_per_node=2 recipes/UrbanSound8K/classification/train.py recipes/UrbanSound8K/classification/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/UrbanSound8K/README.md (Training).
"""
import sys

from petl_core.datasets.urbansound8k import prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
