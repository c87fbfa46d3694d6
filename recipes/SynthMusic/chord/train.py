#!/usr/bin/env python3
"""SynthMusic chord recognition: a chord class per frame (majmin, 25 classes), mir_eval scores. Usage:

    python recipes/SynthMusic/chord/train.py recipes/SynthMusic/chord/hparams/default.yaml [--overrides]

The yaml holds every object (backbone, PETL method, per-frame head, optimiser, loss, task); this file
holds the data flow; the Brain is the frame Brain (petl_core/frame_brain.py: crops with frame targets in
training, whole tracks in overlapping windows turned into chord segments in evaluation).
"""
import sys

from petl_core.datasets.synthmusic import prepare_chord
from petl_core.frame_brain import FrameBrain, frame_datasets
from petl_core.recipe import fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    """Generate the SynthMusic chord clips once (main process); crops + targets, whole tracks."""
    return frame_datasets(hparams, prepare_chord)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], FrameBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = FrameBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
