"""Tiny frame-level datasets in their official layouts (GTZAN beats, Ballroom, Isophonics chords).

    >>> import tempfile, os
    >>> root = make_ballroom(tempfile.mkdtemp())
    >>> sorted(os.listdir(root))
    ['BallroomAnnotations', 'BallroomData']
"""
from __future__ import annotations

import os

import numpy as np

from dataset_fixtures import GTZAN_SPLIT, make_gtzan, write_wav

BEATLES = {"01_-_Please_Please_Me": ["01_-_I_Saw_Her_Standing_There", "02_-_Misery", "03_-_Anna"],
           "02_-_With_the_Beatles": ["01_-_It_Won't_Be_Long", "02_-_All_I've_Got_To_Do", "03_-_All_My_Loving"]}
BALLROOM = {"ChaChaCha": ["Albums-Cafe_Paradiso-05", "Albums-Cafe_Paradiso-06", "Media-103515"],
            "Waltz": ["Albums-Ballroom_Magic-01", "Albums-Ballroom_Magic-02", "Media-104115"],
            "Jive": ["Albums-Commitments-01", "Media-103402", "Media-103403"]}


def beats_text(seconds: float, bpm: float = 120.0, beats_per_bar: int = 4, first: float = 0.1) -> str:
    times = np.arange(first, seconds, 60.0 / bpm)
    return "".join(f"{t:.3f}\t{i % beats_per_bar + 1}\n" for i, t in enumerate(times))


def make_gtzan_beats(root, seconds: float = 2.0) -> str:
    """:func:`make_gtzan` + ``gtzan_tempo_beat/beats/gtzan_<genre>_000xx.beats``."""
    root = make_gtzan(root, seconds)
    folder = os.path.join(root, "gtzan_tempo_beat", "beats")
    os.makedirs(folder, exist_ok=True)
    for items in GTZAN_SPLIT.values():
        for genre, i in items:
            with open(os.path.join(folder, f"gtzan_{genre}_{i:05d}.beats"), "w") as f:
                f.write(beats_text(seconds, 100.0 + 5 * i))
    return root


def make_ballroom(root, seconds: float = 2.0) -> str:
    """``BallroomData/<style>/<name>.wav`` + ``BallroomAnnotations/<name>.beats`` (8 tracks)."""
    root = str(root)
    os.makedirs(os.path.join(root, "BallroomAnnotations"), exist_ok=True)
    for style, names in BALLROOM.items():
        for name in names:
            write_wav(os.path.join(root, "BallroomData", style, f"{name}.wav"), seconds=seconds, sr=44100 // 4)
            with open(os.path.join(root, "BallroomAnnotations", f"{name}.beats"), "w") as f:
                f.write(beats_text(seconds, 90.0, 3 if style == "Waltz" else 4))
    return root


def make_beatles(root, seconds: float = 2.0) -> str:
    """``chordlab/The Beatles/<album>/<track>.lab`` + ``audio/The Beatles/<album>/<track>.wav``."""
    root = str(root)
    for album, tracks in BEATLES.items():
        for k, track in enumerate(tracks):
            rel = os.path.join("The Beatles", album, track)
            write_wav(os.path.join(root, "audio", rel + ".wav"), seconds=seconds, sr=22050)
            lab = os.path.join(root, "chordlab", rel + ".lab")
            os.makedirs(os.path.dirname(lab), exist_ok=True)
            with open(lab, "w") as f:
                f.write(f"0.000000 0.300000 N\n0.300000 1.200000 {['C:maj', 'A:min', 'G:7'][k]}\n"
                        f"1.200000 {seconds:.6f} F:maj/3\n")
    return root
