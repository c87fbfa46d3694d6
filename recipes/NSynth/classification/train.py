#!/usr/bin/env python3
"""NSynth note classification: instrument family (11 classes) or pitch (128 MIDI notes). Usage:

    python recipes/NSynth/classification/train.py recipes/NSynth/classification/hparams/instrument.yaml --data_folder=/data/nsynth [--overrides]
    python recipes/NSynth/classification/train.py recipes/NSynth/classification/hparams/pitch.yaml --data_folder=/data/nsynth
    torchrun --nproc_per_node=2 recipes/NSynth/classification/train.py recipes/NSynth/classification/hparams/instrument.yaml --data_folder=... --distributed_backend=nccl

See recipes/NSynth/README.md (layout, split, layer sweeps). The hparams file's ``prepare: {task: ...}``
chooses the label; everything else is the same recipe.

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is the task's (ClassificationBrain: cross-entropy on class indices), shared by the
recipes of this task (petl_core/task_brains.py).
"""
import sys

from petl_core.datasets.nsynth import prepare
from petl_core.recipe import prepare_datasets
from petl_core.task_brains import ClassificationBrain


def dataio_prep(hparams):
    """NSynth notes (official folders) as manifests; datasets of (audio, family or pitch index)."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = ClassificationBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    ClassificationBrain(hparams, run_opts).fit_and_test(datasets)
