#!/usr/bin/env python3
"""SynthMusic 'tagging': multi-label instrument tagging (label: tags joined with ';').

Generates the seeded synthetic clips offline (no download) and writes the manifests:

    python recipes/SynthMusic/tagging/prepare.py --save_folder results/synth_tagging

Importable: ``prepare(data_folder, save_folder, n_train=240, n_valid=48, n_test=48, seed=1234, ...)``
(:func:`petl_core.datasets.synthmusic.prepare` with ``task="tagging"``)
returns ``{"train": csv, "valid": csv, "test": csv}`` (see :mod:`petl_core.datasets.synthmusic`).
"""

import functools

from petl_core.datasets import synthmusic

prepare = functools.partial(synthmusic.prepare, task="tagging")

if __name__ == "__main__":
    synthmusic.cli("tagging")
