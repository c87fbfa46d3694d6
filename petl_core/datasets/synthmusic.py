"""SynthMusic: small synthetic music datasets with known labels, rendered offline by :mod:`petl_core.synth`.

Tasks: ``key``, ``tempo``, ``tagging`` (clip labels, see :mod:`petl_core.synth.clips`) and ``beat``,
``chord`` (frame-level: the label is the path of the clip's ``.beats`` / ``.lab`` annotation, the
GTZAN / Ballroom and Isophonics formats of :mod:`petl_core.beat` and :mod:`petl_core.chord`).

Where the clips go: ``<data_folder>/<task>/<split>-n<N>-seed<S>-<rate>hz-<duration>s-v<version>/``,
one folder per split *configuration* (``data_folder=None``: a cache shared by every run,
:func:`default_data_folder`). A folder is written once, under a lock, and never changed or deleted
afterwards, so runs with other sizes or options (at the same time or later) never touch the clips
another run's manifests point at; a split's clips do not depend on the other splits' sizes. Its
``clips.json`` (written last) lists the clips and labels; a folder without it is (re)generated.
Clip ``i`` of split ``s`` (0, 1, 2 for train, valid, test) is seeded with
``numpy.random.default_rng([seed, s, i])`` (beat, chord: ``[seed, 10 + s, i]``); the labels of a
split are balanced (every key, tag, or tempo stratum in turn). Mono 16-bit PCM WAV files, so the
same options give byte-identical files.

Manifests ``save_folder/{train,valid,test}.csv`` (``ID,wav,duration,label``, absolute paths) are
written by :func:`petl_core.manifest.prepare_once`: a rerun with the same options reuses them.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> paths = prepare(folder, folder + "/m", task="key", n_train=2, n_valid=1, n_test=1, sample_rate=8000,
    ...                 duration=0.5)  # doctest: +ELLIPSIS
    >>> sorted(paths)
    ['test', 'train', 'valid']
"""
from __future__ import annotations

import argparse
import fcntl
import functools
import json
import logging
import numbers
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from petl_core.cli_args import progress
from petl_core.manifest import OptionError, prepare_once, write_json_atomic
from petl_core.music import KEYS
from petl_core.synth import (
    BEAT_TEMPO_RANGE,
    CLIP_TASKS,
    TAGS,
    TEMPO_RANGE,
    generate_beat_clip,
    generate_chord_clip,
    generate_clip,
)

logger = logging.getLogger(__name__)

TASKS = CLIP_TASKS + ("beat", "chord")
SPLITS = ("train", "valid", "test")
#: Bump when the audio rendered for a given seed changes: new clip folders are then generated.
GENERATOR_VERSION = 1
DATA_ENV = "SYNTHMUSIC_DATA"  # overrides the cache folder
CLIPS_FILE = "clips.json"
#: per task: default sizes and clip length (s); frame tasks use longer clips
DEFAULTS = {**{t: dict(n_train=240, n_valid=48, n_test=48, duration=4.0) for t in CLIP_TASKS},
            **{t: dict(n_train=160, n_valid=32, n_test=32, duration=8.0) for t in ("beat", "chord")}}
MIN_SAMPLE_RATE = 8000  # the drum kit's band-pass and hi-hat filters need it
_SEED_STREAM = {"key": 0, "tempo": 0, "tagging": 0, "beat": 10, "chord": 10}
_ANNOTATION = {"beat": ".beats", "chord": ".lab"}


def default_data_folder() -> Path:
    """The audio folder used when ``data_folder`` is None: ``$SYNTHMUSIC_DATA``, else
    ``$XDG_CACHE_HOME/petl-audio/SynthMusic`` (``~/.cache/petl-audio/SynthMusic``)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "petl-audio" / "SynthMusic"


def split_targets(task: str, split_idx: int, n: int, seed: int) -> list:
    """Balanced labels of a split: every key / tag in turn, or one tempo per equal-width stratum."""
    rng = np.random.default_rng([seed, _SEED_STREAM[task] + split_idx, 999])
    if task in ("tempo", "beat"):
        edges = np.linspace(*(TEMPO_RANGE if task == "tempo" else BEAT_TEMPO_RANGE), n + 1)
        return [float(b) for b in rng.permutation(edges[:-1] + rng.uniform(size=n) * np.diff(edges))]
    vocabulary = TAGS if task == "tagging" else KEYS
    offset = int(rng.integers(len(vocabulary)))
    return [vocabulary[(offset + i) % len(vocabulary)] for i in range(n)]


def check_options(task: str, sizes: dict, sample_rate: int, duration: float) -> None:
    """Refuse what cannot make a dataset: :class:`~petl_core.manifest.OptionError` naming the option."""
    if task not in TASKS:
        raise OptionError(f"unknown SynthMusic task {task!r}; expected one of {', '.join(TASKS)}")
    def whole(value) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    for split, n in sizes.items():
        if not whole(n) or n < 1:
            raise OptionError(f"SynthMusic {task}: n_{split} must be a whole number of clips >= 1, got {n!r}")
    if not whole(sample_rate) or sample_rate < MIN_SAMPLE_RATE:
        raise OptionError(f"SynthMusic {task}: sample_rate must be a whole number of Hz >= {MIN_SAMPLE_RATE}, "
                          f"got {sample_rate!r}")
    shortest = 60.0 / BEAT_TEMPO_RANGE[0] if task == "beat" else 0.0  # a beat clip holds one beat at least
    if not isinstance(duration, numbers.Real) or not np.isfinite(duration) or duration <= shortest:
        raise OptionError(f"SynthMusic {task}: duration must be a finite number of seconds > {shortest:g}, "
                          f"got {duration!r}")


@contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (created), held while the block runs: one writer per clip folder."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ClipFolder:
    """The clips of one split configuration: generated once, then read-only.

    ``clips()`` returns ``[[ID, label], ...]``, generating the folder first when it has no
    ``clips.json`` (under a lock, so concurrent runs generate it once and both read it).
    """

    def __init__(self, data_dir: Path, task: str, split: str, n: int, seed: int, sample_rate: int,
                 duration: float) -> None:
        self.task, self.split, self.n, self.seed = task, split, int(n), int(seed)
        self.sample_rate, self.duration = int(sample_rate), float(duration)
        self.path = data_dir / task / (f"{split}-n{self.n}-seed{self.seed}-{self.sample_rate}hz-{self.duration:g}s"
                                       f"-v{GENERATOR_VERSION}")
        self.marker = self.path / CLIPS_FILE

    def read(self) -> list | None:
        """The finished folder's clips, or None when it is not finished (or its files are gone)."""
        try:
            with open(self.marker, encoding="utf-8") as f:
                clips = json.load(f)["clips"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        ext = _ANNOTATION.get(self.task)
        files = [self.path / f"{cid}{e}" for cid, _ in clips for e in (".wav",) + ((ext,) if ext else ())]
        return clips if len(clips) == self.n and all(f.exists() for f in files) else None

    def generate(self, bar) -> list:
        """Render the clips (unless a concurrent run just did) and write ``clips.json`` last."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path.parent / f".{self.path.name}.lock"):
            clips = self.read()
            if clips is not None:
                bar.update(self.n)
                return clips
            self.path.mkdir(exist_ok=True)
            split_idx = SPLITS.index(self.split)
            clips = []
            for i, target in enumerate(split_targets(self.task, split_idx, self.n, self.seed)):
                rng = np.random.default_rng([self.seed, _SEED_STREAM[self.task] + split_idx, i])
                cid = f"synth_{self.task}_{self.split}_{i:05d}"
                clips.append([cid, self._write_clip(cid, rng, target)])
                bar.update()
            write_json_atomic({"clips": clips}, str(self.marker))
            return clips

    def _write_clip(self, cid: str, rng: np.random.Generator, target) -> str:
        """Write ``<cid>.wav`` (and its annotation file); return the label (clip tasks) or annotation name."""
        base = str(self.path / cid)
        if self.task == "beat":
            from petl_core.beat import write_beats  # torch, madmom, mir_eval: imported by the frame tasks only

            wav, times, positions = generate_beat_clip(rng, self.sample_rate, self.duration, tempo=target)
            write_beats(base + ".beats", times, positions)
            label = cid + ".beats"
        elif self.task == "chord":
            from petl_core.chord import write_lab

            wav, intervals, labels = generate_chord_clip(rng, self.sample_rate, self.duration, key=target)
            write_lab(base + ".lab", intervals, labels)
            label = cid + ".lab"
        else:
            wav, label = generate_clip(self.task, rng, self.sample_rate, self.duration, target=target)
        tmp = self.path / f".{cid}.tmp.wav"
        sf.write(str(tmp), wav, self.sample_rate, subtype="PCM_16")  # no PEAK chunk: its timestamp varies
        os.replace(tmp, base + ".wav")
        return label

    def rows(self, clips: list) -> list[dict]:
        seconds = round(int(round(self.duration * self.sample_rate)) / self.sample_rate, 4)
        frame = self.task in _ANNOTATION
        return [{"ID": cid, "wav": str(self.path / f"{cid}.wav"), "duration": seconds,
                 "label": str(self.path / label) if frame else label} for cid, label in clips]


def prepare(data_folder, save_folder, task: str = "key", n_train: int | None = None, n_valid: int | None = None,
            n_test: int | None = None, seed: int = 1234, sample_rate: int = 24000,
            duration: float | None = None) -> dict[str, str]:
    """Generate (or reuse) the clips of ``task`` and write ``save_folder/{train,valid,test}.csv``.

    Sizes and duration default to :data:`DEFAULTS` of the task. ``data_folder=None``: the cache of
    :func:`default_data_folder`; a progress bar on stderr names the folder while clips are
    generated. Returns ``{"train": path, "valid": path, "test": path}``.
    """
    defaults = DEFAULTS.get(task, DEFAULTS["key"])
    sizes = {s: defaults[f"n_{s}"] if n is None else n for s, n in zip(SPLITS, (n_train, n_valid, n_test))}
    duration = defaults["duration"] if duration is None else duration
    check_options(task, sizes, sample_rate, duration)
    data_dir = Path(default_data_folder() if data_folder is None else data_folder).resolve()
    folders = [ClipFolder(data_dir, task, s, sizes[s], seed, sample_rate, duration) for s in SPLITS]
    options = {"dataset": "synthmusic", "generator_version": GENERATOR_VERSION,
               "clip_folders": [str(f.path) for f in folders]}

    def build():
        clips = {f.split: f.read() for f in folders}
        todo = [f for f in folders if clips[f.split] is None]
        if todo:
            with progress(None, total=sum(f.n for f in todo), unit="clip",
                          desc=f"generating SynthMusic {task} in {data_dir / task}") as bar:
                clips.update({f.split: f.generate(bar) for f in todo})
        else:
            logger.info("SynthMusic %s: reusing the clips in %s", task, data_dir / task)
        return {f.split: f.rows(clips[f.split]) for f in folders}

    return prepare_once(save_folder, SPLITS, options, build, inputs=[str(f.marker) for f in folders])


prepare_beat = functools.partial(prepare, task="beat")
prepare_chord = functools.partial(prepare, task="chord")


def build_parser(task: str) -> argparse.ArgumentParser:
    """CLI of ``recipes/SynthMusic/<task>/prepare.py`` (the task's :data:`DEFAULTS`)."""
    from petl_core.datasets import positive_number

    defaults = DEFAULTS[task]
    parser = argparse.ArgumentParser(
        description=f"Generate the SynthMusic '{task}' dataset (offline, seeded) and its manifests.")
    parser.add_argument("--data_folder", default=str(default_data_folder()),
                        help="clips go to <data_folder>/<task>/<split>-.../ (default: the cache %(default)s; "
                             f"${DATA_ENV} or $XDG_CACHE_HOME move it)")
    parser.add_argument("--save_folder", required=True, help="where train/valid/test.csv are written")
    for split in SPLITS:
        parser.add_argument(f"--n_{split}", type=positive_number(int), default=defaults[f"n_{split}"],
                            help=f"clips in the {split} split (>= 1; default %(default)s)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--sample_rate", type=positive_number(int, MIN_SAMPLE_RATE), default=24000,
                        help=f"Hz (>= {MIN_SAMPLE_RATE}; default %(default)s)")
    parser.add_argument("--duration", type=positive_number(float), default=defaults["duration"],
                        help="clip length in seconds (> 0; default %(default)s)")
    return parser


def cli(task: str, argv: Sequence[str] | None = None) -> dict[str, str]:
    """Parse ``argv`` and run :func:`prepare` for ``task`` (on the main process under DDP)."""
    from petl_core.datasets import run_cli

    return run_cli(functools.partial(prepare, task=task), build_parser(task), argv)
