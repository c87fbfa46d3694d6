#!/usr/bin/env python3
"""SynthMusic 'beat': drum-and-harmony clips with known beats and downbeats (label: the .beats file).

Generates the seeded clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/beat/prepare.py --save_folder results/synth_beat [--data_folder DIR] [--n_train N ...]

Importable: ``prepare(data_folder, save_folder, n_train=..., seed=1234, ...)`` is
:func:`petl_core.datasets.synthmusic.prepare` with ``task="beat"`` (its defaults, clip folders and labels).
"""
import functools

from petl_core.datasets import synthmusic

prepare = functools.partial(synthmusic.prepare, task="beat")

if __name__ == "__main__":
    synthmusic.cli("beat")
