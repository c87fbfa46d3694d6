#!/usr/bin/env python3
"""SynthMusic 'tempo': tempo estimation (label: BPM with two decimals, 60-200).

Generates the seeded clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/tempo/prepare.py --save_folder results/synth_tempo [--data_folder DIR] [--n_train N ...]

Importable: ``prepare(data_folder, save_folder, n_train=..., seed=1234, ...)`` is
:func:`petl_core.datasets.synthmusic.prepare` with ``task="tempo"`` (its defaults, clip folders and labels).
"""
import functools

from petl_core.datasets import synthmusic

prepare = functools.partial(synthmusic.prepare, task="tempo")

if __name__ == "__main__":
    synthmusic.cli("tempo")
