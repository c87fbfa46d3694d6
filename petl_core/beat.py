"""Beat and downbeat tracking: annotation files, frame targets, madmom DBN decoding, metrics.

* Annotations: ``.beats`` text files, one beat per line: ``time [position in bar]`` (whitespace
  or tab separated; position 1 = downbeat), the format of the GTZAN (Marchand & Peeters) and
  Ballroom (Krebs et al.) beat annotations. :func:`read_beats` / :func:`write_beats`.
* Targets (:meth:`BeatTask.frame_targets`): per output frame, column 0 = beat (every beat, the
  downbeats included), column 1 = downbeat. The frame nearest to each annotated time is 1 and its
  ``widen_frames`` neighbours get ``widen`` (0.5), as in the tempo-beat-downbeat tutorial
  (Davies, Böck & Fuentes, ISMIR 2021: ``max(y, maximum_filter1d(y, 3) * 0.5)``). Loss (the recipes'
  ``compute_cost``): :func:`petl_core.frame_tasks.masked_bce`, BCE with logits over valid frames.
* Decoding (:meth:`BeatTask.bar_positions`, one decoding for the metrics, the ``.beats`` file and
  the JSON of ``tools/predict.py``): with downbeats, madmom's joint ``DBNDownBeatTrackingProcessor``
  (``beats_per_bar``, default 3 and 4) on two columns, beat that is not a downbeat and downbeat:
  ``[max(p_beat - p_down, 0), p_down]``; beat-only, ``DBNBeatTrackingProcessor`` on ``p_beat``; at the
  head's frame rate, activations kept off exactly 0 and 1 (:func:`dbn_activations`). Times are
  shifted by the centre of frame 0 (:class:`lobes.frame_head.FrameTiming`); events past the track's
  end are dropped.
* Metrics (madmom.evaluation.beats, per track, averaged over tracks as madmom's
  ``MeanBeatEvaluation``): beat F-measure (±70 ms), CMLt, AMLt; downbeat F-measure (±70 ms, the
  beat F-measure of the downbeats). madmom does not skip the first 5 s (mir_eval's
  ``trim_beats`` does): short excerpts are scored whole.

Example:
    >>> import numpy as np
    >>> from lobes.frame_head import FrameTiming
    >>> task = BeatTask(); task.timing = FrameTiming(100.0)
    >>> y = task.frame_targets((np.array([0.5, 1.0]), np.array([1, 2])), np.arange(150) / 100)
    >>> y[49:52, 0].tolist(), y[49:52, 1].tolist(), float(y[100, 1])
    ([0.5, 1.0, 0.5], [0.5, 1.0, 0.5], 0.0)
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from petl_core.frame_tasks import FrameTask


def read_beats(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(times, positions)`` of a ``.beats`` file (positions None when the file has one column)."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: beat annotation file not found")
    times, positions = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            try:
                times.append(float(fields[0]))
                positions.append(int(float(fields[1])) if len(fields) > 1 else None)
            except ValueError:
                raise ValueError(f"{path}:{n}: expected 'time [position in bar]', got {line.strip()!r}") from None
    if not times:
        raise ValueError(f"{path}: no beats in the annotation file")
    times = np.asarray(times)
    if np.any(np.diff(times) <= 0) or times[0] < 0:
        raise ValueError(f"{path}: beat times must be non-negative and increasing")
    if any(p is None for p in positions):
        return times, None
    return times, np.asarray(positions)


def write_beats(path: str, times, positions=None) -> None:
    """Write a ``.beats`` file (``time`` or ``time<TAB>position`` per line)."""
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(np.asarray(times, dtype=float)):
            f.write(f"{t:.3f}" + (f"\t{int(positions[i])}" if positions is not None else "") + "\n")


def widened(frames: np.ndarray, n: int, widen: float, widen_frames: int) -> np.ndarray:
    """Frame targets: 1 at ``frames``, ``widen`` at up to ``widen_frames`` neighbours each side."""
    y = np.zeros(n, dtype=np.float32)
    frames = frames[(frames >= 0) & (frames < n)]
    for d in range(1, widen_frames + 1):
        for f in (frames - d, frames + d):
            ok = f[(f >= 0) & (f < n)]
            y[ok] = np.maximum(y[ok], widen)
    y[frames] = 1.0
    return y


#: activations stay in [DBN_FLOOR, 1 - DBN_FLOOR]: madmom's DBN takes log(p) and log(1 - sum p)
DBN_FLOOR = 1e-6


def dbn_activations(logits, downbeats: bool) -> np.ndarray:
    """What madmom's DBNs take from logits ``[M, C]``: ``[M]`` beat probabilities, or with ``downbeats``
    ``[M, 2]`` = (beat that is not a downbeat, downbeat) = ``[max(p_beat - p_down, 0), p_down]``,
    mapped affinely into ``[DBN_FLOOR, 1 - DBN_FLOOR]`` with a row sum <= 1 - DBN_FLOOR. A probability
    of exactly 0 (or a sum of 1) would be log(0) = -inf in every path through that frame, and the
    DBN would return no beats at all for clean, confident activations.

    >>> import torch
    >>> act = dbn_activations(torch.tensor([[30.0, 30.0], [-30.0, -30.0]]), downbeats=True)
    >>> bool(act.min() > 0 and act.sum(1).max() < 1)
    True
    """
    p = torch.sigmoid(logits.detach().double()).cpu().numpy()
    if not downbeats:
        return p[:, 0] * (1 - 2 * DBN_FLOOR) + DBN_FLOOR
    pair = np.stack([np.clip(p[:, 0] - p[:, 1], 0.0, 1.0), p[:, 1]], axis=1)  # row sum = max(p_beat, p_down)
    return pair * (1 - 3 * DBN_FLOOR) + DBN_FLOOR


class BeatTask(FrameTask):
    """Beats (+ downbeats when ``downbeats``): BCE per frame, madmom DBN decoding and metrics."""

    name = "beat"
    extension = ".beats"
    main_metric = "beat_f"

    def __init__(self, downbeats: bool = True, widen: float = 0.5, widen_frames: int = 1,
                 min_bpm: float = 55.0, max_bpm: float = 215.0, beats_per_bar=(3, 4),
                 transition_lambda: float = 100.0, fmeasure_window: float = 0.07) -> None:
        super().__init__()
        if not 0 <= widen <= 1 or widen_frames < 0:
            raise ValueError(f"widen must be in [0, 1] and widen_frames >= 0, got {widen}, {widen_frames}")
        if not 0 < min_bpm < max_bpm:
            raise ValueError(f"need 0 < min_bpm < max_bpm, got {min_bpm}, {max_bpm}")
        self.downbeats = bool(downbeats)
        self.num_outputs = 2 if self.downbeats else 1
        self.item_names = ("beat_f", "cmlt", "amlt") + (("downbeat_f",) if self.downbeats else ())
        self.widen, self.widen_frames = float(widen), int(widen_frames)
        self.min_bpm, self.max_bpm = float(min_bpm), float(max_bpm)
        self.beats_per_bar = [int(b) for b in beats_per_bar]
        self.transition_lambda = float(transition_lambda)
        self.fmeasure_window = float(fmeasure_window)

    def parse(self, path, duration=None):
        """``(times, positions)`` of a ``.beats`` file. ``duration`` is not checked: a beat after the
        audio's end gets no frame target (and counts as missed in the scores)."""
        times, positions = read_beats(path)
        if self.downbeats and positions is None:
            raise ValueError(f"{path}: no bar positions (second column) for downbeat tracking; "
                             "set task downbeats: false for beat-only annotations")
        return times, positions

    def frame_targets(self, annotation, times):
        beats, positions = annotation
        timing = self._require_timing()
        n = len(times)
        start = times[0] - timing.first
        frames = timing.frame_of(beats - start)
        cols = [widened(frames, n, self.widen, self.widen_frames)]
        if self.downbeats:
            cols.append(widened(frames[positions == 1], n, self.widen, self.widen_frames))
        return torch.from_numpy(np.stack(cols, axis=1))

    def decode(self, logits, seconds):
        """``(beat times, downbeat times or None)`` of one track's logits ``[M, C]``: the events of
        :meth:`bar_positions`, so the metrics, ``write_prediction``'s file and its JSON agree."""
        rows = self.bar_positions(logits, seconds)
        if not self.downbeats:
            return rows[:, 0], None
        return rows[:, 0], rows[rows[:, 1] == 1, 0]

    def bar_positions(self, logits, seconds) -> np.ndarray:
        """``[[time, position in bar]]`` of one track, what a ``.beats`` file holds: madmom's joint
        beat/downbeat DBN (``beats_per_bar``) on ``[p_beat - p_down, p_down]`` with downbeats, else
        its beat DBN (position 0: unknown). Activations are kept inside (0, 1) and their sum below 1
        (:func:`dbn_activations`), as the probabilities the DBN's observation model takes logs of."""
        from madmom.features.beats import DBNBeatTrackingProcessor
        from madmom.features.downbeats import DBNDownBeatTrackingProcessor

        timing = self._require_timing()
        act = dbn_activations(logits, self.downbeats)
        options = dict(min_bpm=self.min_bpm, max_bpm=self.max_bpm, fps=timing.rate,
                       transition_lambda=self.transition_lambda)
        if self.downbeats:
            dbn = DBNDownBeatTrackingProcessor(beats_per_bar=self.beats_per_bar, **options)
            rows = np.asarray(dbn(act), dtype=np.float64).reshape(-1, 2)
        else:
            beats = DBNBeatTrackingProcessor(**options)(act)
            rows = np.stack([beats, np.zeros_like(beats)], axis=1).astype(np.float64)
        rows[:, 0] += timing.first
        return rows[rows[:, 0] < seconds]

    def write_prediction(self, logits, seconds, path: str) -> dict:
        """Write the track's ``.beats`` file (``time<TAB>position`` with downbeats, else ``time``);
        return the prediction (the same events): ``beats``, ``downbeats``, ``file``."""
        rows = self.bar_positions(logits, seconds)
        write_beats(path, rows[:, 0], rows[:, 1].astype(int) if self.downbeats else None)
        downbeats = rows[rows[:, 1] == 1, 0] if self.downbeats else None
        return {"beats": [round(float(t), 3) for t in rows[:, 0]], "file": path,
                "downbeats": None if downbeats is None else [round(float(t), 3) for t in downbeats]}

    def score(self, estimate, annotation):
        beats, downbeats = estimate
        ref, positions = annotation
        f, cmlt, amlt = self._evaluate(beats, ref)
        items = {"beat_f": f, "cmlt": cmlt, "amlt": amlt}
        if self.downbeats:
            ref_down = ref[positions == 1]
            items["downbeat_f"] = self._evaluate(downbeats, ref_down)[0] if len(ref_down) else float("nan")
        return items

    def _evaluate(self, est, ref) -> tuple[float, float, float]:
        """madmom's F-measure, CMLt, AMLt; with fewer than 2 reference events (no beat interval)
        only the F-measure (madmom's onset matching, as BeatEvaluation's) and NaN for the others."""
        from madmom.evaluation.beats import BeatEvaluation
        from madmom.evaluation.onsets import OnsetEvaluation

        if len(ref) < 2:
            return OnsetEvaluation(est, ref, window=self.fmeasure_window).fmeasure, float("nan"), float("nan")
        with warnings.catch_warnings():  # about the information gain of short excerpts (not reported)
            warnings.filterwarnings("ignore", "Not enough beat annotations")
            ev = BeatEvaluation(est, ref, fmeasure_window=self.fmeasure_window)
        return ev.fmeasure, ev.cmlt, ev.amlt

    def describe(self):
        return {**super().describe(), "downbeats": self.downbeats, "widen": self.widen,
                "widen_frames": self.widen_frames, "min_bpm": self.min_bpm, "max_bpm": self.max_bpm,
                "beats_per_bar": self.beats_per_bar}
