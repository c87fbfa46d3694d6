"""The base Brain of the frame-level recipes (beat/downbeat tracking, chord recognition).

A frame recipe's ``train.py`` subclasses :class:`FrameBrain` (the task's Brain) and its yaml holds
the objects, as every recipe (:mod:`petl_core.recipe`), plus:

* ``task``: a :class:`petl_core.frame_tasks.FrameTask` (``BeatTask``, ``ChordTask``);
* ``compute_cost``: the frame loss ``cost(logits, targets, mask)``
  (:func:`petl_core.frame_tasks.masked_bce`, :func:`~petl_core.frame_tasks.masked_cross_entropy`);
* ``frame_rate``: the head's output rate in Hz (null = the backbone's own frames, see
  :func:`lobes.frame_head.frame_timing`); beat recipes use 100 Hz (madmom's DBN rate);
* ``crop_seconds``: training excerpts; ``eval_window_seconds`` / ``eval_overlap_seconds``: whole
  tracks are evaluated in windows with that overlap, stitched (:func:`lobes.frame_head.predict_long`;
  default overlap: half a window).

What it does: the model is a :class:`lobes.frame_head.FrameModel` (encoder + per-frame head on
``hidden_states[layer]``) whose output timing is bound to the task; training batches are random
crops with the crop's frame targets; validation and test decode every whole track (madmom DBN /
chord segments) and score it against its full annotation. Each evaluated track becomes one row
``[loss, per-track items...]`` (:meth:`petl_core.frame_tasks.FrameTask.item_row`), so the shared
core gathers them across DDP ranks, averages the loss over tracks, picks the best-validation
checkpoint on ``task.main_metric`` and bootstraps the test set by track, as for clip-level tasks.
"""
from __future__ import annotations

import speechbrain as sb
import torch

from lobes.frame_head import FrameModel, predict_long
from petl_core.frame_tasks import FrameTask, align_targets, frame_dataset
from petl_core.recipe import RecipeBrain, build_head, fail, prepare_datasets


def build_frame_model(hparams, task) -> FrameModel:
    """``FrameModel(encoder, head, layer, target_rate=frame_rate)`` for ``task``'s outputs."""
    encoder = hparams["encoder"]
    return FrameModel(encoder, build_head(hparams["head"], encoder.hidden_size, task.num_outputs),
                      layer=hparams["layer"], target_rate=hparams["frame_rate"])


def frame_datasets(hparams, prepare=None) -> dict:
    """:func:`petl_core.recipe.prepare_datasets` (manifests, checks, few-shot by track), with
    the datasets of a frame task: training crops with their targets, whole evaluation tracks."""
    task = hparams["task"]
    if not isinstance(task, FrameTask):
        fail(f"task must be a frame-level task (petl_core.beat.BeatTask, petl_core.chord.ChordTask), got {task!r}")
    datasets = prepare_datasets(hparams, prepare)
    sr = hparams["encoder"].sample_rate
    datasets["train"] = frame_dataset(datasets["train_csv"], task, sr, train=True,
                                      crop_seconds=hparams.get("crop_seconds"))
    for split in ("valid", "test"):
        datasets[split] = frame_dataset(datasets["manifests"][split], task, sr, train=False)
    return datasets


class FrameBrain(RecipeBrain):
    """Brain of a frame-level task (see the module docstring)."""

    build_model = staticmethod(build_frame_model)

    def __init__(self, hparams, run_opts=None):
        for key in ("augmentation", "feature_cache"):
            if hparams.get(key):
                fail(f"{key}: not supported by the frame-level recipes yet (it would change the frame "
                     f"targets or cache crops); set {key}: null")
        super().__init__(hparams, run_opts)
        self.task.timing = self.model.timing
        window = hparams.get("eval_window_seconds") or hparams.get("crop_seconds")
        if not window:
            fail("eval_window_seconds (or crop_seconds) must be set: tracks are evaluated in windows")
        overlap = hparams.get("eval_overlap_seconds")
        self.window, self.overlap = float(window), float(window) / 2 if overlap is None else float(overlap)
        if not 0 <= self.overlap < self.window:
            fail(f"eval_overlap_seconds must be in [0, eval_window_seconds={self.window}), got {overlap}")

    def compute_forward(self, batch, stage):
        """Training: ``(logits, mask)`` of the crops. Evaluation: the stitched logits of each track."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        if stage == sb.Stage.TRAIN:
            return self.modules["model"](wavs, lens)
        n = wavs.shape[1]
        return [predict_long(self.model, wav[: int(round(float(rel) * n))], self.window, self.overlap,
                             batch_size=self.eval_chunk_size) for wav, rel in zip(wavs, lens)]

    def compute_objectives(self, predictions, batch, stage):
        """The yaml's ``compute_cost`` on the frames; in evaluation one row per decoded, scored track."""
        if stage is None:  # the stage loss from the kept rows (column 0: each track's loss)
            rows, _ = predictions
            return rows[:, 0].mean()
        targets, target_lens = batch.targets
        if stage == sb.Stage.TRAIN:
            logits, mask, targets = align_targets(*predictions, targets, target_lens)
            return self.hparams.compute_cost(logits, targets, mask)
        rows = []
        for i, logits in enumerate(predictions):
            track = targets[i, : int(round(float(target_lens[i]) * targets.shape[1]))][None]
            ones = torch.ones(1, logits.shape[0], dtype=torch.bool, device=logits.device)
            logit, mask, track = align_targets(logits[None], ones, track)
            loss = self.hparams.compute_cost(logit, track, mask)
            items = self.task.track_metrics(logits, batch.label[i], float(batch.seconds[i]))
            rows.append(self.task.item_row(float(loss), items))
        rows = torch.tensor(rows, dtype=torch.float64)
        self.keep(stage, rows, torch.zeros(len(rows)), batch)
        return rows[:, 0].mean()


class BeatBrain(FrameBrain):
    """Beat (column 0) and downbeat (column 1) activations per frame against widened targets, BCE
    (``compute_cost``); tracks decoded with madmom's DBN trackers, scored with madmom's metrics."""


class ChordBrain(FrameBrain):
    """Chord logits per frame against the .lab classes (out-of-vocabulary frames ignored),
    cross-entropy (``compute_cost``); tracks become segments scored with mir_eval.chord."""
