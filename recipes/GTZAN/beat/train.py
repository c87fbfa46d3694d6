#!/usr/bin/env python3
"""GTZAN beat and downbeat tracking (gtzan_tempo_beat annotations, fault-filtered split). Usage:

    python recipes/GTZAN/beat/train.py recipes/GTZAN/beat/hparams/default.yaml --data_folder=/data/... [--overrides]

hparams/*.yaml hold every object (backbone, PETL method, per-frame head, optimiser, loss, task);
the Brain is the frame Brain (petl_core/frame_brain.py); the yaml's ``task`` makes the frame
targets, decodes and scores tracks.
"""
import sys

from petl_core.datasets.gtzan import prepare_beat as prepare
from petl_core.frame_brain import FrameBrain, frame_datasets
from petl_core.recipe import fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    """Manifests from the official layout; training crops with frame targets, whole tracks."""
    return frame_datasets(hparams, prepare)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], FrameBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = FrameBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
