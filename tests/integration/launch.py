"""What the integration tests that launch recipes and kill them share: torchrun launchers on a free port,
the processes of a job, kill -9, and what a killed run's files say (its checkpoints, the items each rank
trained on, the epochs it logged).

Used by ``test_resume.py`` (kill -9 of one process), ``test_ddp.py`` (kill -9 under torchrun) and
``test_multinode.py`` (two simulated nodes).
"""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import yaml

from conftest import REPO, run_recipe

#: the DDP tests' key run: 7 validation and 5 test items, shards of unequal size (DistributedSampler would pad them)
PREPARE = "--prepare={task: key, n_train: 16, n_valid: 7, n_test: 5, seed: 9, sample_rate: 24000, duration: 2.0}"
TINY = [PREPARE, "--backbone=tiny_musicfm", "--batch_size=4", "--crop_seconds=1.5", "--eval_window_seconds=1.5",
        "--bootstrap_resamples=100"]


# ------------------------------------------------------------------------------------ launching
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun() -> list[str]:
    """A torchrun launcher of 2 processes on this host."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}"]


def ddp(out, data, *args, timeout=300) -> dict:
    """The SynthMusic key recipe under :func:`torchrun` (gloo) to its end; its results.json."""
    proc = run_recipe("key", out, data, *args, "--distributed_backend=gloo", launcher=torchrun(), timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.load(open(os.path.join(out, "results.json")))


def start_recipe(task, out, data, *overrides, launcher=None) -> subprocess.Popen:
    """The command of :func:`conftest.run_recipe`, started in the background (to be killed)."""
    script = os.path.join(REPO, "recipes", "SynthMusic", task, "train.py")
    hparams = os.path.join(REPO, "recipes", "SynthMusic", task, "hparams", "default.yaml")
    cmd = (launcher or [sys.executable]) + [script, hparams, f"--output_folder={out}", f"--data_folder={data}",
                                            "--device=cpu", "--noprogressbar", *overrides]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore"))


def wait_until(condition, running, seconds: float, message: str) -> None:
    """Poll ``condition()`` every 20 ms; fails with ``message`` after ``seconds`` or once ``running()`` is false."""
    deadline = time.time() + seconds
    while not condition():
        assert running() and time.time() < deadline, message
        time.sleep(0.02)


# ------------------------------------------------------------------------------------ killing
def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (torchrun starts each rank in a session of its own)."""
    kids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.split("/")[2]))
    return kids


def kill_9(pids) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def wait_gone(pids) -> None:
    """Until each process is gone (or a zombie of a killed parent)."""
    for pid in pids:
        while os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1][:3]:
            time.sleep(0.05)


# ------------------------------------------------------------------------------------ a killed run's files
def checkpoints(save_folder) -> list[tuple[str, dict]]:
    """(folder, CKPT.yaml meta) of each complete checkpoint, oldest first (one deleted meanwhile is left out)."""
    found = []
    for folder in glob.glob(os.path.join(save_folder, "CKPT+*")):
        try:
            found.append((folder, yaml.safe_load(open(os.path.join(folder, "CKPT.yaml")))))
        except FileNotFoundError:
            continue
    return sorted(found, key=lambda c: c[1]["unixtime"])


def intra_epoch_after_an_epoch(save_folder) -> bool:
    """The newest checkpoint is an intra-epoch one and an end-of-epoch one is older: the run is inside
    epoch 2 or later (SpeechBrain deletes the intra-epoch one only after the next end-of-epoch save)."""
    ckpts = checkpoints(save_folder)
    return bool(ckpts) and not ckpts[-1][1]["end-of-epoch"] and any(m["end-of-epoch"] for _, m in ckpts)


def recorded_items(output_folder, rank=0) -> list[tuple[str, str]]:
    """(epoch, item id) of every training item the run fed to the model, in order (--record_train_ids)."""
    with open(os.path.join(output_folder, f"train_ids_rank{rank}.txt"), encoding="utf-8") as f:
        return [tuple(line.split()) for line in f if line.strip()]


def items_consumed_by_newest_checkpoint(save_folder, items_per_epoch, batch_size) -> int:
    """Training items (per rank) the newest checkpoint had trained on, from SpeechBrain's own files:
    the epoch counter (``counter.ckpt``), and the steps into that epoch (``brain.ckpt``) of an
    intra-epoch checkpoint. A resume continues from the newest checkpoint (SpeechBrain's default)."""
    newest, meta = checkpoints(save_folder)[-1]
    epoch = int(open(os.path.join(newest, "counter.ckpt")).read())
    if meta["end-of-epoch"]:
        return epoch * items_per_epoch
    step = yaml.safe_load(open(os.path.join(newest, "brain.ckpt")))["step"]
    return (epoch - 1) * items_per_epoch + step * batch_size


def assert_resumed_after_the_checkpoint(reference_items, items_at_kill, items_at_end, consumed) -> None:
    """The run after the kill trained on exactly the items the uninterrupted run trained on after the
    checkpoint's position (a restart would train on all of them again), and the killed run before it
    on the same items as the uninterrupted one."""
    assert 0 < consumed < len(reference_items)
    assert items_at_kill[:consumed] == reference_items[:consumed]
    after_restart = items_at_end[len(items_at_kill):]
    assert len(after_restart) == len(reference_items) - consumed, (len(after_restart), len(reference_items), consumed)
    assert after_restart == reference_items[consumed:]


def logged_epochs(output_folder) -> list[str]:
    """The epoch of each per-epoch line of train_log.txt (appended once per trained epoch; none before it exists)."""
    path = os.path.join(output_folder, "train_log.txt")
    if not os.path.exists(path):
        return []
    lines = open(path, encoding="utf-8").read().splitlines()
    return [line.split(",")[0] for line in lines if line.startswith("epoch:")]
