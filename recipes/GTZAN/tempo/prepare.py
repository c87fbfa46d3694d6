#!/usr/bin/env python3
"""GTZAN tempo estimation (gtzan_tempo_beat labels, fault-filtered split): write the train/valid/test manifests from the official layout.

    python recipes/GTZAN/tempo/prepare.py --data_folder /data/gtzan --tempo_folder /data/gtzan_tempo_beat/tempo --save_folder results/gtzan_tempo

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.gtzan` and in
``recipes/GTZAN/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import gtzan as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.gtzan.prepare_tempo``."""
    return dataset.prepare_tempo(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    parser.add_argument("--split_folder", help="folder of train/valid/test_filtered.txt")
    parser.add_argument("--tempo_folder", help="gtzan_tempo_beat's tempo/ folder (gtzan_<genre>_000xx.bpm)")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
