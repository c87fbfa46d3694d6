#!/usr/bin/env python3
"""SynthMusic beat and downbeat tracking: frame activations at 100 Hz, madmom DBN, F-measure. Usage:

    python recipes/SynthMusic/beat/train.py recipes/SynthMusic/beat/hparams/default.yaml [--overrides]

The yaml holds every object (backbone, PETL method, per-frame head, optimiser, loss, task); this file
holds the data flow; the Brain is the task's (petl_core.frame_brain, shared by the frame recipes: crops with frame targets in
training, whole tracks in overlapping windows decoded by madmom's DBN trackers in evaluation).
"""
import sys

from petl_core.datasets.synthmusic_frames import prepare_beat
from petl_core.frame_brain import BeatBrain, frame_datasets


def dataio_prep(hparams):
    """Generate the SynthMusic beat clips once (main process); crops + targets, whole tracks."""
    return frame_datasets(hparams, prepare_beat)


if __name__ == "__main__":
    hparams, run_opts = BeatBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    BeatBrain(hparams, run_opts).fit_and_test(datasets)
