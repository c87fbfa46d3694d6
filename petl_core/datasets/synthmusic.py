"""SynthMusic: a seeded, offline generator of small synthetic *music* datasets with known labels.

Three tasks, each rendered with plain numpy/scipy (no system packages, no downloads):

* ``key``     -- 24 keys (12 tonics x major/minor). A clip is a chord progression in the key
  (I-IV-V-I, i-iv-V-i, I-vi-IV-V, i-VI-III-VII, ...) voiced by one of several synthetic
  instruments (drawbar organ, electric piano, piano, Karplus-Strong pluck arpeggio, detuned pad),
  with a bass line and a scale melody that resolves on the tonic. Label: a ``mir_eval`` key string
  with sharps, e.g. ``"C major"``, ``"F# minor"``.
* ``tempo``   -- drum patterns (pitch-swept sine kick, noise+tone snare, high-passed noise hi-hat;
  rock / four-on-the-floor / half-time / 16th variants) on an exact grid at a tempo in 60-200 BPM,
  optionally with bass and chords. Label: the BPM with two decimals, e.g. ``"127.35"``.
* ``tagging`` -- 1-4 instruments out of :data:`TAGS` playing together in a random key and tempo.
  Label: the tags joined with ``;`` in :data:`TAGS` order.

Clips are mono 16-bit PCM WAV files (float32 arrays from :func:`generate_clip`), peak-normalised to 0.5 with a random gain of +-6 dB and seeded per clip,
so the same seed gives byte-identical WAV files.

Where the audio goes: ``prepare(data_folder, ...)`` writes ``<data_folder>/<task>/``; with
``data_folder=None`` (the recipes' default) it uses a cache shared by every run, wherever it is
started: ``$SYNTHMUSIC_DATA``, else ``$XDG_CACHE_HOME/petl-audio/SynthMusic``, else
``~/.cache/petl-audio/SynthMusic`` (:func:`default_data_folder`). Generation shows a progress bar
(stderr) naming that folder; a rerun with the same options reuses the files.

Example:
    >>> import numpy as np
    >>> wav, label = generate_clip("key", np.random.default_rng([0, 0]), 16000, 1.0)
    >>> wav.dtype, wav.shape, label in KEYS
    (dtype('float32'), (16000,), True)
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import soundfile as sf
from scipy import signal
from tqdm import tqdm

from petl_core.manifest import write_json_atomic, write_manifest
from petl_core.music import KEYS, PITCH_CLASSES

logger = logging.getLogger(__name__)

__all__ = [
    "KEYS",
    "TAGS",
    "TASKS",
    "TEMPO_RANGE",
    "build_parser",
    "cli",
    "default_data_folder",
    "generate_clip",
    "prepare",
]

TAGS = ["drums", "bass", "piano", "organ", "strings-pad", "pluck", "lead", "vocals"]
TASKS = ("key", "tempo", "tagging")
TEMPO_RANGE = (60.0, 200.0)
SPLITS = ("train", "valid", "test")

# Bump when the audio produced for a given seed changes: prepare() then regenerates.
GENERATOR_VERSION = 1
_OPTIONS_FILE = "synthmusic.json"
DATA_ENV = "SYNTHMUSIC_DATA"  # overrides the cache folder

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
_VOWELS = {  # (formant Hz, bandwidth Hz, gain) x 3, adult voice
    "a": [(730, 90, 1.0), (1090, 110, 0.5), (2440, 160, 0.25)],
    "e": [(530, 60, 1.0), (1840, 100, 0.45), (2480, 120, 0.3)],
    "i": [(300, 50, 1.0), (2290, 100, 0.35), (3010, 150, 0.3)],
    "o": [(570, 70, 1.0), (840, 80, 0.6), (2410, 160, 0.15)],
    "u": [(300, 50, 1.0), (870, 80, 0.3), (2240, 150, 0.1)],
}
_DRUM_PATTERNS = {  # steps of a 16th-note grid in one 4/4 bar
    "rock": dict(kick=[0, 8], snare=[4, 12], hat=list(range(0, 16, 2)), ohat=[]),
    "rock_push": dict(kick=[0, 6, 8], snare=[4, 12], hat=list(range(0, 16, 2)), ohat=[]),
    "rock16": dict(kick=[0, 8, 10], snare=[4, 12], hat=list(range(16)), ohat=[]),
    "four_floor": dict(kick=[0, 4, 8, 12], snare=[4, 12], hat=[], ohat=[2, 6, 10, 14]),
    "disco": dict(kick=[0, 4, 8, 12], snare=[4, 12], hat=list(range(0, 16, 2)), ohat=[2, 6, 10, 14]),
    "half_time": dict(kick=[0, 10], snare=[8], hat=list(range(0, 16, 2)), ohat=[]),
}

_TAB_N = 2048
_MAX_PARTIAL_HZ = 4500.0  # pitched instruments stay below ~5 kHz; cymbals/snares live above


# ----------------------------------------------------------------------------------------------
# Oscillators and instruments
# ----------------------------------------------------------------------------------------------
def _midi_hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _wavetable(amps: np.ndarray) -> np.ndarray:
    """One period of sum_k amps[k-1] * sin(2 pi k x), length _TAB_N + 1 (wrapped for interpolation)."""
    spec = np.zeros(_TAB_N // 2 + 1, dtype=np.complex128)
    k = min(len(amps), _TAB_N // 2 - 1)
    spec[1 : k + 1] = -0.5j * _TAB_N * np.asarray(amps[:k], dtype=np.float64)
    tab = np.fft.irfft(spec, n=_TAB_N)
    tab /= max(np.abs(tab).max(), 1e-9)
    return np.append(tab, tab[0])


def _osc(tab: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Wavetable lookup with linear interpolation; ``phase`` in cycles."""
    p = (phase - np.floor(phase)) * _TAB_N
    i = p.astype(np.int64)
    f = p - i
    t0 = tab[i]
    return t0 + f * (tab[i + 1] - t0)


def _n_partials(f0: float, sr: int) -> int:
    return max(1, int(min(_MAX_PARTIAL_HZ, 0.45 * sr) // f0))


class _Instrument:
    """A pitched instrument with per-clip random timbre parameters.

    ``note(midi, n_on, vel)`` returns the samples of one note held for ``n_on`` samples
    (plus its release tail).
    """

    KINDS = ("organ", "epiano", "piano", "pad", "strings", "lead", "vocals", "bass", "pluck")

    def __init__(self, kind: str, rng: np.random.Generator, sr: int):
        if kind not in self.KINDS:
            raise ValueError(kind)
        self.kind, self.sr, self.rng = kind, sr, rng
        u = rng.uniform
        if kind == "organ":
            # drawbars on partials 1,2,3,4,6,8 (16', 8', 5 1/3', 4', 2 2/3', 2')
            self.draw = np.array([1.0, u(0.3, 1.0), u(0.0, 0.7), u(0.1, 0.6), u(0.0, 0.4), u(0.0, 0.4)])
            self.trem = (u(4.5, 6.5), u(0.0, 0.15))
        elif kind == "epiano":
            self.tau, self.bright, self.tau_b = u(0.8, 2.0), u(0.3, 0.8), u(0.04, 0.15)
        elif kind == "piano":
            self.tau, self.bright, self.tau_b = u(1.0, 2.5), u(0.4, 0.9), u(0.1, 0.3)
        elif kind in ("pad", "strings"):
            self.cut, self.det = u(1200.0, 3000.0), u(4.0, 12.0)
            self.att, self.rel = u(0.08, 0.4), u(0.15, 0.4)
        elif kind == "lead":
            self.even, self.cut = u(0.0, 0.4), u(2500.0, 4500.0)
            self.vib = (u(5.0, 6.5), u(0.002, 0.006))
        elif kind == "vocals":
            self.vowels = list(rng.choice(sorted(_VOWELS), size=int(rng.integers(1, 4)), replace=False))
            self.vib = (u(4.8, 6.2), u(0.006, 0.014))
        elif kind == "bass":
            self.amps = np.array([1.0, u(0.3, 0.8), u(0.1, 0.5), u(0.05, 0.3), u(0.0, 0.15), u(0.0, 0.1)])
            self.tau, self.sus = u(0.2, 0.8), u(0.3, 0.8)
        elif kind == "pluck":
            self.gain, self.cut = u(0.994, 0.999), u(1500.0, 3500.0)
        self._cache: Dict[tuple, np.ndarray] = {}

    # --- spectra -------------------------------------------------------------------------------
    def _table(self, name: str, midi: int) -> np.ndarray:
        key = (name, midi)
        if key in self._cache:
            return self._cache[key]
        f0 = float(_midi_hz(midi))
        kmax = _n_partials(f0, self.sr)
        k = np.arange(1, kmax + 1, dtype=np.float64)
        if name == "organ":
            amps = np.zeros(kmax)
            for h, a in zip((1, 2, 3, 4, 6, 8), self.draw):
                if h <= kmax:
                    amps[h - 1] = a
        elif name == "body":  # electric piano / piano fundamental-heavy body
            amps = (1.0 / k**2.5) if self.kind == "epiano" else (1.0 / k**1.6)
        elif name == "bright":  # decaying upper partials (hammer/tine)
            amps = np.where(k >= 2, 1.0 / k**0.9, 0.0)
        elif name == "saw":
            amps = (1.0 / k) * np.exp(-k * f0 / self.cut)
        elif name == "lead":
            amps = np.where(k % 2 == 1, 1.0, self.even) / k * np.exp(-k * f0 / self.cut)
        elif name.startswith("vowel"):
            amps = (1.0 / k) * sum(g / (1.0 + ((k * f0 - F) / (0.5 * B)) ** 2) + 0.02 * g
                                   for F, B, g in _VOWELS[name[-1]])
        elif name == "bass":
            amps = np.zeros(kmax)
            amps[: min(kmax, 6)] = self.amps[: min(kmax, 6)]
        else:
            raise ValueError(name)
        tab = _wavetable(amps)
        self._cache[key] = tab
        return tab

    # --- notes ---------------------------------------------------------------------------------
    def note(self, midi: int, n_on: int, vel: float) -> np.ndarray:
        sr, kind = self.sr, self.kind
        f0 = float(_midi_hz(midi))
        if kind == "pluck":
            return vel * self._pluck(midi, n_on)
        rel = {"organ": 0.05, "epiano": 0.12, "piano": 0.15, "lead": 0.06, "vocals": 0.1,
               "bass": 0.05}.get(kind, getattr(self, "rel", 0.1))
        n = n_on + int(rel * sr)
        t = np.arange(n) / sr
        ph0 = self.rng.uniform()
        gate = np.clip(1.0 - (t - n_on / sr) / rel, 0.0, 1.0)  # release ramp after note-off

        if kind == "organ":
            y = _osc(self._table("organ", midi), f0 * t + ph0)
            env = np.minimum(t / 0.008, 1.0)
        elif kind in ("epiano", "piano"):
            scale = 2.0 ** (-(midi - 60) / 24.0)  # higher notes decay faster
            y = _osc(self._table("body", midi), f0 * t + ph0) * np.exp(-t / (self.tau * scale))
            y += self.bright * _osc(self._table("bright", midi), f0 * t + ph0) * np.exp(-t / (self.tau_b * scale))
            if kind == "piano":  # a second, slightly detuned string
                y += 0.6 * _osc(self._table("body", midi), f0 * 1.0012 * t + ph0 + 0.3) * np.exp(-t / (self.tau * scale))
            env = np.minimum(t / 0.003, 1.0)
        elif kind in ("pad", "strings"):
            tab = self._table("saw", midi)
            y = np.zeros(n)
            for cents in (-self.det, 0.0, self.det):
                ratio = 2.0 ** (cents / 1200.0)
                ph = f0 * ratio * t + self.rng.uniform()
                if kind == "strings":
                    ph = ph + f0 * 0.003 * np.sin(2 * np.pi * 5.2 * t + self.rng.uniform(0, 6.28)) / (2 * np.pi * 5.2)
                y += _osc(tab, ph)
            att = min(self.att, 0.4 * n_on / sr + 1e-3)
            env = np.minimum(t / att, 1.0)
        elif kind == "lead":
            rate, depth = self.vib
            ramp = np.minimum(t / 0.3, 1.0)
            ph = f0 * t + ramp * f0 * depth * np.sin(2 * np.pi * rate * t) / (2 * np.pi * rate) + ph0
            y = _osc(self._table("lead", midi), ph)
            env = np.minimum(t / 0.01, 1.0) * (0.75 + 0.25 * np.exp(-t / 0.2))
        elif kind == "vocals":
            rate, depth = self.vib
            ramp = np.minimum(t / 0.25, 1.0)
            ph = f0 * t + ramp * f0 * depth * np.sin(2 * np.pi * rate * t) / (2 * np.pi * rate) + ph0
            vowel = self.vowels[int(self.rng.integers(len(self.vowels)))]
            y = _osc(self._table("vowel_" + vowel, midi), ph)
            env = np.minimum(t / 0.06, 1.0) * (1.0 + 0.08 * np.sin(2 * np.pi * rate * t))
        elif kind == "bass":
            y = _osc(self._table("bass", midi), f0 * t + ph0)
            env = np.minimum(t / 0.005, 1.0) * (self.sus + (1.0 - self.sus) * np.exp(-t / self.tau))
        else:  # pragma: no cover
            raise ValueError(kind)
        return vel * y * env * gate

    def _pluck(self, midi: int, n_on: int) -> np.ndarray:
        """Karplus-Strong string: a lowpassed noise burst circulating in a damped delay line."""
        key = ("ks", midi, n_on)
        if key in self._cache:
            return self._cache[key]
        sr = self.sr
        n_on = min(n_on, int(1.5 * sr))
        n = n_on + int(0.04 * sr)
        period = sr / float(_midi_hz(midi))
        d = int(np.floor(period - 0.5))
        frac = period - 0.5 - d
        # loop filter: 2-tap average (0.5 sample) convolved with a linear-interpolation delay
        g = self.gain
        a = np.zeros(d + 3)
        a[0] = 1.0
        a[d] -= g * 0.5 * (1.0 - frac)
        a[d + 1] -= g * 0.5
        a[d + 2] -= g * 0.5 * frac
        x = np.zeros(n)
        burst = self.rng.uniform(-1.0, 1.0, size=d)
        sos = signal.butter(4, min(self.cut, 0.45 * sr), fs=sr, output="sos")
        x[:d] = signal.sosfilt(sos, burst)
        y = signal.lfilter([1.0], a, x)
        # keep the string below ~5 kHz like the other pitched instruments (cymbals live above)
        y = signal.sosfilt(signal.butter(4, min(_MAX_PARTIAL_HZ, 0.4 * sr), fs=sr, output="sos"), y)
        t = np.arange(n)
        y *= np.clip(1.0 - (t - n_on) / (0.04 * sr), 0.0, 1.0)  # damp at note-off
        y /= max(np.abs(y).max(), 1e-9)
        self._cache[key] = y
        return y


def _place(buf: np.ndarray, start: int, x: np.ndarray) -> None:
    if start >= len(buf):
        return
    m = min(len(x), len(buf) - start)
    buf[start : start + m] += x[:m]


def _render(inst: _Instrument, notes, n: int) -> np.ndarray:
    """notes: iterable of (start_s, dur_s, midi, vel)."""
    buf = np.zeros(n)
    sr = inst.sr
    for start, dur, midi, vel in notes:
        s = int(round(start * sr))
        _place(buf, s, inst.note(int(midi), max(int(dur * sr), 16), vel))
    return buf


# ----------------------------------------------------------------------------------------------
# Drums
# ----------------------------------------------------------------------------------------------
class _DrumKit:
    def __init__(self, rng: np.random.Generator, sr: int):
        u = rng.uniform
        self.sr = sr
        t = np.arange(int(0.5 * sr)) / sr
        # kick: pitch-swept sine + a short click
        f_hi, f_lo, sweep, dec = u(110, 180), u(40, 60), u(0.02, 0.05), u(0.15, 0.4)
        freq = f_lo + (f_hi - f_lo) * np.exp(-t / sweep)
        kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / dec)
        click = rng.standard_normal(len(t)) * np.exp(-t / 0.003) * 0.3
        self.kick = kick + signal.sosfilt(signal.butter(2, 2000, fs=sr, output="sos"), click)
        # snare: band-limited noise burst + a tone pair
        ts = t[: int(0.35 * sr)]
        noise = signal.sosfilt(signal.butter(2, [800, min(9000, 0.45 * sr)], btype="band", fs=sr, output="sos"),
                               rng.standard_normal(len(ts)))
        f_sn = u(160, 240)
        tone = np.sin(2 * np.pi * f_sn * ts) + 0.5 * np.sin(2 * np.pi * 1.6 * f_sn * ts)
        self.snare = u(0.6, 1.0) * noise * np.exp(-ts / u(0.07, 0.18)) + u(0.3, 0.6) * tone * np.exp(-ts / 0.05)
        # hi-hats: high-passed noise, closed and open
        hp = signal.butter(4, min(7000, 0.4 * sr), btype="high", fs=sr, output="sos")
        th = t[: int(0.4 * sr)]
        hat_noise = signal.sosfilt(hp, rng.standard_normal(len(th)))
        self.hat = hat_noise * np.exp(-th / u(0.015, 0.05))
        self.ohat = hat_noise * np.exp(-th / u(0.12, 0.25))
        for name in ("kick", "snare", "hat", "ohat"):
            x = getattr(self, name)
            setattr(self, name, x / max(np.abs(x).max(), 1e-9))
        self.levels = dict(kick=1.0, snare=u(0.6, 0.9), hat=u(0.15, 0.35), ohat=u(0.15, 0.3))


def _drum_part(rng: np.random.Generator, sr: int, n: int, tempo: float, pattern: Optional[str] = None):
    kit = _DrumKit(rng, sr)
    if pattern is None:
        names = list(_DRUM_PATTERNS)
        if tempo > 140:
            names.remove("rock16")
        pattern = names[int(rng.integers(len(names)))]
    pat = _DRUM_PATTERNS[pattern]
    step = 60.0 / tempo / 4.0
    n_steps = int(np.ceil(n / sr / step)) + 1
    buf = np.zeros(n)
    for name in ("kick", "snare", "hat", "ohat"):
        steps = set(pat[name])
        sample = getattr(kit, name) * kit.levels[name]
        for s in range(n_steps):
            if s % 16 not in steps:
                continue
            vel = 1.0 if s % 4 == 0 else 0.75
            vel *= rng.uniform(0.9, 1.0)
            _place(buf, int(round(s * step * sr)), vel * sample)
    return buf


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


class _Song:
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


def _chord_notes(song: _Song, rng: np.random.Generator, style: str, center: float):
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


def _bass_notes(song: _Song, rng: np.random.Generator, low: int):
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


def _melody_notes(song: _Song, rng: np.random.Generator, center: int):
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


def _reverb(x: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    rt60 = rng.uniform(0.3, 1.5)
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.91 * t / rt60)
    ir = signal.lfilter([0.35], [1.0, -0.65], ir)  # darker tail
    pre = int(rng.uniform(0.005, 0.03) * sr)
    ir = np.concatenate([np.zeros(pre), ir])
    wet = signal.fftconvolve(x, ir)[: len(x)]
    wet *= np.sqrt(np.sum(x**2) / max(np.sum(wet**2), 1e-12))
    mix = rng.uniform(0.1, 0.3)
    return (1 - mix) * x + mix * wet


def _mix(parts: List[np.ndarray], levels_db: List[float]) -> np.ndarray:
    out = np.zeros_like(parts[0])
    for p, db in zip(parts, levels_db):
        rms = np.sqrt(np.mean(p**2))
        if rms > 1e-9:
            out += p / rms * 10 ** (db / 20.0)
    return out


def _finish(x: np.ndarray, rng: np.random.Generator, sr: int, reverb_p: float = 0.6) -> np.ndarray:
    if rng.uniform() < reverb_p:
        x = _reverb(x, rng, sr)
    n = len(x)
    fade = min(int(0.02 * sr), n // 4)
    if fade > 0:
        x[-fade:] *= np.linspace(1.0, 0.0, fade)
    peak = np.abs(x).max()
    if peak < 1e-9:
        return np.zeros(n, dtype=np.float32)
    gain = 0.5 * 10 ** (rng.uniform(-6.0, 6.0) / 20.0)
    return (x / peak * gain).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------------
def _gen_key(rng, sr, duration, target):
    key = target if target is not None else KEYS[int(rng.integers(len(KEYS)))]
    if key not in KEYS:
        raise ValueError(f"unknown key {key!r}; expected one of {KEYS}")
    n = int(round(duration * sr))
    song = _Song(rng, duration, key)
    parts, levels = [], []
    kind = ["organ", "epiano", "piano", "pluck", "pad"][int(rng.integers(5))]
    style = {"organ": ["block", "beats", "offbeat"], "epiano": ["block", "beats", "offbeat"],
             "piano": ["block", "beats"], "pluck": ["arpeggio"], "pad": ["block"]}[kind]
    style = style[int(rng.integers(len(style)))]
    parts.append(_render(_Instrument(kind, rng, sr), _chord_notes(song, rng, style, rng.uniform(55, 66)), n))
    levels.append(0.0)
    if rng.uniform() < 0.9:
        bass_kind = "bass" if rng.uniform() < 0.7 else "pluck"
        low = int(rng.integers(33, 43)) + (12 if bass_kind == "pluck" else 0)
        parts.append(_render(_Instrument(bass_kind, rng, sr), _bass_notes(song, rng, low), n))
        levels.append(rng.uniform(-3.0, 1.0))
    if rng.uniform() < 0.85:
        mel_kind = ["lead", "vocals", "epiano", "pluck", "organ", "strings"][int(rng.integers(6))]
        parts.append(_render(_Instrument(mel_kind, rng, sr), _melody_notes(song, rng, int(rng.integers(67, 80))), n))
        levels.append(rng.uniform(-1.0, 3.0))
    if rng.uniform() < 0.25:
        parts.append(_drum_part(rng, sr, n, song.tempo))
        levels.append(rng.uniform(-8.0, -3.0))
    return _finish(_mix(parts, levels), rng, sr), key


def _gen_tempo(rng, sr, duration, target):
    lo, hi = TEMPO_RANGE
    bpm = float(target) if target is not None else rng.uniform(lo, hi)
    label = f"{bpm:.2f}"
    tempo = float(label)
    n = int(round(duration * sr))
    parts = [_drum_part(rng, sr, n, tempo)]
    levels = [0.0]
    if rng.uniform() < 0.6:
        song = _Song(rng, duration, KEYS[int(rng.integers(len(KEYS)))], tempo=tempo)
        if rng.uniform() < 0.5:
            parts.append(_render(_Instrument("bass", rng, sr), _bass_notes(song, rng, int(rng.integers(33, 43))), n))
            levels.append(rng.uniform(-6.0, -1.0))
        if rng.uniform() < 0.5:
            kind = ["organ", "epiano", "piano", "pad"][int(rng.integers(4))]
            style = "block" if kind == "pad" else ["block", "beats"][int(rng.integers(2))]
            parts.append(_render(_Instrument(kind, rng, sr), _chord_notes(song, rng, style, rng.uniform(55, 66)), n))
            levels.append(rng.uniform(-9.0, -3.0))
    return _finish(_mix(parts, levels), rng, sr, reverb_p=0.3), label


_TAG_INSTRUMENT = {"piano": "piano", "organ": "organ", "strings-pad": "strings", "pluck": "pluck",
                   "lead": "lead", "vocals": "vocals", "bass": "bass"}


def _gen_tagging(rng, sr, duration, target):
    if target is not None:
        tags = [target] if isinstance(target, str) else list(target)
    else:
        tags = [TAGS[int(rng.integers(len(TAGS)))]]
    unknown = set(tags) - set(TAGS)
    if unknown:
        raise ValueError(f"unknown tags {sorted(unknown)}; vocabulary is {TAGS}")
    n_tags = int(rng.integers(1, 5))
    others = [t for t in TAGS if t not in tags]
    extra = max(0, n_tags - len(tags))
    tags = tags + list(rng.choice(others, size=min(extra, len(others)), replace=False))
    tags = [t for t in TAGS if t in tags][:4]
    n = int(round(duration * sr))
    song = _Song(rng, duration, KEYS[int(rng.integers(len(KEYS)))], tempo=rng.uniform(75, 150))
    parts, levels = [], []
    for tag in tags:
        if tag == "drums":
            parts.append(_drum_part(rng, sr, n, song.tempo))
            levels.append(rng.uniform(-3.0, 0.0))
            continue
        inst = _Instrument(_TAG_INSTRUMENT[tag], rng, sr)
        if tag == "bass":
            notes = _bass_notes(song, rng, int(rng.integers(33, 43)))
        elif tag in ("piano", "organ"):
            notes = _chord_notes(song, rng, ["block", "beats", "offbeat"][int(rng.integers(3))], rng.uniform(55, 66))
        elif tag == "strings-pad":
            notes = _chord_notes(song, rng, "block", rng.uniform(55, 66))
        elif tag == "pluck":
            notes = _chord_notes(song, rng, "arpeggio", rng.uniform(60, 70))
        else:  # lead / vocals
            notes = _melody_notes(song, rng, int(rng.integers(64, 78)) + (5 if tag == "lead" else 0))
        parts.append(_render(inst, notes, n))
        levels.append(rng.uniform(-3.0, 1.0))
    return _finish(_mix(parts, levels), rng, sr), ";".join(tags)


_GENERATORS = {"key": _gen_key, "tempo": _gen_tempo, "tagging": _gen_tagging}


def generate_clip(task: str, rng, sample_rate: int = 24000, duration: float = 4.0, target=None):
    """Render one clip.

    Arguments
    ---------
    task : "key" | "tempo" | "tagging"
    rng : numpy.random.Generator (or a seed accepted by ``numpy.random.default_rng``)
    sample_rate, duration : output rate (Hz) and length (s)
    target : optional label to force (balanced datasets): a key string, a BPM, or a tag / tag list
        that must be included.

    Returns
    -------
    (wav, label): float32 numpy array of ``round(duration * sample_rate)`` samples, label string.
    """
    if task not in _GENERATORS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return _GENERATORS[task](rng, int(sample_rate), float(duration), target)


# ----------------------------------------------------------------------------------------------
# Dataset preparation
# ----------------------------------------------------------------------------------------------
def _targets(task: str, split_idx: int, n: int, seed: int) -> list:
    """Balanced per-split labels: every key / tempo stratum / tag is covered evenly."""
    rng = np.random.default_rng([seed, split_idx, 999])
    if task == "key":
        offset = int(rng.integers(len(KEYS)))
        return [KEYS[(offset + i) % len(KEYS)] for i in range(n)]
    if task == "tempo":
        lo, hi = TEMPO_RANGE
        edges = np.linspace(lo, hi, n + 1)
        bpm = edges[:-1] + rng.uniform(size=n) * (edges[1:] - edges[:-1])
        return [float(b) for b in rng.permutation(bpm)]
    offset = int(rng.integers(len(TAGS)))
    return [TAGS[(offset + i) % len(TAGS)] for i in range(n)]


def default_data_folder() -> Path:
    """The audio folder used when ``data_folder`` is None: ``$SYNTHMUSIC_DATA``, else
    ``$XDG_CACHE_HOME/petl-audio/SynthMusic`` (``~/.cache/petl-audio/SynthMusic``)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "petl-audio" / "SynthMusic"


def prepare(
    data_folder,
    save_folder,
    task: str = "key",
    n_train: int = 240,
    n_valid: int = 48,
    n_test: int = 48,
    seed: int = 1234,
    sample_rate: int = 24000,
    duration: float = 4.0,
) -> Dict[str, str]:
    """Generate (or reuse) a SynthMusic dataset and write SpeechBrain CSV manifests.

    Audio goes to ``data_folder/<task>/<split>/<ID>.wav`` (``data_folder=None``: the cache of
    :func:`default_data_folder`, so no run writes audio into the current folder; a progress bar on
    stderr names the folder while clips are generated); the options and labels are recorded in
    ``data_folder/<task>/synthmusic.json`` and generation is skipped when they match and every file
    exists. Manifests ``save_folder/{train,valid,test}.csv`` have the header ``ID,wav,duration,label``
    with absolute wav paths. Clip ``i`` of split ``s`` is seeded with
    ``numpy.random.default_rng([seed, s, i])`` (s = 0, 1, 2 for train, valid, test), so each split
    is independent of the other splits' sizes.

    Returns ``{"train": path, "valid": path, "test": path}``.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    data_dir = Path(default_data_folder() if data_folder is None else data_folder).resolve() / task
    save_dir = Path(save_folder).resolve()
    sizes = {"train": int(n_train), "valid": int(n_valid), "test": int(n_test)}
    options = {"generator_version": GENERATOR_VERSION, "task": task, "sizes": sizes, "seed": int(seed),
               "sample_rate": int(sample_rate), "duration": float(duration)}
    info_path = data_dir / _OPTIONS_FILE
    clips = None
    if info_path.exists():
        try:
            with open(info_path, encoding="utf-8") as f:
                info = json.load(f)
            if info.get("options") == options and all(
                (data_dir / split / f"{cid}.wav").exists() for split in SPLITS for cid, _ in info["clips"][split]
            ):
                clips = info["clips"]
        except (ValueError, KeyError, TypeError):
            clips = None
    if clips is None:
        clips = {}
        bar = tqdm(total=sum(sizes.values()), desc=f"generating SynthMusic {task} in {data_dir}", unit="clip",
                   file=sys.stderr)
        for split_idx, split in enumerate(SPLITS):
            split_dir = data_dir / split
            split_dir.mkdir(parents=True, exist_ok=True)
            clips[split] = []
            for i, target in enumerate(_targets(task, split_idx, sizes[split], int(seed))):
                rng = np.random.default_rng([int(seed), split_idx, i])
                wav, label = generate_clip(task, rng, sample_rate, duration, target=target)
                cid = f"synth_{task}_{split}_{i:05d}"
                out = split_dir / f"{cid}.wav"
                tmp = split_dir / f".{cid}.tmp.wav"
                sf.write(str(tmp), wav, int(sample_rate), subtype="PCM_16")  # no PEAK chunk: its timestamp varies
                os.replace(tmp, out)
                clips[split].append([cid, label])
                bar.update()
            keep = {f"{cid}.wav" for cid, _ in clips[split]}
            for stale in split_dir.glob(f"synth_{task}_{split}_*.wav"):
                if stale.name not in keep:
                    stale.unlink()
        bar.close()
        write_json_atomic({"options": options, "clips": clips}, str(info_path))
    else:
        logger.info("SynthMusic %s: reusing the %d clips in %s", task, sum(sizes.values()), data_dir)

    n_samples = int(round(float(duration) * int(sample_rate)))
    dur = round(n_samples / int(sample_rate), 4)
    manifests = {}
    for split in SPLITS:
        rows = [{"ID": cid, "wav": str(data_dir / split / f"{cid}.wav"), "duration": dur, "label": label}
                for cid, label in clips[split]]
        path = save_dir / f"{split}.csv"
        write_manifest(rows, str(path))
        manifests[split] = str(path)
    return manifests



def build_parser(task: str) -> argparse.ArgumentParser:
    """CLI of ``recipes/SynthMusic/<task>/prepare.py``."""
    parser = argparse.ArgumentParser(
        description=f"Generate the SynthMusic '{task}' dataset (offline, seeded) and its manifests.")
    parser.add_argument("--data_folder", default=str(default_data_folder()),
                        help="audio goes to <data_folder>/<task>/<split>/ (default: the cache %(default)s; "
                             f"${DATA_ENV} or $XDG_CACHE_HOME move it)")
    parser.add_argument("--save_folder", required=True, help="where train/valid/test.csv are written")
    parser.add_argument("--n_train", type=int, default=240)
    parser.add_argument("--n_valid", type=int, default=48)
    parser.add_argument("--n_test", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--sample_rate", type=int, default=24000)
    parser.add_argument("--duration", type=float, default=4.0, help="clip length in seconds")
    return parser


def cli(task: str, argv: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """Parse ``argv`` and run :func:`prepare` for ``task`` (on the main process under DDP)."""
    from petl_core.datasets import run_cli

    return run_cli(functools.partial(prepare, task=task), build_parser(task), argv)
