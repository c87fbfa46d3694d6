#!/usr/bin/env python3
"""GiantSteps tempo estimation (300 one-BPM classes, 3:1:1 split). Usage:

    python recipes/GiantSteps/tempo/train.py recipes/GiantSteps/tempo/hparams/default.yaml --data_folder=/data/giantsteps-tempo-dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/GiantSteps/tempo/train.py recipes/GiantSteps/tempo/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GiantSteps/README.md (Training).
"""
import sys

from petl_core.datasets.giantsteps import prepare_tempo as prepare
from petl_core.recipe import run

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
