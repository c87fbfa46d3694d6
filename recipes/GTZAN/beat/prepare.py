#!/usr/bin/env python3
"""GTZAN beat/downbeat tracking (gtzan_tempo_beat .beats files, fault-filtered split): write the manifests.

    python recipes/GTZAN/beat/prepare.py --data_folder /data/gtzan --beat_folder /data/gtzan_tempo_beat/beats --save_folder results/gtzan_beat

Importable: ``prepare(data_folder, save_folder, **options)`` (:func:`petl_core.datasets.gtzan.prepare_beat`).
"""
from petl_core.datasets import build_parser, run_cli
from petl_core.datasets.gtzan import prepare_beat as prepare


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=None)
    parser.add_argument("--split_folder", help="folder of train/valid/test_filtered.txt")
    parser.add_argument("--beat_folder", help="gtzan_tempo_beat's beats/ folder (gtzan_<genre>_000xx.beats)")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
