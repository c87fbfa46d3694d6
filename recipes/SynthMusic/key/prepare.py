#!/usr/bin/env python3
"""SynthMusic 'key': 24-key classification (label: mir_eval key string, e.g. 'F# minor').

Generates the seeded synthetic clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/key/prepare.py --save_folder results/synth_key

Importable: ``prepare(data_folder, save_folder, n_train=240, n_valid=48, n_test=48, seed=1234, ...)``
(:func:`petl_core.datasets.synthmusic.prepare` with ``task="key"``)
returns ``{"train": csv, "valid": csv, "test": csv}`` (see :mod:`petl_core.datasets.synthmusic`).
"""

import functools

from petl_core.datasets import synthmusic

prepare = functools.partial(synthmusic.prepare, task="key")

if __name__ == "__main__":
    synthmusic.cli("key")
