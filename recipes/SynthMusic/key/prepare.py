#!/usr/bin/env python3
"""SynthMusic 'key': 24-key classification (label: mir_eval key string, e.g. 'F# minor').

Generates the seeded clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/key/prepare.py --save_folder results/synth_key [--data_folder DIR] [--n_train N ...]

Importable: ``prepare(data_folder, save_folder, n_train=..., seed=1234, ...)`` is
:func:`petl_core.datasets.synthmusic.prepare` with ``task="key"`` (its defaults, clip folders and labels).
"""
import functools

from petl_core.datasets import synthmusic

prepare = functools.partial(synthmusic.prepare, task="key")

if __name__ == "__main__":
    synthmusic.cli("key")
