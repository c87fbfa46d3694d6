#!/usr/bin/env python3
"""Fluent Speech Commands intent classification (31 intents): write the train/valid/test manifests from the official layout.

    python recipes/FluentSpeechCommands/classification/prepare.py --data_folder /data/fluent_speech_commands_dataset --save_folder results/fsc

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.fluent_speech_commands` and in
``recipes/FluentSpeechCommands/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import fluent_speech_commands as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.fluent_speech_commands.prepare``."""
    return dataset.prepare(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
