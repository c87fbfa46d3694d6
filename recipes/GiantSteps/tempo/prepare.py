#!/usr/bin/env python3
"""GiantSteps tempo estimation (3:1:1 split of the ten official folds): write the train/valid/test manifests from the official layout.

    python recipes/GiantSteps/tempo/prepare.py --data_folder /data/giantsteps-tempo-dataset --save_folder results/giantsteps_tempo

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.giantsteps` and in
``recipes/GiantSteps/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import giantsteps as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.giantsteps.prepare_tempo``."""
    return dataset.prepare_tempo(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    parser.add_argument("--annotations", choices=["v1", "v2"], default="v2", help="tempo annotation version")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the 3:1:1 split when splits/ is absent")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
