#!/usr/bin/env python3
"""Speech Commands v2 keyword spotting (35 words): write the train/valid/test manifests from the official layout.

    python recipes/SpeechCommands/classification/prepare.py --data_folder /data/speech_commands_v0.02 --save_folder results/gsc

Importable: ``prepare(data_folder, save_folder, **options)`` returns ``{split: manifest path}``;
the options and the expected layout are documented in :mod:`petl_core.datasets.speech_commands` and in
``recipes/SpeechCommands/README.md``. Reruns with the same options reuse the manifests.
"""

from petl_core.datasets import build_parser, run_cli
from petl_core.datasets import speech_commands as dataset


def prepare(data_folder, save_folder, **options):
    """Write (or reuse) the manifests; see ``petl_core.datasets.speech_commands.prepare``."""
    return dataset.prepare(data_folder, save_folder, **options)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
