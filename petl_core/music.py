"""Musical constants shared by tasks, datasets, chords and the synthesizer: one place.

>>> PITCH_CLASSES[1], KEYS[12], key_name(9, "minor")
('C#', 'C minor', 'A minor')
"""
from __future__ import annotations

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODES = ("major", "minor")
#: The 24 keys in mir_eval's spelling, majors first: index = 12 * mode + pitch class.
KEYS = tuple(f"{pc} {mode}" for mode in MODES for pc in PITCH_CLASSES)


def key_name(pitch_class: int, mode: str) -> str:
    """The mir_eval key string of a pitch class (any integer, taken mod 12) and a mode."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    return f"{PITCH_CLASSES[pitch_class % 12]} {mode}"
