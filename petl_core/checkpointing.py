"""Checkpoints that survive ``kill -9``: atomic checkpoint folders and saved random states.

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

from petl_core.errors import CheckpointSaveError

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
