"""SynthMusic for frame-level tasks: clips with known beat times, downbeats and chord segments.

Rendered with the instruments, drum kit and harmony of :mod:`petl_core.datasets.synthmusic`:

* ``beat`` -- a drum pattern (rock / four-on-the-floor / half-time / 16th variants, 4/4) at 110-170
  BPM with, usually, bass and chords that change on each downbeat; the clip starts at a random
  point of the first bar. Annotation ``<ID>.beats``: ``time<TAB>position in bar`` (1 = downbeat),
  the GTZAN / Ballroom format (:func:`petl_core.beat.read_beats`).
* ``chord`` -- a chord progression in one of 24 keys (the key recipe's progressions: triads and
  dominant sevenths, one chord per beat or per half bar) voiced by one instrument, with bass and
  sometimes a melody or drums, after an optional silent lead-in (``N``). Annotation ``<ID>.lab``:
  ``start end label`` in Harte syntax with sharps (``C:maj``, ``A:min``, ``G:7``).

Files: ``<data_folder>/<task>/<split>/<ID>.{wav,beats|lab}`` (``data_folder=None``: the SynthMusic
cache folder, :func:`petl_core.datasets.synthmusic.default_data_folder`). Manifests
``ID,wav,duration,label`` with ``label`` = the annotation path. Clip ``i`` of split ``s`` is seeded
with ``numpy.random.default_rng([seed, 10 + s, i])``; generation is skipped when
``synthmusic_frames.json`` records the same options and every file exists.

Example:
    >>> import numpy as np
    >>> wav, beats, positions = generate_beat_clip(np.random.default_rng(0), 16000, 3.0)
    >>> wav.shape, bool(np.all(np.diff(beats) > 0)), set(positions) <= {1, 2, 3, 4}
    ((48000,), True, True)
    >>> wav, intervals, labels = generate_chord_clip(np.random.default_rng(0), 16000, 3.0)
    >>> round(float(intervals[-1][1]), 6), all(":" in lab or lab == "N" for lab in labels)
    (3.0, True)
"""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from petl_core.beat import write_beats
from petl_core.chord import ROOTS, write_lab
from petl_core.datasets.synthmusic import (
    KEYS,
    _bass_notes,
    _chord_notes,
    _drum_part,
    _finish,
    _Instrument,
    _melody_notes,
    _mix,
    _render,
    _Song,
    default_data_folder,
)
from petl_core.manifest import write_json_atomic, write_manifest

TASKS = ("beat", "chord")
SPLITS = ("train", "valid", "test")
BEAT_TEMPO_RANGE = (110.0, 170.0)  # >= 110 BPM: the harmony changes once per bar (on the downbeat)
GENERATOR_VERSION = 1
_OPTIONS_FILE = "synthmusic_frames.json"
_QUALITIES = {(0, 4, 7): "maj", (0, 3, 7): "min", (0, 3, 6): "dim", (0, 4, 8): "aug", (0, 4, 7, 10): "7",
              (0, 3, 7, 10): "min7", (0, 4, 7, 11): "maj7", (0, 3, 6, 10): "hdim7"}


def chord_label(pcs) -> str:
    """Harte label of a chord given as pitch classes, root first: ``[7, 11, 2, 5]`` -> ``G:7``."""
    root = int(pcs[0]) % 12
    intervals = tuple(sorted({(int(p) - root) % 12 for p in pcs}))
    return f"{ROOTS[root]}:{_QUALITIES[intervals]}"


def generate_beat_clip(rng: np.random.Generator, sample_rate: int, duration: float, tempo: float | None = None):
    """``(wav, beat times, positions in bar)`` of one drum-and-harmony clip."""
    tempo = float(rng.uniform(*BEAT_TEMPO_RANGE) if tempo is None else tempo)
    beat = 60.0 / tempo
    offset = float(rng.uniform(0.0, 4 * beat))
    sr, n = int(sample_rate), int(round(duration * sample_rate))
    total = int(round((duration + offset) * sr))
    song = _Song(rng, (duration + offset), KEYS[int(rng.integers(len(KEYS)))], tempo=tempo)
    parts, levels = [_drum_part(rng, sr, total, tempo)], [0.0]
    if rng.uniform() < 0.8:
        parts.append(_render(_Instrument("bass", rng, sr), _bass_notes(song, rng, int(rng.integers(33, 43))), total))
        levels.append(rng.uniform(-6.0, -1.0))
    if rng.uniform() < 0.8:
        kind = ["organ", "epiano", "piano", "pad"][int(rng.integers(4))]
        style = "block" if kind == "pad" else ["block", "beats"][int(rng.integers(2))]
        parts.append(_render(_Instrument(kind, rng, sr), _chord_notes(song, rng, style, rng.uniform(55, 66)), total))
        levels.append(rng.uniform(-9.0, -3.0))
    start = total - n
    wav = _finish(_mix(parts, levels)[start:], rng, sr, reverb_p=0.3)
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
    song = _Song(rng, body / sr, key)
    kind = ["organ", "epiano", "piano", "pluck", "pad"][int(rng.integers(5))]
    style = {"pluck": ["arpeggio"], "pad": ["block"], "piano": ["block", "beats"]}.get(kind, ["block", "beats", "offbeat"])
    notes = _chord_notes(song, rng, style[int(rng.integers(len(style)))], rng.uniform(55, 66))
    parts, levels = [_render(_Instrument(kind, rng, sr), notes, body)], [0.0]
    if rng.uniform() < 0.9:
        parts.append(_render(_Instrument("bass", rng, sr), _bass_notes(song, rng, int(rng.integers(33, 43))), body))
        levels.append(rng.uniform(-3.0, 1.0))
    if rng.uniform() < 0.5:
        mel = ["lead", "vocals", "epiano", "strings"][int(rng.integers(4))]
        parts.append(_render(_Instrument(mel, rng, sr), _melody_notes(song, rng, int(rng.integers(67, 80))), body))
        levels.append(rng.uniform(-6.0, -2.0))
    if rng.uniform() < 0.25:
        parts.append(_drum_part(rng, sr, body, song.tempo))
        levels.append(rng.uniform(-8.0, -3.0))
    wav = np.concatenate([np.zeros(n - body), _mix(parts, levels)])
    wav = _finish(wav, rng, sr)
    t0 = (n - body) / sr
    intervals = [[0.0, t0]] if t0 > 0 else []
    labels = ["N"] if t0 > 0 else []
    for start, dur, pcs, _, _ in song.chords:
        intervals.append([t0 + start, min(t0 + start + dur, duration)])
        labels.append(chord_label(pcs))
    intervals = np.asarray([iv for iv in intervals if iv[1] > iv[0]])
    return wav, intervals, labels[: len(intervals)]


def _write_clip(task, rng, sample_rate, duration, target, base: Path) -> None:
    if task == "beat":
        wav, times, positions = generate_beat_clip(rng, sample_rate, duration, tempo=target)
        write_beats(str(base) + ".beats", times, positions)
    else:
        wav, intervals, labels = generate_chord_clip(rng, sample_rate, duration, key=target)
        write_lab(str(base) + ".lab", intervals, labels)
    tmp = base.parent / f".{base.name}.tmp.wav"
    sf.write(str(tmp), wav, int(sample_rate), subtype="PCM_16")
    os.replace(tmp, str(base) + ".wav")


def _targets(task: str, split_idx: int, n: int, seed: int) -> list:
    """Stratified tempi (beat) / every key in turn (chord), so each split covers the range evenly."""
    rng = np.random.default_rng([seed, 10 + split_idx, 999])
    if task == "beat":
        edges = np.linspace(*BEAT_TEMPO_RANGE, n + 1)
        return [float(b) for b in rng.permutation(edges[:-1] + rng.uniform(size=n) * np.diff(edges))]
    offset = int(rng.integers(len(KEYS)))
    return [KEYS[(offset + i) % len(KEYS)] for i in range(n)]


def prepare(data_folder, save_folder, task: str = "beat", n_train: int = 160, n_valid: int = 32, n_test: int = 32,
            seed: int = 1234, sample_rate: int = 24000, duration: float = 8.0) -> dict[str, str]:
    """Generate (or reuse) the clips and annotations of ``task``; write the manifests; return their paths."""
    if task not in TASKS:
        raise ValueError(f"unknown SynthMusic frame task {task!r}; expected one of {TASKS}")
    data_dir = Path(default_data_folder() if data_folder is None else data_folder).resolve() / task
    ext = ".beats" if task == "beat" else ".lab"
    sizes = {"train": int(n_train), "valid": int(n_valid), "test": int(n_test)}
    options = {"generator_version": GENERATOR_VERSION, "task": task, "sizes": sizes, "seed": int(seed),
               "sample_rate": int(sample_rate), "duration": float(duration)}
    ids = {s: [f"synth_{task}_{s}_{i:05d}" for i in range(sizes[s])] for s in SPLITS}
    info_path = data_dir / _OPTIONS_FILE
    done = info_path.exists() and json.loads(info_path.read_text()).get("options") == options and all(
        (data_dir / s / (cid + e)).exists() for s in SPLITS for cid in ids[s] for e in (".wav", ext))
    if not done:
        with tqdm(total=sum(sizes.values()), desc=f"generating SynthMusic {task} in {data_dir}", unit="clip",
                  file=sys.stderr) as bar:
            for split_idx, split in enumerate(SPLITS):
                (data_dir / split).mkdir(parents=True, exist_ok=True)
                for i, target in enumerate(_targets(task, split_idx, sizes[split], int(seed))):
                    rng = np.random.default_rng([int(seed), 10 + split_idx, i])
                    _write_clip(task, rng, sample_rate, duration, target, data_dir / split / ids[split][i])
                    bar.update()
        write_json_atomic({"options": options}, str(info_path))
    dur = round(int(round(float(duration) * int(sample_rate))) / int(sample_rate), 4)
    manifests = {}
    for split in SPLITS:
        rows = [{"ID": cid, "wav": str(data_dir / split / f"{cid}.wav"), "duration": dur,
                 "label": str(data_dir / split / (cid + ext))} for cid in ids[split]]
        manifests[split] = write_manifest(rows, str(Path(save_folder).resolve() / f"{split}.csv"))
    return manifests


def prepare_beat(data_folder, save_folder, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="beat", **kwargs)


def prepare_chord(data_folder, save_folder, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="chord", **kwargs)


def cli(task: str, argv=None) -> dict[str, str]:
    """``recipes/SynthMusic/<task>/prepare.py``: SynthMusic's CLI with this module's defaults."""
    from petl_core.datasets import run_cli
    from petl_core.datasets.synthmusic import build_parser

    parser = build_parser(task)
    parser.set_defaults(n_train=160, n_valid=32, n_test=32, duration=8.0)
    return run_cli(functools.partial(prepare, task=task), parser, argv)
