#!/usr/bin/env python3
"""ESC-50 classification (50 classes, 5-fold cross-validation): write the train/valid/test manifests from the official layout.

    python recipes/ESC50/classification/prepare.py --data_folder /data/ESC-50 --save_folder results/esc50/fold1 --test_fold 1

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.esc50` and in
``recipes/ESC50/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import esc50 as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.esc50.prepare``."""
    return dataset.prepare(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=range(1, 6))
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
