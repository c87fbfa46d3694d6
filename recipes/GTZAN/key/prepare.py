#!/usr/bin/env python3
"""GTZAN key estimation (24 keys, gtzan_key labels, fault-filtered split): write the train/valid/test manifests from the official layout.

    python recipes/GTZAN/key/prepare.py --data_folder /data/gtzan --key_folder /data/gtzan_key/gtzan_key/genres --save_folder results/gtzan_key

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.gtzan` and in
``recipes/GTZAN/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import gtzan as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.gtzan.prepare_key``."""
    return dataset.prepare_key(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    parser.add_argument("--split_folder", help="folder of train/valid/test_filtered.txt")
    parser.add_argument("--key_folder", help="gtzan_key's genres/ folder (<genre>/<genre>.000xx.lerch.txt)")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
