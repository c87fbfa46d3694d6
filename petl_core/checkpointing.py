"""Checkpoints that survive ``kill -9``, and what a run's checkpoint holds besides SpeechBrain's objects.

* :class:`AtomicCheckpointer`: SpeechBrain's ``Checkpointer`` writes ``CKPT.yaml`` first and the
  parameter files after it, so a kill in between leaves a folder that looks complete. Here each
  checkpoint is written into a hidden ``.partial-CKPT+…`` folder and renamed into place once every
  file is written; leftovers of a killed save are removed at start-up, those of a save stopped by
  Ctrl-C or an ``OSError`` (a full disk: :class:`petl_core.errors.CheckpointSaveError`, one line)
  at once. Under DDP every rank must
  agree on which checkpoints exist (deletion and recovery are collective: one broadcast per deleted
  checkpoint): the rename is followed by a barrier, and the list of checkpoints is the main
  process's, broadcast to every rank — so save, keep, delete and recover decide alike everywhere.
* :class:`RandomState`: a recoverable holding the Python, NumPy and torch random states (CPU and,
  where CUDA is in use, the generator of the process's current CUDA device), so a run resumed
  from an intra-epoch checkpoint draws the same crops, augmentations and dropout masks as the run
  that was interrupted (same test metrics on CPU). The states are written once, by the main
  process: the ranks are seeded alike and draw alike, so rank r's device generator is in the state
  of rank 0's, and each rank restores it on its own device.
* The Brain's recoverables: :class:`TrainableState` (the trainable subset of the model),
  :class:`RunHistory` (per-epoch record), :class:`StopperState` (early stopping's best score, which
  SpeechBrain's counter does not checkpoint) and :class:`ProcessCount` (the world size that trained).

Example:
    >>> import tempfile, torch
    >>> ckpt = AtomicCheckpointer(tempfile.mkdtemp(), recoverables={"rng": RandomState()})
    >>> saved = ckpt.save_checkpoint(end_of_epoch=False)
    >>> a = torch.rand(1)
    >>> _ = ckpt.recover_if_possible()
    >>> bool(torch.rand(1) == a)
    True
"""
from __future__ import annotations

import json
import os
import pathlib
import random
import shutil

import numpy as np
import torch
from speechbrain.utils.checkpoints import (
    Checkpoint,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import ddp_barrier, ddp_broadcast, if_main_process

from petl_core.distributed import world_size
from petl_core.errors import CheckpointMismatchError, CheckpointSaveError, ConfigError

PARTIAL = ".partial-"


class AtomicCheckpointer(Checkpointer):
    """A SpeechBrain ``Checkpointer`` whose checkpoints appear all at once or not at all."""

    def __init__(self, checkpoints_dir, *args, **kwargs) -> None:
        super().__init__(checkpoints_dir, *args, **kwargs)
        self._remove_partial()

    def _remove_partial(self) -> None:
        """Remove the leftovers of a save that did not finish (a kill, Ctrl-C, a full disk)."""
        if if_main_process():
            for leftover in pathlib.Path(self.checkpoints_dir).glob(PARTIAL + "*"):
                shutil.rmtree(leftover, ignore_errors=True)

    def _new_checkpoint_dirpath(self):
        return _partial(super()._new_checkpoint_dirpath())

    def _custom_checkpoint_dirpath(self, name):
        return _partial(super()._custom_checkpoint_dirpath(name))

    def save_checkpoint(self, *args, **kwargs):
        try:
            checkpoint = super().save_checkpoint(*args, **kwargs)
        except (OSError, KeyboardInterrupt) as exc:  # a full disk, Ctrl-C: no half-written folder stays
            self._remove_partial()
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise CheckpointSaveError(
                f"cannot write a checkpoint in {self.checkpoints_dir} ({exc.strerror or exc}): free space (or "
                "give another --output_folder), then rerun the same command: it resumes from the last complete "
                "checkpoint") from None
        ddp_barrier()  # every rank has written its files
        if checkpoint is not None:  # the main process
            final = checkpoint.path.with_name(checkpoint.path.name[len(PARTIAL):])
            if final.exists():
                shutil.rmtree(final)
            os.replace(checkpoint.path, final)
            files = {k: final / v.name for k, v in checkpoint.paramfiles.items()}
            checkpoint = Checkpoint(final, checkpoint.meta, files)
        ddp_barrier()  # renamed before any rank lists, keeps or deletes
        return checkpoint

    def list_checkpoints(self):
        """The main process's list, on every rank (ranks must never delete or load differently)."""
        return ddp_broadcast(super().list_checkpoints() if if_main_process() else None, src=0)


def _partial(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(PARTIAL + path.name)


@register_checkpoint_hooks
class RandomState:
    """Checkpoint recoverable for the Python, NumPy, torch CPU and torch CUDA random generators."""

    @mark_as_saver
    def _save(self, path):
        if not if_main_process():  # ranks are seeded alike; one file
            return
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        cuda = torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        torch.save({"python": random.getstate(), "torch": torch.get_rng_state(), "cuda": cuda,
                    "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss]}, path)

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        del end_of_epoch
        state = torch.load(path, weights_only=True)
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state["torch"])
        if state.get("cuda") is not None and torch.cuda.is_available():  # older checkpoints hold none
            torch.cuda.set_rng_state(state["cuda"])  # the current device (this rank's)


@register_checkpoint_hooks
class TrainableState:
    """Checkpoint recoverable whose state is the trainable subset of ``model``.

    Saved: every parameter with ``requires_grad`` and the buffers of BatchNorm layers that have
    trainable parameters (their running statistics change in training). Frozen weights are not
    saved: they come from the pretrained checkpoint (or the seeded initialisation) when the model
    is rebuilt. Loading checks that exactly the trainable tensors are present.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def keys(self) -> list[str]:
        names = [n for n, p in self.model.named_parameters() if p.requires_grad]
        for mod_name, module in self.model.named_modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and any(
                p.requires_grad for p in module.parameters(recurse=False)
            ):
                prefix = f"{mod_name}." if mod_name else ""
                names += [prefix + b for b, buf in module.named_buffers(recurse=False) if buf is not None]
        return names

    def state_dict(self) -> dict:
        full = self.model.state_dict(keep_vars=False)
        return {k: full[k].detach().cpu().clone() for k in self.keys()}

    def load_state_dict(self, state: dict) -> None:
        expected = set(self.keys())
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            raise CheckpointMismatchError(
                f"checkpoint does not match the trainable parameters of this model (different method or "
                f"options?): missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
            )
        own = self.model.state_dict()
        shapes = [f"{k} is {list(state[k].shape)} in the checkpoint, {list(own[k].shape)} here"
                  for k in sorted(expected) if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
        if shapes:  # torch would raise a multi-line RuntimeError
            raise CheckpointMismatchError(
                f"checkpoint does not match the shapes of this model's trainable parameters (a run with other "
                f"classes, head or method options?): {'; '.join(shapes[:3])}"
                f"{f' (and {len(shapes) - 3} more)' if len(shapes) > 3 else ''}")
        result = self.model.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise CheckpointMismatchError(f"unexpected keys in checkpoint: {result.unexpected_keys[:5]}")

    @mark_as_saver
    def _save(self, path):
        if if_main_process():  # every rank holds the same weights; one writes
            torch.save(self.state_dict(), path)

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        del end_of_epoch
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


@register_checkpoint_hooks
class RunHistory:
    """Checkpoint recoverable for the Brain's per-epoch record (``valid_history``, ``epoch_seconds``),
    so that a resumed run reports every epoch, not only those after the restart. Restored only
    into an empty record (a resume); loading the best checkpoint for the final evaluation keeps
    the full record of the run."""

    def __init__(self, brain) -> None:
        self.brain = brain

    @mark_as_saver
    def _save(self, path):
        if if_main_process():
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"valid_history": self.brain.valid_history, "epoch_seconds": self.brain.epoch_seconds}, f)

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        del end_of_epoch
        if not self.brain.valid_history and not self.brain.epoch_seconds:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            self.brain.valid_history[:] = saved["valid_history"]
            self.brain.epoch_seconds[:] = saved["epoch_seconds"]


@register_checkpoint_hooks
class StopperState:
    """Checkpoint recoverable for the state of SpeechBrain's ``EpochCounterWithStopper`` (best
    epoch, best score, stopped). SpeechBrain does not register that class for checkpoints, so its
    own saver is never called and a checkpoint holds only its epoch: a resumed run would forget
    the best score, and a stopped run would train on."""

    def __init__(self, counter) -> None:
        self.counter = counter

    @mark_as_saver
    def _save(self, path):
        if if_main_process():
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"best_epoch": self.counter.best_limit, "best_score": self.counter.best_score,
                           "should_stop": self.counter.should_stop}, f)

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        del end_of_epoch
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        self.counter.best_limit, self.counter.best_score = saved["best_epoch"], saved["best_score"]
        self.counter.should_stop = saved["should_stop"]


@register_checkpoint_hooks
class ProcessCount:
    """Checkpoint recoverable for the number of processes (world size) that trained the run
    (``saved`` after a recovery). Training on with another number is refused
    (:meth:`PETLBrain.on_fit_start`): the effective batch (processes x batch size), the steps per
    epoch and an intra-epoch checkpoint's position in its epoch all depend on it. Evaluating a
    finished run with any number is fine (sharded evaluation equals a single process)."""

    def __init__(self) -> None:
        self.saved: int | None = None

    @mark_as_saver
    def _save(self, path):
        if if_main_process():
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"world_size": world_size()}, f)

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        del end_of_epoch
        with open(path, encoding="utf-8") as f:
            self.saved = json.load(f)["world_size"]
        self.path = os.path.dirname(path)

    def check_resume(self, trains_on: bool) -> None:
        """A :class:`ConfigError` when training goes on with another number of processes."""
        if trains_on and self.saved is not None and self.saved != world_size():
            raise ConfigError(f"{self.path}: this run was trained by {self.saved} process(es), this command runs "
                              f"{world_size()}: resume it with {self.saved} (torchrun --nproc_per_node=...), or "
                              "give another --output_folder")
