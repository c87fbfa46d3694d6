#!/usr/bin/env python3
"""MagnaTagATune top-50 auto-tagging (split of Won et al.): write the train/valid/test manifests from the official layout.

    python recipes/MagnaTagATune/tagging/prepare.py --data_folder /data/magnatagatune --split_folder /data/magnatagatune/split --save_folder results/mtat

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.magnatagatune` and in
``recipes/MagnaTagATune/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import magnatagatune as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.magnatagatune.prepare``."""
    return dataset.prepare(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    parser.add_argument("--split_folder", help="folder of train/valid/test .npy|.tsv|.txt and top50_tags.txt")
    parser.add_argument("--tag_file", help="tag vocabulary file (default: <split_folder>/top50_tags.txt)")
    parser.add_argument("--drop_untagged", action="store_true", help="drop clips with none of the tags")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
