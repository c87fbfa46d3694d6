"""Frame-level tasks (beat/downbeat tracking, chord recognition): what they share.

A frame task's manifest ``label`` is the path of the track's annotation file (``.beats``,
``.lab``). The task

* parses it once (:meth:`FrameTask.annotation`, cached; a bad file raises one ``ValueError``
  naming it), so :func:`petl_core.manifest.check_manifest` validates every annotation before
  training through :meth:`FrameTask.encode`, and :func:`frame_dataset` checks each one against its
  audio's ``duration`` (:meth:`FrameTask.check_annotations`: a chord segment ending after the audio
  is one :class:`~petl_core.manifest.ManifestError` for the whole manifest);
* turns it into frame targets for any excerpt ``[start, start + seconds)`` at the model's output
  frames (:attr:`FrameTask.timing`, a :class:`lobes.frame_head.FrameTiming`: the task bound to a
  model's output frames is a new task, ``task.with_timing(timing)``);
* is trained with the yaml's ``compute_cost``, a masked frame loss ``cost(logits [B, M, C],
  targets, mask [B, M])`` (:func:`masked_bce` for beats, :func:`masked_cross_entropy` for chords);
* samples few-shot subsets by track (``few_shot_k`` = k training tracks);
* decodes a whole track's logits into events (beat times, chord segments) and scores them
  against the full annotation (:meth:`FrameTask.track_metrics`); :meth:`FrameTask.summarise`
  aggregates per-track items (mean over tracks, or duration-weighted for chords), also for
  bootstrap resamples (``idx``).

:func:`frame_dataset` is the SpeechBrain dataset of a frame task: random crops of
``crop_seconds`` for training (targets of the crop), whole tracks for evaluation.

Example:
    >>> import torch
    >>> from lobes.frame_head import FrameTiming
    >>> masked_mean(torch.tensor([[1.0, 3.0, 100.0]]), torch.tensor([[True, True, False]])).item()
    2.0
"""
from __future__ import annotations

import random

import numpy as np
import speechbrain as sb
import torch
import torch.nn.functional as F
from speechbrain.dataio.dataset import DynamicItemDataset

from lobes.audio import load_audio
from lobes.frame_head import FrameTiming
from petl_core.manifest import ManifestError, read_manifest
from petl_core.tasks import Task


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (``[B, M]``) over ``mask``."""
    weights = mask.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp(min=1.0)


def align_targets(logits: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
                  target_lengths: torch.Tensor | None = None):
    """``(logits, mask, targets)`` cut to their common frames; padded target frames masked out."""
    n = min(logits.shape[1], targets.shape[1])
    mask = mask[:, :n]
    if target_lengths is not None:
        valid = torch.round(target_lengths.to(logits.device).float() * targets.shape[1]).long()
        mask = mask & (torch.arange(n, device=logits.device)[None] < valid[:, None])
    return logits[:, :n].float(), mask, targets[:, :n].to(logits.device)


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits, averaged over outputs and valid frames (beats)."""
    bce = F.binary_cross_entropy_with_logits(logits, targets.float(), reduction="none").mean(-1)
    return masked_mean(bce, mask)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                         ignore_index: int = -100) -> torch.Tensor:
    """Cross-entropy over valid frames whose target is not ``ignore_index`` (chords)."""
    targets = torch.where(mask, targets, torch.full_like(targets, ignore_index))
    if not bool((targets != ignore_index).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index)


class FrameTask(Task):
    """Base class; subclasses define ``parse``, ``frame_targets``, ``decode``, ``score``."""

    name = "frame"
    main_metric: str
    num_outputs: int
    frame_level = True

    def __init__(self) -> None:
        self.timing: FrameTiming | None = None
        self._cache: dict[str, object] = {}  # parsed annotations (a memo, shared by the task's copies)

    def with_timing(self, timing: FrameTiming) -> "FrameTask":
        """The task bound to a model's output frames (a new task)."""
        return self._with(timing=timing)

    # ------------------------------------------------------------------ annotations
    def parse(self, path: str, duration: float | None = None):
        """The annotation of ``path``; given the audio's ``duration`` (seconds), checked against it."""
        raise NotImplementedError

    def annotation(self, path: str):
        """The parsed annotation file (cached)."""
        if path not in self._cache:
            self._cache[path] = self.parse(path)
        return self._cache[path]

    def check_annotations(self, csv_path: str, max_listed: int = 10) -> None:
        """Parse every annotation of a manifest against its row's audio ``duration`` (and cache it).
        Raises one :class:`~petl_core.manifest.ManifestError` naming the manifest and listing each
        problem (up to ``max_listed``): a file that does not parse, or one that does not fit its audio."""
        problems = []
        for line, row in enumerate(read_manifest(csv_path), start=2):  # line numbers, after the header
            try:
                self._cache[row["label"]] = self.parse(row["label"], float(row["duration"]))
            except ValueError as exc:
                problems.append(f"line {line} (ID={row['ID']!r}): {exc}")
        if problems:
            more = f"\n  ... and {len(problems) - max_listed} more" if len(problems) > max_listed else ""
            raise ManifestError(f"{csv_path}: {len(problems)} annotation(s) do not fit their audio:\n  "
                                + "\n  ".join(problems[:max_listed]) + more)

    def encode(self, label: str):
        """Validate one manifest label (the annotation path); returns the parsed annotation."""
        if not label:
            raise ValueError("empty label: a frame task's label is the path of the annotation file")
        return self.annotation(label)

    def _require_timing(self) -> FrameTiming:
        if self.timing is None:
            raise RuntimeError(f"{type(self).__name__} has no timing: bind the model's output timing "
                               "(task.with_timing(frame_model.timing)) before making targets")
        return self.timing

    def targets(self, label: str, start: float, seconds: float) -> torch.Tensor:
        """Targets ``[n_frames, ...]`` of the excerpt ``[start, start + seconds)`` of a track."""
        timing = self._require_timing()
        times = start + timing.times(timing.num_frames(seconds))
        return self.frame_targets(self.annotation(label), times)

    def frame_targets(self, annotation, times: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------ few-shot
    def few_shot_class(self, label: str) -> str:
        """Few-shot by track: every training track counts for one class, so k = k tracks."""
        return "track"

    # ------------------------------------------------------------------ evaluation
    def decode(self, logits: torch.Tensor, seconds: float):
        """Events of one track from its logits ``[M, C]``."""
        raise NotImplementedError

    def track_metrics(self, logits: torch.Tensor, label: str, seconds: float) -> dict:
        """Per-track metric items of one track's logits against its full annotation."""
        return self.score(self.decode(logits, seconds), self.annotation(label))

    def score(self, estimate, annotation) -> dict:
        raise NotImplementedError

    def write_prediction(self, logits: torch.Tensor, seconds: float, path: str) -> dict:
        """Write one track's predicted annotation file (``.beats`` / ``.lab``); return it as a dict."""
        raise NotImplementedError

    #: extension of the annotation files
    extension = ""

    #: the per-track values :meth:`score` returns, in the order of the rows of :meth:`item_metrics`
    item_names: tuple[str, ...] = ()

    def item_metrics(self, rows: torch.Tensor, labels=None) -> dict:
        """Per-track items from evaluation rows ``[n_tracks, 1 + len(item_names)]`` (column 0: the
        track's loss, then :attr:`item_names`), as the training core collects them."""
        rows = rows.double().cpu().numpy()
        return {name: rows[:, 1 + j] for j, name in enumerate(self.item_names)}

    def item_row(self, loss: float, items: dict) -> list[float]:
        """One evaluation row: ``[loss, *items in item_names order]``."""
        return [float(loss)] + [float(items[name]) for name in self.item_names]

    def summarise(self, items: dict, idx: np.ndarray | None = None) -> dict:
        """Mean over tracks (NaN items, e.g. a track without downbeats, are left out)."""
        out = {}
        for key, values in items.items():
            values = np.asarray(values, dtype=float)
            values = values if idx is None else values[idx]
            values = values[np.isfinite(values)]
            out[key] = float(values.mean()) if values.size else float("nan")
        return out

    def describe(self) -> dict:
        return {"name": self.name, "num_outputs": self.num_outputs, "main_metric": self.main_metric,
                "frame_rate": None if self.timing is None else self.timing.rate}


def frame_dataset(csv_path: str, task: FrameTask, sample_rate: int, train: bool,
                  crop_seconds: float | None = None) -> DynamicItemDataset:
    """SpeechBrain dataset with ``sig`` and ``targets`` (the targets of the crop, or whole track), from
    a manifest whose annotations fit their audio (:meth:`FrameTask.check_annotations`, else one error).

    Training items are random crops of ``crop_seconds`` (start from the global ``random``
    module, seeded by the recipe); evaluation items are whole tracks (``seconds`` = their length)
    and keep the annotation path in ``label`` for :meth:`FrameTask.track_metrics`.
    """
    task.check_annotations(csv_path)
    dataset = DynamicItemDataset.from_csv(csv_path)

    @sb.utils.data_pipeline.takes("wav", "duration", "label")
    @sb.utils.data_pipeline.provides("sig", "targets", "seconds")
    def pipeline(wav, duration, label):
        duration = float(duration)
        start, seconds = 0.0, duration
        if train and crop_seconds and duration > crop_seconds:
            start, seconds = random.uniform(0.0, duration - crop_seconds), float(crop_seconds)
            sig = load_audio(wav, sample_rate, start=start, duration=seconds)
        else:
            sig = load_audio(wav, sample_rate)
            seconds = sig.shape[-1] / sample_rate
        yield sig
        yield task.targets(label, start, seconds)
        yield seconds

    sb.dataio.dataset.add_dynamic_item([dataset], pipeline)
    sb.dataio.dataset.set_output_keys([dataset], ["id", "sig", "targets", "seconds", "label"])
    return dataset
