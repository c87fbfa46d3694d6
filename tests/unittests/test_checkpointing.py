"""Atomic checkpoints and saved random states."""
import errno
import os
import random

import numpy as np
import pytest
import torch
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks

from petl_core.checkpointing import PARTIAL, AtomicCheckpointer, RandomState
from petl_core.errors import CheckpointSaveError


@register_checkpoint_hooks
class _DiesWhileSaving:
    """Writes half of its file, then ``error`` happens (Ctrl-C, a full disk)."""

    def __init__(self, error) -> None:
        self.error = error

    @mark_as_saver
    def _save(self, path):
        with open(path, "w") as f:
            f.write("half")
        raise self.error

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        raise AssertionError("a half-written checkpoint must never be loaded")


@pytest.mark.parametrize("error, raised, message", [
    (KeyboardInterrupt("Ctrl-C while saving"), KeyboardInterrupt, "Ctrl-C while saving"),
    (OSError(errno.ENOSPC, "No space left on device"), CheckpointSaveError,
     "(No space left on device): free space (or give another --output_folder), then rerun the same command"),
])
def test_a_save_stopped_halfway_leaves_no_checkpoint(tmp_path, error, raised, message):
    model = torch.nn.Linear(2, 2)
    good = AtomicCheckpointer(tmp_path, recoverables={"model": model})
    good.save_checkpoint(meta={"n": 1})
    dying = AtomicCheckpointer(tmp_path, recoverables={"model": model, "other": _DiesWhileSaving(error)})
    with pytest.raises(raised) as info:
        dying.save_checkpoint(meta={"n": 2})
    assert message in str(info.value) and info.value.__cause__ is None and "\n" not in str(info.value)
    assert [c.meta["n"] for c in dying.find_checkpoints()] == [1]
    assert os.listdir(tmp_path) == [os.listdir(tmp_path)[0]] and not os.listdir(tmp_path)[0].startswith(PARTIAL)


def test_a_killed_save_is_cleaned_at_the_next_start(tmp_path):
    model = torch.nn.Linear(2, 2)
    AtomicCheckpointer(tmp_path, recoverables={"model": model}).save_checkpoint(meta={"n": 1})
    leftover = tmp_path / f"{PARTIAL}CKPT+2026-01-01+00-00-00+00"  # kill -9 between the files and the rename
    leftover.mkdir()
    (leftover / "CKPT.yaml").write_text("n: 2\n")
    restarted = AtomicCheckpointer(tmp_path, recoverables={"model": model})
    assert not leftover.exists() and [c.meta["n"] for c in restarted.find_checkpoints()] == [1]


def test_random_state_round_trip(tmp_path):
    ckpt = AtomicCheckpointer(tmp_path, recoverables={"rng": RandomState()})
    ckpt.save_checkpoint()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.random(), np.random.rand(), torch.rand(3)  # move every generator on
    ckpt.recover_if_possible()
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_random_state_round_trip_of_the_cuda_generator(tmp_path, monkeypatch):
    """The current CUDA device's generator is saved and restored with the others (a resumed GPU
    run draws the same dropout masks). On a machine with a GPU: the real generator; without one:
    torch.cuda's state functions stand in for a device (the same calls RandomState makes)."""
    if torch.cuda.is_available():
        torch.cuda.init()
        draw = lambda: torch.rand(3, device="cuda").tolist()  # noqa: E731
    else:
        device_state = {"state": torch.tensor([1, 2, 3], dtype=torch.uint8)}
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": device_state["state"].clone())
        monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device="cuda": device_state.update(state=state))

        def draw():
            device_state["state"] = device_state["state"] + 1  # a draw moves the generator
            return device_state["state"].tolist()
    ckpt = AtomicCheckpointer(tmp_path, recoverables={"rng": RandomState()})
    ckpt.save_checkpoint()
    expected = draw()
    draw(), draw()
    ckpt.recover_if_possible()
    assert draw() == expected
    saved = torch.load(next(tmp_path.glob("CKPT*/rng.ckpt")), weights_only=True)
    assert saved["cuda"] is not None


def _ddp_keep_and_recover(rank, folder, port, out):
    """One gloo rank: 3 epochs of save + keep-best + an intra-epoch checkpoint, then recovery."""
    import datetime
    import json

    import petl_core.checkpointing as checkpointing

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                                         timeout=datetime.timedelta(seconds=30))
    if rank == 0:  # the main process renames late: other ranks must not list before it has
        replace = os.replace

        def slow_replace(src, dst):
            import time
            time.sleep(0.3)
            replace(src, dst)
        checkpointing.os.replace = slow_replace
    ckpt = AtomicCheckpointer(folder, recoverables={"model": torch.nn.Linear(1, 1)})
    for epoch, acc in enumerate([0.5, 0.7, 0.6], start=1):
        ckpt.save_and_keep_only(meta={"brain_intra_epoch_ckpt": True}, end_of_epoch=False, num_to_keep=1,
                                ckpt_predicate=lambda c: "brain_intra_epoch_ckpt" in c.meta)
        ckpt.save_and_keep_only(meta={"acc": acc, "epoch": epoch}, max_keys=["acc"], num_to_keep=1)
    loaded = ckpt.recover_if_possible(max_key="acc")
    with open(f"{out}.{rank}", "w") as f:
        json.dump({"epoch": loaded.meta["epoch"], "listed": sorted(c.path.name for c in ckpt.list_checkpoints()),
                   "kept_epochs": sorted(c.meta.get("epoch", 0) for c in ckpt.list_checkpoints())}, f)
    torch.distributed.destroy_process_group()


def test_ddp_ranks_agree_on_keep_delete_recover(tmp_path):
    """Two gloo ranks save/keep/delete for 3 epochs with a slow rename on the main process: no hang
    (a 30 s collective timeout turns one into a failure); the best and the latest are kept, the
    same on both ranks, and both recover the best."""
    import json
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "result")
    mp.start_processes(_ddp_keep_and_recover, args=(str(tmp_path / "save"), port, out), nprocs=2,
                       start_method="spawn", join=True)
    results = [json.load(open(f"{out}.{rank}")) for rank in (0, 1)]
    assert results[0] == results[1]
    assert results[0]["epoch"] == 2  # best acc 0.7
    on_disk = sorted(n for n in os.listdir(tmp_path / "save") if n.startswith("CKPT"))
    assert on_disk == results[0]["listed"] and results[0]["kept_epochs"] == [2, 3]


@pytest.mark.parametrize("trains_on", [True, False])
def test_a_resume_with_another_number_of_processes_is_refused(tmp_path, monkeypatch, trains_on):
    """Training on with another world size is refused; evaluating a finished run is not."""
    from petl_core import checkpointing
    from petl_core.errors import ConfigError

    monkeypatch.setattr(checkpointing, "world_size", lambda: 2)
    AtomicCheckpointer(tmp_path, recoverables={"processes": checkpointing.ProcessCount()}).save_checkpoint()
    same = checkpointing.ProcessCount()
    AtomicCheckpointer(tmp_path, recoverables={"processes": same}).recover_if_possible()
    same.check_resume(trains_on=True)
    monkeypatch.setattr(checkpointing, "world_size", lambda: 1)
    other = checkpointing.ProcessCount()
    AtomicCheckpointer(tmp_path, recoverables={"processes": other}).recover_if_possible()
    if not trains_on:
        other.check_resume(trains_on=False)  # e.g. --test_only of a DDP run in one process
        return
    with pytest.raises(ConfigError, match=r"this run was trained by 2 process\(es\), this command runs 1: resume it "
                                          r"with 2 \(torchrun --nproc_per_node=...\)"):
        other.check_resume(trains_on=True)
