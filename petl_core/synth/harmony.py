"""The synthesizer's harmony: a key's chord progression in time (:class:`Song`) and the notes of its chord,
bass and melody parts, as ``(start seconds, duration seconds, midi note, velocity)``.

Example:
    >>> import numpy as np
    >>> song = Song(np.random.default_rng(0), 4.0, "A minor")
    >>> song.tonic, song.mode, len(song.chords) >= 1
    (9, 'minor', True)
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from petl_core.music import PITCH_CLASSES

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_HARMONIC_MINOR = np.array([0, 2, 3, 5, 7, 8, 11])
# Scale degrees 0..6; 7 means the major dominant (V) of the harmonic minor scale.
_V = 7
_PROGRESSIONS = {
    "major": [
        [0, 3, 4, 0],  # I-IV-V-I
        [0, 5, 3, 4],  # I-vi-IV-V
        [0, 4, 5, 3],  # I-V-vi-IV
        [0, 3, 0, 4],  # I-IV-I-V
        [0, 5, 1, 4],  # I-vi-ii-V
        [0, 2, 3, 4],  # I-iii-IV-V
        [1, 4, 0, 0],  # ii-V-I-I
    ],
    "minor": [
        [0, 3, _V, 0],  # i-iv-V-i
        [0, 5, 2, 6],  # i-VI-III-VII
        [0, 6, 5, _V],  # i-VII-VI-V
        [0, 3, 6, 2],  # i-iv-VII-III
        [0, 5, 3, _V],  # i-VI-iv-V
        [0, 3, 0, _V],  # i-iv-i-V
    ],
}


# ----------------------------------------------------------------------------------------------
# Harmony, bass, melody
# ----------------------------------------------------------------------------------------------
def _key_parts(key: str):
    tonic, mode = key.split()
    return PITCH_CLASSES.index(tonic), mode


def _chord_pcs(degree: int, tonic: int, mode: str, seventh: bool) -> List[int]:
    scale = _MAJOR if mode == "major" else (_HARMONIC_MINOR if degree == _V else _MINOR)
    d = 4 if degree == _V else degree
    idx = [d, d + 2, d + 4] + ([d + 6] if seventh else [])
    return [int((tonic + scale[i % 7]) % 12) for i in idx]


class Song:
    """Key, tempo and a chord sequence with times, shared by all parts of a clip."""

    def __init__(self, rng: np.random.Generator, duration: float, key: str, tempo: Optional[float] = None):
        self.key = key
        self.tonic, self.mode = _key_parts(key)
        prog = list(_PROGRESSIONS[self.mode][int(rng.integers(len(_PROGRESSIONS[self.mode])))])
        if tempo is None:
            # Key clips: the whole progression and a final tonic fit in the clip. One chord per beat (chorale-like)
            # at 60-110 BPM or one per half bar at 110-180 BPM.
            choices = []
            for b, lo, hi in ((1, 60.0, 110.0), (2, 110.0, 180.0)):
                lo = max(lo, 60.0 * b * (len(prog) + 1) / duration)  # progression + final tonic
                if lo <= hi:
                    choices.append((b, lo, hi))
            if choices:
                b, lo, hi = choices[int(rng.integers(len(choices)))]
                tempo = rng.uniform(lo, hi)
            else:  # very short clip: fit as many chords as possible at a brisk tempo
                b, tempo = 1, 180.0
        else:
            b = 2 if tempo < 110 and rng.uniform() < 0.5 else 4
        self.tempo = float(tempo)
        self.beat = 60.0 / self.tempo
        self.beats_per_chord = b
        self.chord_dur = b * self.beat
        n_slots = max(1, int(np.floor(duration / self.chord_dur + 1e-6)))
        seq = [prog[i % len(prog)] for i in range(n_slots)]
        if n_slots > len(prog) and seq[-1] != 0:
            seq[-1] = 0  # resolve on the tonic when the progression has been heard
        self.degrees = seq
        # (start_s, dur_s, pcs, degree, n_beats); the last chord rings to the end of the clip
        self.chords = []
        for i, deg in enumerate(seq):
            seventh = deg in (4, _V) and rng.uniform() < 0.3
            start = i * self.chord_dur
            dur = self.chord_dur if i < n_slots - 1 else max(duration - start, self.chord_dur)
            n_beats = max(1, int(round(dur / self.beat)))
            self.chords.append((start, dur, _chord_pcs(deg, self.tonic, self.mode, seventh), deg, n_beats))
        self.duration = duration

    def scale_pcs(self, degree: int) -> List[int]:
        scale = _MAJOR if self.mode == "major" else (_HARMONIC_MINOR if degree == _V else _MINOR)
        return [int((self.tonic + s) % 12) for s in scale]


def _nearest(pcs: Sequence[int], center: float) -> int:
    cands = [m for m in range(int(center) - 7, int(center) + 8) if m % 12 in pcs]
    return min(cands, key=lambda m: (abs(m - center), m))


def _voicing(pcs: Sequence[int], center: float) -> List[int]:
    return sorted({_nearest([pc], center) for pc in pcs})


def chord_notes(song: Song, rng: np.random.Generator, style: str, center: float):
    notes = []
    for start, dur, pcs, _, n_beats in song.chords:
        voicing = _voicing(pcs, center + rng.uniform(-1.5, 1.5))
        if style == "block":
            hits = [(start, dur * 0.97)]
        elif style == "beats":
            hits = [(start + k * song.beat, song.beat * 0.7) for k in range(n_beats)]
        elif style == "offbeat":
            hits = [(start, song.beat * 0.45)] + [(start + (k + 0.5) * song.beat, song.beat * 0.35)
                                                   for k in range(n_beats)]
        else:  # arpeggio
            sub = 4 if song.tempo < 100 else 2
            step = song.beat / sub
            order = voicing + [voicing[0] + 12] if rng.uniform() < 0.5 else voicing + voicing[-2:0:-1]
            for k in range(n_beats * sub):
                notes.append((start + k * step, step * 1.5, order[k % len(order)], 0.8 + 0.2 * (k % sub == 0)))
            continue
        for hs, hd in hits:
            for m in voicing:
                notes.append((hs, hd, m, rng.uniform(0.75, 0.95)))
    return notes


def bass_notes(song: Song, rng: np.random.Generator, low: int):
    style = ["whole", "beats", "root_fifth", "octaves"][int(rng.integers(4))]
    notes = []
    for start, dur, pcs, _, n_beats in song.chords:
        root = _nearest([pcs[0]], low + 6)
        fifth = _nearest([pcs[2]], root + 7)
        if style == "whole":
            notes.append((start, dur * 0.95, root, 1.0))
        elif style == "beats":
            notes += [(start + k * song.beat, song.beat * 0.8, root, 1.0 if k == 0 else 0.8)
                      for k in range(n_beats)]
        elif style == "root_fifth":
            notes += [(start + k * song.beat, song.beat * 0.85, root if k % 2 == 0 else fifth, 1.0 if k == 0 else 0.8)
                      for k in range(n_beats)]
        else:
            notes += [(start + k * song.beat / 2, song.beat * 0.4, root + 12 * (k % 2), 1.0 if k % 2 == 0 else 0.7)
                      for k in range(n_beats * 2)]
    return notes


def melody_notes(song: Song, rng: np.random.Generator, center: int):
    """Scale melody on an 8th-note grid; chord tones on strong beats; ends on the tonic."""
    notes = []
    lo, hi = center - 8, center + 8
    prev = _nearest([song.tonic], center)
    last = len(song.chords) - 1
    for ci, (start, dur, pcs, deg, n_beats) in enumerate(song.chords):
        scale = song.scale_pcs(deg)
        pool = [m for m in range(lo, hi + 1) if m % 12 in scale]
        if ci == last and song.degrees[-1] == 0:
            notes.append((start, dur * 0.95, _nearest([song.tonic], prev), 1.0))
            continue
        k, n_eighths = 0, n_beats * 2
        while k < n_eighths:
            length = int(rng.choice([1, 2, 2, 3, 4]))
            length = min(length, n_eighths - k)
            if rng.uniform() < 0.12 and k > 0:
                k += length
                continue
            if k % 2 == 0:  # strong position: a chord tone near the previous note
                m = _nearest(pcs, prev + int(rng.choice([-4, -3, -2, 0, 2, 3, 4])))
            else:
                i = int(np.argmin([abs(p - prev) for p in pool]))
                i = int(np.clip(i + rng.choice([-2, -1, -1, 1, 1, 2]), 0, len(pool) - 1))
                m = pool[i]
            m = int(np.clip(m, lo, hi))
            if m % 12 not in scale:
                m = _nearest(scale, m)
            t0 = start + k * song.beat / 2
            notes.append((t0, length * song.beat / 2 * 0.9, m, 1.0 if k % 2 == 0 else 0.85))
            prev = m
            k += length
    return notes

