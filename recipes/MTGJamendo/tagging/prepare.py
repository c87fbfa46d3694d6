#!/usr/bin/env python3
"""MTG-Jamendo top-50 auto-tagging (split-0): write the train/valid/test manifests from the official layout.

    python recipes/MTGJamendo/tagging/prepare.py --data_folder /data/mtg-jamendo-dataset --audio_folder /data/mtg-jamendo/audio --save_folder results/mtg

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.mtg_jamendo` and in
``recipes/MTGJamendo/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import mtg_jamendo as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.mtg_jamendo.prepare``."""
    return dataset.prepare(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    parser.add_argument("--split", type=int, default=0, help="official split number (0-4)")
    parser.add_argument("--subset", choices=sorted(dataset.SUBSETS), default="top50tags",
                        help="tag subset: top50tags (seed 001), genre, instrument, moodtheme (seed 003), all")
    parser.add_argument("--audio_folder", help="folder holding <00-99>/<id>.mp3 (default <data_folder>/audio)")
    parser.add_argument("--low_quality", action="store_true", help="use the .low.mp3 files")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
