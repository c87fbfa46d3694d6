#!/usr/bin/env python3
"""MTG-Jamendo top-50 tagging (split-0). Usage:

    python recipes/MTGJamendo/tagging/train.py recipes/MTGJamendo/tagging/hparams/default.yaml --data_folder=/data/mtg-jamendo-dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/MTGJamendo/tagging/train.py recipes/MTGJamendo/tagging/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/MTGJamendo/README.md (Training).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from petl_core.datasets.mtg_jamendo import prepare  # noqa: E402
from petl_core.recipe import run  # noqa: E402

if __name__ == "__main__":
    run(sys.argv[1:], prepare)
