"""Chord recognition: ``.lab`` files, chord vocabularies, frame targets, segments, mir_eval metrics.

* Annotations: ``.lab`` files (``start end label`` per line, Harte syntax, e.g. ``C:maj``,
  ``A:min7/b3``, ``N``), the Isophonics format; parsed line by line and validated with
  ``mir_eval.chord``; a segment ending before it starts, overlapping the previous one or (given the
  audio's duration) ending after the audio is an error naming the file and line (:func:`read_lab`,
  :func:`write_lab`).
* Vocabularies (:data:`VOCABULARIES`): ``majmin`` = ``N`` + 12 roots x {maj, min} (25 classes);
  ``extended`` = ``N`` + 12 roots x the 14 qualities maj, min, 7, maj7, min7, dim, aug, sus4, sus2,
  maj6, min6, minmaj7, dim7, hdim7 (169 classes; the qualities of McFee & Bello, ISMIR 2017).
  A chord maps to its root and the LARGEST vocabulary quality whose pitch classes (relative to
  the root, bass ignored, as ``mir_eval.chord.encode``) are all in the chord (ties: the earlier
  quality above): ``C:9`` -> ``C:7`` (extended) / ``C:maj`` (majmin), ``C:maj7/3`` -> ``C:maj7`` /
  ``C:maj``. Chords that contain no vocabulary quality (majmin: ``dim``, ``aug``, ``sus``, ``5``,
  ``1``) and ``X`` are ignored in the loss (target -100), as the ``majmin`` metric excludes them.
* Loss (the recipes' ``compute_cost``): :func:`petl_core.frame_tasks.masked_cross_entropy`
  over valid frames. Decoding: arg-max per frame, runs of equal classes
  become segments whose boundaries lie midway between frame centres (:meth:`ChordTask.decode`).
* Metrics: ``mir_eval.chord`` comparisons root, majmin, mirex, thirds, triads, sevenths, tetrads
  on the reference / estimate merged exactly as ``mir_eval.chord.evaluate`` does; per track they
  equal ``mir_eval.chord.evaluate``; over a set they are duration-weighted (total correct
  duration / total scored duration, the MIREX "WCSR").

Example:
    >>> task = ChordTask("majmin")
    >>> task.num_outputs, [task.classes[task.class_of(c)] for c in ("N", "Eb:min7", "G:9/5")]
    (25, ['N', 'D#:min', 'G:maj'])
    >>> task.class_of("B:dim")
    -100
"""
from __future__ import annotations

import os

import mir_eval
import numpy as np
import torch

from petl_core.frame_tasks import FrameTask
from petl_core.music import PITCH_CLASSES

VOCABULARIES = {
    "majmin": ["maj", "min"],
    "extended": ["maj", "min", "7", "maj7", "min7", "dim", "aug", "sus4", "sus2", "maj6", "min6", "minmaj7",
                 "dim7", "hdim7"],
}
METRICS = ("root", "majmin", "mirex", "thirds", "triads", "sevenths", "tetrads")
IGNORE = -100


#: seconds two segments may overlap, or a segment may reach past the audio, through rounding of the times
LAB_TOLERANCE = 1e-3


def read_lab(path: str, duration: float | None = None) -> tuple[np.ndarray, list[str]]:
    """``(intervals [N, 2], labels)`` of a ``.lab`` file (``start end label`` per line, blank lines and
    ``#`` comments skipped). Raises one ``ValueError`` naming the file and line for a malformed line, an
    invalid chord label, a segment that ends before it starts, a segment that starts before the previous
    one ends, or (given the audio's ``duration``) a segment that ends after the audio; mir_eval refuses
    such segments, and scoring them would count time that is not in the track.
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: chord annotation file not found")
    intervals, labels, prev = [], [], None
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            where = f"{path}:{n}"
            try:
                start, end = float(fields[0]), float(fields[1])
                label = fields[2]
            except (ValueError, IndexError):
                raise ValueError(f"{where}: expected 'start end label', got {line.strip()!r}") from None
            if len(fields) > 3:
                raise ValueError(f"{where}: expected 'start end label', got {line.strip()!r}")
            if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end < start:
                raise ValueError(f"{where}: segment {start:g}-{end:g} s ends before it starts (or is negative); "
                                 "fix the times")
            if prev is not None and start < prev[1] - LAB_TOLERANCE:
                raise ValueError(f"{where}: segment {start:g}-{end:g} s overlaps the previous one "
                                 f"({prev[0]:g}-{prev[1]:g} s, line {prev[2]}); segments must be in time order "
                                 "and not overlap")
            if duration is not None and end > duration + LAB_TOLERANCE:
                raise ValueError(f"{where}: segment {start:g}-{end:g} s ends after the audio ({duration:g} s); "
                                 "trim the annotation or use the audio it was made for")
            try:
                mir_eval.chord.encode(label)
            except mir_eval.chord.InvalidChordException as exc:
                raise ValueError(f"{where}: invalid chord label {label!r} ({exc})") from None
            intervals.append([start, end])
            labels.append(label)
            prev = (start, end, n)
    if not labels:
        raise ValueError(f"{path}: no chord segments")
    return np.asarray(intervals, dtype=float), labels


def write_lab(path: str, intervals, labels) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for (start, end), label in zip(np.asarray(intervals, dtype=float), labels):
            f.write(f"{start:.6f}\t{end:.6f}\t{label}\n")


class ChordTask(FrameTask):
    """Chord classes per frame over a vocabulary (``majmin`` or ``extended``); CE; mir_eval metrics."""

    name = "chord"
    extension = ".lab"
    main_metric = "majmin"

    def __init__(self, vocabulary: str = "majmin") -> None:
        super().__init__()
        if vocabulary not in VOCABULARIES:
            raise ValueError(f"unknown chord vocabulary {vocabulary!r}; valid: {', '.join(VOCABULARIES)}")
        self.vocabulary = vocabulary
        self.qualities = VOCABULARIES[vocabulary]
        self.classes = ["N"] + [f"{r}:{q}" for r in PITCH_CLASSES for q in self.qualities]
        self.num_outputs = len(self.classes)
        self.item_names = tuple(f"{m}_{part}" for m in METRICS for part in ("num", "den"))
        bitmaps = [np.asarray(mir_eval.chord.QUALITIES[q]).astype(bool) for q in self.qualities]
        # larger qualities first, vocabulary order among equals
        self._templates = sorted(enumerate(bitmaps), key=lambda t: (-int(t[1].sum()), t[0]))
        self._class_cache: dict[str, int] = {}

    def class_of(self, label: str) -> int:
        """Class index of a Harte chord label (``IGNORE`` when outside the vocabulary or ``X``)."""
        if label in self._class_cache:
            return self._class_cache[label]
        root, bitmap, _ = mir_eval.chord.encode(label)
        if root < 0:
            index = 0 if bitmap.sum() == 0 else IGNORE  # N (all zero) or X (all -1)
        else:
            notes = bitmap.astype(bool)
            index = IGNORE
            for q, template in self._templates:
                if np.all(notes[template]):
                    index = 1 + (root % 12) * len(self.qualities) + q
                    break
        self._class_cache[label] = index
        return index

    def parse(self, path, duration=None):
        """``(intervals, labels, classes)`` of a ``.lab`` file (:func:`read_lab`: with the audio's
        ``duration``, a segment ending after the audio is an error)."""
        intervals, labels = read_lab(path, duration)
        return intervals, labels, np.array([self.class_of(lab) for lab in labels])

    def frame_targets(self, annotation, times):
        intervals, _, classes = annotation
        seg = np.searchsorted(intervals[:, 0], times, side="right") - 1
        inside = (seg >= 0) & (times < intervals[np.clip(seg, 0, None), 1])
        return torch.from_numpy(np.where(inside, classes[np.clip(seg, 0, None)], IGNORE).astype(np.int64))

    def decode(self, logits, seconds):
        """``(intervals [S, 2], labels)``: runs of the per-frame arg-max over ``[0, seconds]``."""
        timing = self._require_timing()
        pred = logits.argmax(-1).cpu().numpy()
        change = np.flatnonzero(np.diff(pred)) + 1
        starts = np.concatenate([[0], change])
        bounds = np.concatenate([[0.0], timing.first + (change - 0.5) / timing.rate, [seconds]])
        bounds = np.clip(bounds, 0.0, seconds)
        intervals = np.stack([bounds[:-1], bounds[1:]], axis=1)
        keep = intervals[:, 1] > intervals[:, 0]
        return intervals[keep], [self.classes[pred[s]] for s, k in zip(starts, keep) if k]

    def write_prediction(self, logits, seconds, path: str) -> dict:
        """Write the track's ``.lab`` file; return the prediction: ``segments`` [[start, end, label]], ``file``."""
        intervals, labels = self.decode(logits, seconds)
        write_lab(path, intervals, labels)
        return {"segments": [[round(float(a), 3), round(float(b), 3), lab] for (a, b), lab in zip(intervals, labels)],
                "file": path}

    def score(self, estimate, annotation):
        """Per track: ``<metric>_num`` (correct seconds), ``<metric>_den`` (scored seconds), ``<metric>``."""
        est_intervals, est_labels = estimate
        ref_intervals, ref_labels = annotation[0], annotation[1]
        est_intervals, est_labels = mir_eval.util.adjust_intervals(
            np.asarray(est_intervals), list(est_labels), ref_intervals.min(), ref_intervals.max(),
            mir_eval.chord.NO_CHORD, mir_eval.chord.NO_CHORD)
        intervals, ref, est = mir_eval.util.merge_labeled_intervals(ref_intervals, ref_labels, est_intervals,
                                                                    est_labels)
        durations = mir_eval.util.intervals_to_durations(intervals)
        items = {}
        for metric in METRICS:
            comparison = np.asarray(getattr(mir_eval.chord, metric)(ref, est))
            scored = comparison >= 0
            items[f"{metric}_num"] = float(np.sum(durations[scored] * comparison[scored]))
            items[f"{metric}_den"] = float(np.sum(durations[scored]))
            items[metric] = items[f"{metric}_num"] / items[f"{metric}_den"] if items[f"{metric}_den"] else 0.0
        return items

    def summarise(self, items, idx=None):
        """Duration-weighted over tracks (the per-track values are only reported per track)."""
        out = {}
        for metric in METRICS:
            num = np.asarray(items[f"{metric}_num"], dtype=float)
            den = np.asarray(items[f"{metric}_den"], dtype=float)
            if idx is not None:
                num, den = num[idx], den[idx]
            out[metric] = float(num.sum() / den.sum()) if den.sum() > 0 else float("nan")
        return out

    def describe(self):
        return {**super().describe(), "vocabulary": self.vocabulary, "classes": self.classes}
