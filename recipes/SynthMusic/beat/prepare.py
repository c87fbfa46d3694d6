#!/usr/bin/env python3
"""SynthMusic 'beat': drum-and-harmony clips with known beats and downbeats (label: the ``.beats`` file).

Generates the seeded clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/beat/prepare.py --save_folder results/synth_beat [--data_folder DIR]

Importable: ``prepare(data_folder, save_folder, n_train=160, n_valid=32, n_test=32, seed=1234, ...)``
(:func:`petl_core.datasets.synthmusic_frames.prepare` with ``task="beat"``).
"""
from petl_core.datasets import synthmusic_frames

prepare = synthmusic_frames.prepare_beat

if __name__ == "__main__":
    synthmusic_frames.cli("beat")
