#!/usr/bin/env python3
"""GiantSteps key estimation (train/valid: GiantSteps-MTG-Key, test: GiantSteps key): write the train/valid/test manifests from the official layout.

    python recipes/GiantSteps/key/prepare.py --data_folder /data/giantsteps --save_folder results/giantsteps_key

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.giantsteps` and in
``recipes/GiantSteps/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import giantsteps as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.giantsteps.prepare_key``."""
    return dataset.prepare_key(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    parser.add_argument("--key_folder", help="giantsteps-key-dataset folder (test)")
    parser.add_argument("--mtg_key_folder", help="giantsteps-mtg-key-dataset folder (train/valid)")
    parser.add_argument("--min_confidence", type=int, default=2, help="keep MTG-Key tracks with this confidence or more")
    parser.add_argument("--valid_fraction", type=float, default=0.1, help="share of MTG-Key used for validation")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the validation draw")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
