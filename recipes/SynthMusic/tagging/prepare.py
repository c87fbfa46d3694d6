#!/usr/bin/env python3
"""SynthMusic 'tagging': multi-label instrument tagging (label: tags joined with ';').

Generates the seeded clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/tagging/prepare.py --save_folder results/synth_tagging [--data_folder DIR] [--n_train N ...]

Importable: ``prepare(data_folder, save_folder, n_train=..., seed=1234, ...)`` is
:func:`petl_core.datasets.synthmusic.prepare` with ``task="tagging"`` (its defaults, clip folders and labels).
"""
import functools

from petl_core.datasets import synthmusic

prepare = functools.partial(synthmusic.prepare, task="tagging")

if __name__ == "__main__":
    synthmusic.cli("tagging")
