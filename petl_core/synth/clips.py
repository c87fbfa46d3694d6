"""The synthesizer's clips: one labelled clip of a task from a random generator.

* ``key``     -- 24 keys (12 tonics x major/minor). A chord progression in the key (I-IV-V-I,
  i-iv-V-i, I-vi-IV-V, i-VI-III-VII, ...) voiced by one of several synthetic instruments (drawbar
  organ, electric piano, piano, Karplus-Strong pluck arpeggio, detuned pad), with a bass line and a
  scale melody that resolves on the tonic. Label: a ``mir_eval`` key string with sharps, ``"F# minor"``.
* ``tempo``   -- drum patterns (pitch-swept sine kick, noise+tone snare, high-passed noise hi-hat; rock /
  four-on-the-floor / half-time / 16th variants) on an exact grid at a tempo in :data:`TEMPO_RANGE`,
  optionally with bass and chords. Label: the BPM with two decimals, e.g. ``"127.35"``.
* ``tagging`` -- 1-4 instruments out of :data:`TAGS` playing together in a random key and tempo.
  Label: the tags joined with ``;`` in :data:`TAGS` order.
* beats (:func:`generate_beat_clip`) -- a drum pattern in 4/4 at :data:`BEAT_TEMPO_RANGE` with, usually,
  bass and chords changing on each downbeat, starting at a random point of the first bar: the beat
  times and their positions in the bar (1 = downbeat).
* chords (:func:`generate_chord_clip`) -- a progression (triads and dominant sevenths, one chord per
  beat or per half bar) after an optional silent lead-in (``N``): segments with Harte labels.

Clips are float32, peak-normalised to 0.5 with a random gain of +-6 dB; the same generator state gives
the same samples.

Example:
    >>> import numpy as np
    >>> wav, label = generate_clip("key", np.random.default_rng([0, 0]), 16000, 1.0)
    >>> wav.dtype, wav.shape, label in KEYS
    (dtype('float32'), (16000,), True)
    >>> wav, beats, positions = generate_beat_clip(np.random.default_rng(0), 16000, 3.0)
    >>> wav.shape, bool(np.all(np.diff(beats) > 0)), set(positions) <= {1, 2, 3, 4}
    ((48000,), True, True)
    >>> wav, intervals, labels = generate_chord_clip(np.random.default_rng(0), 16000, 3.0)
    >>> round(float(intervals[-1][1]), 6), all(":" in lab or lab == "N" for lab in labels)
    (3.0, True)
"""
from __future__ import annotations

import numpy as np

from petl_core.music import KEYS, PITCH_CLASSES
from petl_core.synth.harmony import Song, bass_notes, chord_notes, melody_notes
from petl_core.synth.sound import Instrument, drum_part, finish, mix, render

TAGS = ("drums", "bass", "piano", "organ", "strings-pad", "pluck", "lead", "vocals")
CLIP_TASKS = ("key", "tempo", "tagging")
TEMPO_RANGE = (60.0, 200.0)
BEAT_TEMPO_RANGE = (110.0, 170.0)  # >= 110 BPM: the harmony changes once per bar (on the downbeat)


def _gen_key(rng, sr, duration, target):
    key = target if target is not None else KEYS[int(rng.integers(len(KEYS)))]
    if key not in KEYS:
        raise ValueError(f"unknown key {key!r}; expected one of {KEYS}")
    n = int(round(duration * sr))
    song = Song(rng, duration, key)
    parts, levels = [], []
    kind = ["organ", "epiano", "piano", "pluck", "pad"][int(rng.integers(5))]
    style = {"organ": ["block", "beats", "offbeat"], "epiano": ["block", "beats", "offbeat"],
             "piano": ["block", "beats"], "pluck": ["arpeggio"], "pad": ["block"]}[kind]
    style = style[int(rng.integers(len(style)))]
    parts.append(render(Instrument(kind, rng, sr), chord_notes(song, rng, style, rng.uniform(55, 66)), n))
    levels.append(0.0)
    if rng.uniform() < 0.9:
        bass_kind = "bass" if rng.uniform() < 0.7 else "pluck"
        low = int(rng.integers(33, 43)) + (12 if bass_kind == "pluck" else 0)
        parts.append(render(Instrument(bass_kind, rng, sr), bass_notes(song, rng, low), n))
        levels.append(rng.uniform(-3.0, 1.0))
    if rng.uniform() < 0.85:
        mel_kind = ["lead", "vocals", "epiano", "pluck", "organ", "strings"][int(rng.integers(6))]
        parts.append(render(Instrument(mel_kind, rng, sr), melody_notes(song, rng, int(rng.integers(67, 80))), n))
        levels.append(rng.uniform(-1.0, 3.0))
    if rng.uniform() < 0.25:
        parts.append(drum_part(rng, sr, n, song.tempo))
        levels.append(rng.uniform(-8.0, -3.0))
    return finish(mix(parts, levels), rng, sr), key


def _gen_tempo(rng, sr, duration, target):
    lo, hi = TEMPO_RANGE
    bpm = float(target) if target is not None else rng.uniform(lo, hi)
    label = f"{bpm:.2f}"
    tempo = float(label)
    n = int(round(duration * sr))
    parts = [drum_part(rng, sr, n, tempo)]
    levels = [0.0]
    if rng.uniform() < 0.6:
        song = Song(rng, duration, KEYS[int(rng.integers(len(KEYS)))], tempo=tempo)
        if rng.uniform() < 0.5:
            parts.append(render(Instrument("bass", rng, sr), bass_notes(song, rng, int(rng.integers(33, 43))), n))
            levels.append(rng.uniform(-6.0, -1.0))
        if rng.uniform() < 0.5:
            kind = ["organ", "epiano", "piano", "pad"][int(rng.integers(4))]
            style = "block" if kind == "pad" else ["block", "beats"][int(rng.integers(2))]
            parts.append(render(Instrument(kind, rng, sr), chord_notes(song, rng, style, rng.uniform(55, 66)), n))
            levels.append(rng.uniform(-9.0, -3.0))
    return finish(mix(parts, levels), rng, sr, reverb_p=0.3), label


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
    song = Song(rng, duration, KEYS[int(rng.integers(len(KEYS)))], tempo=rng.uniform(75, 150))
    parts, levels = [], []
    for tag in tags:
        if tag == "drums":
            parts.append(drum_part(rng, sr, n, song.tempo))
            levels.append(rng.uniform(-3.0, 0.0))
            continue
        inst = Instrument(_TAG_INSTRUMENT[tag], rng, sr)
        if tag == "bass":
            notes = bass_notes(song, rng, int(rng.integers(33, 43)))
        elif tag in ("piano", "organ"):
            notes = chord_notes(song, rng, ["block", "beats", "offbeat"][int(rng.integers(3))], rng.uniform(55, 66))
        elif tag == "strings-pad":
            notes = chord_notes(song, rng, "block", rng.uniform(55, 66))
        elif tag == "pluck":
            notes = chord_notes(song, rng, "arpeggio", rng.uniform(60, 70))
        else:  # lead / vocals
            notes = melody_notes(song, rng, int(rng.integers(64, 78)) + (5 if tag == "lead" else 0))
        parts.append(render(inst, notes, n))
        levels.append(rng.uniform(-3.0, 1.0))
    return finish(mix(parts, levels), rng, sr), ";".join(tags)


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
        raise ValueError(f"unknown task {task!r}; expected one of {CLIP_TASKS}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return _GENERATORS[task](rng, int(sample_rate), float(duration), target)


_QUALITIES = {(0, 4, 7): "maj", (0, 3, 7): "min", (0, 3, 6): "dim", (0, 4, 8): "aug", (0, 4, 7, 10): "7",
              (0, 3, 7, 10): "min7", (0, 4, 7, 11): "maj7", (0, 3, 6, 10): "hdim7"}


def chord_label(pcs) -> str:
    """Harte label of a chord given as pitch classes, root first: ``[7, 11, 2, 5]`` -> ``G:7``."""
    root = int(pcs[0]) % 12
    intervals = tuple(sorted({(int(p) - root) % 12 for p in pcs}))
    return f"{PITCH_CLASSES[root]}:{_QUALITIES[intervals]}"


def generate_beat_clip(rng: np.random.Generator, sample_rate: int, duration: float, tempo: float | None = None):
    """``(wav, beat times, positions in bar)`` of one drum-and-harmony clip."""
    tempo = float(rng.uniform(*BEAT_TEMPO_RANGE) if tempo is None else tempo)
    beat = 60.0 / tempo
    offset = float(rng.uniform(0.0, 4 * beat))
    sr, n = int(sample_rate), int(round(duration * sample_rate))
    total = int(round((duration + offset) * sr))
    song = Song(rng, (duration + offset), KEYS[int(rng.integers(len(KEYS)))], tempo=tempo)
    parts, levels = [drum_part(rng, sr, total, tempo)], [0.0]
    if rng.uniform() < 0.8:
        parts.append(render(Instrument("bass", rng, sr), bass_notes(song, rng, int(rng.integers(33, 43))), total))
        levels.append(rng.uniform(-6.0, -1.0))
    if rng.uniform() < 0.8:
        kind = ["organ", "epiano", "piano", "pad"][int(rng.integers(4))]
        style = "block" if kind == "pad" else ["block", "beats"][int(rng.integers(2))]
        parts.append(render(Instrument(kind, rng, sr), chord_notes(song, rng, style, rng.uniform(55, 66)), total))
        levels.append(rng.uniform(-9.0, -3.0))
    start = total - n
    wav = finish(mix(parts, levels)[start:], rng, sr, reverb_p=0.3)
    k = np.arange(int(np.ceil((duration + offset) / beat)) + 1)
    times = k * beat - start / sr
    keep = (times >= 0) & (times < duration)
    return wav, times[keep], (k[keep] % 4) + 1


def generate_chord_clip(rng: np.random.Generator, sample_rate: int, duration: float, key: str | None = None):
    """``(wav, intervals [S, 2], Harte labels)`` of one chord-progression clip."""
    key = KEYS[int(rng.integers(len(KEYS)))] if key is None else key
    sr, n = int(sample_rate), int(round(duration * sample_rate))
    lead = float(rng.uniform(0.2, 0.8)) if rng.uniform() < 0.5 else 0.0
    body = n - int(round(lead * sr))
    song = Song(rng, body / sr, key)
    kind = ["organ", "epiano", "piano", "pluck", "pad"][int(rng.integers(5))]
    style = {"pluck": ["arpeggio"], "pad": ["block"], "piano": ["block", "beats"]}.get(kind, ["block", "beats", "offbeat"])
    notes = chord_notes(song, rng, style[int(rng.integers(len(style)))], rng.uniform(55, 66))
    parts, levels = [render(Instrument(kind, rng, sr), notes, body)], [0.0]
    if rng.uniform() < 0.9:
        parts.append(render(Instrument("bass", rng, sr), bass_notes(song, rng, int(rng.integers(33, 43))), body))
        levels.append(rng.uniform(-3.0, 1.0))
    if rng.uniform() < 0.5:
        mel = ["lead", "vocals", "epiano", "strings"][int(rng.integers(4))]
        parts.append(render(Instrument(mel, rng, sr), melody_notes(song, rng, int(rng.integers(67, 80))), body))
        levels.append(rng.uniform(-6.0, -2.0))
    if rng.uniform() < 0.25:
        parts.append(drum_part(rng, sr, body, song.tempo))
        levels.append(rng.uniform(-8.0, -3.0))
    wav = np.concatenate([np.zeros(n - body), mix(parts, levels)])
    wav = finish(wav, rng, sr)
    t0 = (n - body) / sr
    intervals = [[0.0, t0]] if t0 > 0 else []
    labels = ["N"] if t0 > 0 else []
    for start, dur, pcs, _, _ in song.chords:
        intervals.append([t0 + start, min(t0 + start + dur, duration)])
        labels.append(chord_label(pcs))
    intervals = np.asarray([iv for iv in intervals if iv[1] > iv[0]])
    return wav, intervals, labels[: len(intervals)]

