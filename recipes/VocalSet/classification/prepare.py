#!/usr/bin/env python3
"""VocalSet classification (singer or technique): write the train/valid/test manifests from the official layout.

    python recipes/VocalSet/classification/prepare.py --data_folder /data/VocalSet --save_folder results/vocalset_technique --task technique

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.vocalset` and in
``recipes/VocalSet/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import vocalset as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.vocalset.prepare``."""
    return dataset.prepare(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    parser.add_argument("--task", choices=sorted(dataset.TASKS), default="technique", help="the label to predict")
    parser.add_argument("--test_singers", nargs="+",
                        help="technique only: singers held out for test (default: test_singers_technique.txt or "
                             "f2 f8 m3 m5 m10)")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
