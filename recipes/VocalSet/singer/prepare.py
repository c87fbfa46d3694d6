#!/usr/bin/env python3
"""VocalSet singer identification (20 singers): write the train/valid/test manifests from the official layout.

    python recipes/VocalSet/singer/prepare.py --data_folder /data/VocalSet --save_folder results/vocalset_singer

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.vocalset` and in
``recipes/VocalSet/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import vocalset as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.vocalset.prepare_singer``."""
    return dataset.prepare_singer(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
