#!/usr/bin/env python3
"""GiantSteps tempo estimation (300 one-BPM classes, 3:1:1 split). Usage:

    python recipes/GiantSteps/tempo/train.py recipes/GiantSteps/tempo/hparams/default.yaml --data_folder=/data/giantsteps-tempo-dataset [--overrides]
    torchrun --nproc_per_node=2 recipes/GiantSteps/tempo/train.py recipes/GiantSteps/tempo/hparams/default.yaml --data_folder=... --distributed_backend=nccl

See recipes/GiantSteps/README.md (Training).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the clip Brain (petl_core/clip_brain.py); the yaml's ``task`` says what the loss
compares the logits with and how labels follow the augmentation (petl_core/tasks.py).
"""
import sys

from petl_core.clip_brain import ClipBrain
from petl_core.datasets.giantsteps import prepare_tempo as prepare
from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    """GiantSteps tempo (test) and its training set as manifests; datasets of (audio, BPM)."""
    return clip_datasets(hparams, prepare)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], ClipBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = ClipBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
