"""The frame Brain: per-frame predictions (beat/downbeat tracking, chord recognition).

A frame recipe's ``train.py`` uses :class:`FrameBrain` and :func:`frame_datasets`; its yaml holds
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
``hidden_states[layer]``) whose output timing is the task's (:func:`frame_datasets` binds the task
to it: ``task.with_timing``); training batches are random crops with the crop's frame targets;
validation and test decode every whole track (madmom DBN / chord segments) and score it against its
full annotation. Each evaluated track becomes one row ``[loss, per-track items...]``
(:meth:`petl_core.frame_tasks.FrameTask.item_row`), so the shared mechanics gather them across DDP
ranks, average the loss over tracks, pick the best-validation checkpoint on ``task.main_metric``
and bootstrap the test set by track, as for clip-level tasks.
"""
from __future__ import annotations

import speechbrain as sb
import torch

from lobes.frame_head import FrameModel, FrameTiming, frame_timing, predict_long
from petl_core.brain import PETLBrain
from petl_core.build import build_head
from petl_core.errors import ConfigError
from petl_core.frame_tasks import FrameTask, align_targets, frame_dataset
from petl_core.recipe import RecipeData, prepare_manifests


def build_frame_model(hparams, task) -> FrameModel:
    """``FrameModel(encoder, head, layer, target_rate=frame_rate)`` for ``task``'s outputs."""
    encoder = hparams["encoder"]
    return FrameModel(encoder, build_head(hparams["head"], encoder.hidden_size, task.num_outputs, frames=True),
                      layer=hparams["layer"], target_rate=hparams["frame_rate"])


def output_timing(hparams) -> FrameTiming:
    """The frames the model will output: ``frame_rate`` Hz, or the backbone's own frames
    (as :class:`lobes.frame_head.FrameModel` sets its ``timing``; the Brain checks they agree)."""
    rate = hparams["frame_rate"]
    return frame_timing(hparams["encoder"]) if rate is None else FrameTiming(float(rate), 0.0)


def frame_datasets(hparams, prepare=None) -> RecipeData:
    """The manifests (:func:`petl_core.recipe.prepare_manifests`: checks, few-shot by track) and
    the datasets of a frame task bound to the model's frames: training crops with their targets,
    whole evaluation tracks."""
    task = hparams["task"]
    if not isinstance(task, FrameTask):
        raise ConfigError(f"task must be a frame-level task (petl_core.beat.BeatTask, petl_core.chord.ChordTask), "
                          f"got {task!r}")
    data = prepare_manifests(hparams, prepare)
    task = data.task.with_timing(output_timing(hparams))
    sr = hparams["encoder"].sample_rate
    return data.with_datasets(
        task,
        train=frame_dataset(data.train_csv, task, sr, train=True, crop_seconds=hparams.get("crop_seconds")),
        valid=frame_dataset(data.manifests["valid"], task, sr, train=False),
        test=frame_dataset(data.manifests["test"], task, sr, train=False))


class FrameBrain(PETLBrain):
    """Brain of a frame-level task (see the module docstring)."""

    hparams_keys = ("frame_rate", "eval_overlap_seconds")
    build_model = staticmethod(build_frame_model)

    @classmethod
    def from_hparams(cls, hparams, run_opts, task):
        """As :meth:`PETLBrain.from_hparams`, with the evaluation windows of whole tracks."""
        for key in ("augmentation", "feature_cache"):
            if hparams.get(key):
                raise ConfigError(f"{key}: not supported by the frame-level recipes yet (it would change the frame "
                                  f"targets or cache crops); set {key}: null")
        window = hparams.get("eval_window_seconds") or hparams.get("crop_seconds")
        if not window:
            raise ConfigError("eval_window_seconds (or crop_seconds) must be set: tracks are evaluated in windows")
        overlap = hparams.get("eval_overlap_seconds")
        overlap = float(window) / 2 if overlap is None else float(overlap)
        if not 0 <= overlap < float(window):
            raise ConfigError(f"eval_overlap_seconds must be in [0, eval_window_seconds={window}), got {overlap}")
        brain = super().from_hparams(hparams, run_opts, task)
        if brain.model.timing != task.timing:
            raise ConfigError(f"the task's frames ({task.timing}) are not the model's ({brain.model.timing}): build "
                              "the datasets with petl_core.frame_brain.frame_datasets")
        brain.window, brain.overlap = float(window), overlap
        return brain

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
        targets, target_lens = batch.targets
        if stage == sb.Stage.TRAIN:
            logits, mask, targets = align_targets(*predictions, targets, target_lens)
            return self.compute_cost(logits, targets, mask)
        rows = []
        for i, logits in enumerate(predictions):
            track = targets[i, : int(round(float(target_lens[i]) * targets.shape[1]))][None]
            ones = torch.ones(1, logits.shape[0], dtype=torch.bool, device=logits.device)
            logit, mask, track = align_targets(logits[None], ones, track)
            loss = self.compute_cost(logit, track, mask)
            items = self.task.track_metrics(logits, batch.label[i], float(batch.seconds[i]))
            rows.append(self.task.item_row(float(loss), items))
        rows = torch.tensor(rows, dtype=torch.float64)
        self.keep(stage, rows, torch.zeros(len(rows)), batch)
        return rows[:, 0].mean()

    def evaluation_loss(self, outputs, labels):
        """The mean of the tracks' losses (column 0 of the kept rows)."""
        return outputs[:, 0].mean()
