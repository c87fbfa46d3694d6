#!/usr/bin/env python3
"""UrbanSound8K classification (10 classes, 10-fold cross-validation): write the train/valid/test manifests from the official layout.

    python recipes/UrbanSound8K/classification/prepare.py --data_folder /data/UrbanSound8K --save_folder results/us8k/fold1 --test_fold 1

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.urbansound8k` and in
``recipes/UrbanSound8K/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import urbansound8k as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.urbansound8k.prepare``."""
    return dataset.prepare(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=range(1, 11))
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
