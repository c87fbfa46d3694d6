#!/usr/bin/env python3
"""Ballroom beat/downbeat tracking (BallroomData audio + BallroomAnnotations .beats): write the manifests.

    python recipes/Ballroom/beat/prepare.py --data_folder /data/ballroom --test_fold 1 --save_folder results/ballroom_beat

Importable: ``prepare(data_folder, save_folder, test_fold=1, ...)`` (:func:`petl_core.datasets.ballroom.prepare`).
"""
from petl_core.datasets import build_parser, run_cli
from petl_core.datasets.ballroom import NUM_FOLDS, prepare


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=range(1, NUM_FOLDS + 1))
    parser.add_argument("--annotation_folder", help="folder of the <name>.beats files (BallroomAnnotations)")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
