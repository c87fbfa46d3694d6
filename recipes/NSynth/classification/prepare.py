#!/usr/bin/env python3
"""NSynth note classification (instrument family or pitch): write the train/valid/test manifests from the official layout.

    python recipes/NSynth/classification/prepare.py --data_folder /data/nsynth --save_folder results/nsynth_instrument --task instrument

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.nsynth` and in
``recipes/NSynth/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import nsynth as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.nsynth.prepare``."""
    return dataset.prepare(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    parser.add_argument("--task", choices=sorted(dataset.TASKS), default="instrument", help="the label to predict")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
