#!/usr/bin/env python3
"""SynthMusic 'tagging': multi-label instrument tagging (label: tags joined with ';').

Generates the seeded synthetic clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/tagging/prepare.py --data_folder data/SynthMusic --save_folder results/synth_tagging

Importable: ``prepare(data_folder, save_folder, n_train=240, n_valid=48, n_test=48, seed=1234, ...)``
returns ``{"train": csv, "valid": csv, "test": csv}`` (see :mod:`petl_core.datasets.synthmusic`).
"""

from petl_core.datasets import synthmusic

TASK = "tagging"


def prepare(data_folder, save_folder, n_train=240, n_valid=48, n_test=48, seed=1234,
            sample_rate=24000, duration=4.0):
    """Generate (or reuse) the 'tagging' clips and write train/valid/test manifests."""
    return synthmusic.prepare(data_folder, save_folder, task=TASK, n_train=n_train, n_valid=n_valid,
                              n_test=n_test, seed=seed, sample_rate=sample_rate, duration=duration)


if __name__ == "__main__":
    synthmusic.cli(TASK)
