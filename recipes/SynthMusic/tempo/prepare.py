#!/usr/bin/env python3
"""SynthMusic 'tempo': tempo regression/classification (label: BPM with two decimals, 60-200).

Generates the seeded synthetic clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/tempo/prepare.py --save_folder results/synth_tempo

Importable: ``prepare(data_folder, save_folder, n_train=240, n_valid=48, n_test=48, seed=1234, ...)``
(:func:`petl_core.datasets.synthmusic.prepare` with ``task="tempo"``)
returns ``{"train": csv, "valid": csv, "test": csv}`` (see :mod:`petl_core.datasets.synthmusic`).
"""

import functools

from petl_core.datasets import synthmusic

prepare = functools.partial(synthmusic.prepare, task="tempo")

if __name__ == "__main__":
    synthmusic.cli("tempo")
