#!/usr/bin/env python3
"""SynthMusic 'chord': chord progressions in 24 keys with known chord segments (label: the ``.lab`` file).

Generates the seeded clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/chord/prepare.py --save_folder results/synth_chord [--data_folder DIR]

Importable: ``prepare(data_folder, save_folder, n_train=160, n_valid=32, n_test=32, seed=1234, ...)``
(:func:`petl_core.datasets.synthmusic_frames.prepare` with ``task="chord"``).
"""
from petl_core.datasets import synthmusic_frames

prepare = synthmusic_frames.prepare_chord

if __name__ == "__main__":
    synthmusic_frames.cli("chord")
