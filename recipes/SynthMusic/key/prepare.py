#!/usr/bin/env python3
"""SynthMusic 'key': 24-key classification (label: mir_eval key string, e.g. 'F# minor').

Generates the seeded synthetic clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/key/prepare.py --data_folder data/SynthMusic --save_folder results/synth_key

Importable: ``prepare(data_folder, save_folder, n_train=240, n_valid=48, n_test=48, seed=1234, ...)``
returns ``{"train": csv, "valid": csv, "test": csv}`` (see :mod:`petl_core.datasets.synthmusic`).
"""

from petl_core.datasets import synthmusic

TASK = "key"


def prepare(data_folder, save_folder, n_train=240, n_valid=48, n_test=48, seed=1234,
            sample_rate=24000, duration=4.0):
    """Generate (or reuse) the 'key' clips and write train/valid/test manifests."""
    return synthmusic.prepare(data_folder, save_folder, task=TASK, n_train=n_train, n_valid=n_valid,
                              n_test=n_test, seed=seed, sample_rate=sample_rate, duration=duration)


if __name__ == "__main__":
    synthmusic.cli(TASK)
