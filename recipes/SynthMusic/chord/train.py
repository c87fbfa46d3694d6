#!/usr/bin/env python3
"""SynthMusic chord recognition: a chord class per frame (majmin, 25 classes), mir_eval scores. Usage:

    python recipes/SynthMusic/chord/train.py recipes/SynthMusic/chord/hparams/default.yaml [--overrides]

The yaml holds every object (backbone, PETL method, per-frame head, optimiser, loss, task); this file
holds the data flow; the Brain is the task's (petl_core.frame_brain, shared by the frame recipes: crops with frame targets in
training, whole tracks in overlapping windows turned into chord segments in evaluation).
"""
import sys

from petl_core.datasets.synthmusic_frames import prepare_chord
from petl_core.frame_brain import ChordBrain, frame_datasets


def dataio_prep(hparams):
    """Generate the SynthMusic chord clips once (main process); crops + targets, whole tracks."""
    return frame_datasets(hparams, prepare_chord)


if __name__ == "__main__":
    hparams, run_opts = ChordBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    ChordBrain(hparams, run_opts).fit_and_test(datasets)
