#!/usr/bin/env python3
"""Chord recognition data in the Isophonics layout (chordlab/<artist>/<album>/<track>.lab + audio/...): write the manifests.

    python recipes/Beatles/chord/prepare.py --data_folder /data/beatles --test_fold 1 --save_folder results/beatles_chord

Importable: ``prepare(data_folder, save_folder, test_fold=1, num_folds=5, ...)`` (:func:`petl_core.datasets.chords_lab.prepare`).
"""
from petl_core.datasets import build_parser, run_cli
from petl_core.datasets.chords_lab import prepare


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], test_fold=range(1, 11))
    parser.add_argument("--num_folds", type=int, default=5, help="folds of the cross-validation (test_fold <= this)")
    parser.add_argument("--lab_folder", help="the chordlab/ folder (default: <data_folder>/chordlab)")
    parser.add_argument("--audio_folder", help="the audio tree mirroring chordlab/ (default: <data_folder>/audio)")
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
