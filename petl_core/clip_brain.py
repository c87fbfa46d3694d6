"""The clip Brain: one prediction per clip (classification, key, tagging, tempo, regression).

Every clip-level recipe's ``train.py`` uses :class:`ClipBrain` (or a subclass of its own when its
forward pass differs); what differs between the tasks is the task's
(:mod:`petl_core.tasks`: label encoding, the targets ``compute_cost`` compares the logits with, the
label transform under augmentation, the metrics). A batch carries ``sig`` (audio) and
``label_enc`` (the task's encoding of the label).

* training: the batch (augmented: labels follow its pitch shifts and time stretches) through the
  model, ``compute_cost(logits, task.cost_targets(labels), **task.cost_options)``;
* evaluation: logits averaged over ``eval_window`` windows of each clip, the windows going through
  the model ``eval_chunk_size`` at a time (bounded memory, same logits); the logits are kept for
  the metrics (:meth:`petl_core.brain.PETLBrain.keep`).

Example:
    >>> import torch
    >>> from petl_core.tasks import TempoTask
    >>> brain = ClipBrain.__new__(ClipBrain)
    >>> brain.task, brain.compute_cost = TempoTask(grid="log"), torch.nn.functional.cross_entropy
    >>> logits = torch.zeros(1, brain.task.num_outputs)
    >>> round(float(brain.cost(logits, torch.tensor([120.0]))), 3) == round(float(torch.log(torch.tensor(117.0))), 3)
    True
"""
from __future__ import annotations

import speechbrain as sb
import torch

from petl_core.brain import PETLBrain
from petl_core.build import build_model
from petl_core.data import windows


class ClipBrain(PETLBrain):
    """The Brain of every clip-level task (see the module docstring)."""

    build_model = staticmethod(build_model)

    def compute_forward(self, batch, stage):
        """``(logits, labels)``: training on the (augmented) batch; evaluation window-averaged."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        labels = batch.label_enc.data
        if self.task.scalar:
            labels = labels[:, 0]
        if stage == sb.Stage.TRAIN:
            if self.record_ids_file:  # audit of the data each rank sees (DDP test)
                with open(self.record_ids_file, "a", encoding="utf-8") as f:
                    f.write("".join(f"{self.current_epoch} {i}\n" for i in batch.id))
            if self.augmenter is not None and self.augmenter.enabled:
                g = self.augmenter.generator(self.current_epoch, self.step, self.rank)
                wavs, lens, params = self.augmenter(wavs, lens, g)
                labels = self.task.transform(labels, **params)
            keys = [f"train:{i}" for i in batch.id] if self.cache_train_inputs else None
            return self.modules["model"](wavs, lens, cache_keys=keys), labels
        model = self.model  # each rank evaluates its own shard: no DDP collectives
        if self.eval_window is None:
            return model(wavs, lens, cache_keys=self._eval_keys(batch.id, stage)), labels
        chunks, chunk_lens, owner = windows(wavs, lens, self.eval_window)
        keys = self._eval_keys([f"{batch.id[o]}#{n}" for o, n in zip(owner.tolist(), _running_count(owner))], stage)
        n = self.eval_chunk_size
        logits = torch.cat([model(chunks[s: s + n], chunk_lens[s: s + n],
                                  cache_keys=None if keys is None else keys[s: s + n]).float()
                            for s in range(0, chunks.shape[0], n)])
        summed = torch.zeros(wavs.shape[0], logits.shape[1], device=logits.device).index_add_(0, owner, logits)
        counts = torch.bincount(owner, minlength=wavs.shape[0]).clamp(min=1).to(logits)
        return summed / counts[:, None], labels

    def _eval_keys(self, ids, stage):
        """Cache keys of evaluation inputs (deterministic: whole clips or fixed windows), by split:
        IDs are unique within a manifest only, and a valid and a test clip may share one."""
        split = "valid" if stage == sb.Stage.VALID else self.eval_name
        return [f"eval:{split}:{i}" for i in ids] if self.feature_cache_enabled else None

    def compute_objectives(self, predictions, batch, stage):
        """:meth:`cost` of the logits; evaluation outputs kept for the metrics."""
        logits, labels = predictions
        self.keep(stage, logits, labels, batch)
        return self.cost(logits, labels)


def _running_count(owner: torch.Tensor) -> list[int]:
    """For each window, its index among the windows of the same clip."""
    seen: dict[int, int] = {}
    counts = []
    for o in owner.tolist():
        counts.append(seen.get(o, 0))
        seen[o] = counts[-1] + 1
    return counts
