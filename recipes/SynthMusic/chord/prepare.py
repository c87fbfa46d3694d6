#!/usr/bin/env python3
"""SynthMusic 'chord': chord progressions in 24 keys with known chord segments (label: the .lab file).

Generates the seeded clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/chord/prepare.py --save_folder results/synth_chord [--data_folder DIR] [--n_train N ...]

Importable: ``prepare(data_folder, save_folder, n_train=..., seed=1234, ...)`` is
:func:`petl_core.datasets.synthmusic.prepare` with ``task="chord"`` (its defaults, clip folders and labels).
"""
import functools

from petl_core.datasets import synthmusic

prepare = functools.partial(synthmusic.prepare, task="chord")

if __name__ == "__main__":
    synthmusic.cli("chord")
