"""Atomic checkpoints and saved random states."""
import os
import random

import numpy as np
import pytest
import torch
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks

from petl_core.checkpointing import PARTIAL, AtomicCheckpointer, RandomState


@register_checkpoint_hooks
class _DiesWhileSaving:
    @mark_as_saver
    def _save(self, path):
        with open(path, "w") as f:
            f.write("half")
        raise KeyboardInterrupt("killed while saving")

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        raise AssertionError("a half-written checkpoint must never be loaded")


def test_a_save_interrupted_halfway_leaves_no_checkpoint(tmp_path):
    model = torch.nn.Linear(2, 2)
    good = AtomicCheckpointer(tmp_path, recoverables={"model": model})
    good.save_checkpoint(meta={"n": 1})
    dying = AtomicCheckpointer(tmp_path, recoverables={"model": model, "other": _DiesWhileSaving()})
    with pytest.raises(KeyboardInterrupt):
        dying.save_checkpoint(meta={"n": 2})
    assert [c.meta["n"] for c in dying.find_checkpoints()] == [1]
    assert any(name.startswith(PARTIAL) for name in os.listdir(tmp_path))
    AtomicCheckpointer(tmp_path, recoverables={"model": model})  # a restart cleans the leftover
    assert not any(name.startswith(PARTIAL) for name in os.listdir(tmp_path))


def test_random_state_round_trip(tmp_path):
    ckpt = AtomicCheckpointer(tmp_path, recoverables={"rng": RandomState()})
    ckpt.save_checkpoint()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.random(), np.random.rand(), torch.rand(3)  # move every generator on
    ckpt.recover_if_possible()
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
