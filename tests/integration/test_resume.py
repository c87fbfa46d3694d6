"""kill -9 in the middle of an epoch, then the same command again: it resumes from the last
intra-epoch checkpoint (it trains exactly on the batches that checkpoint had not consumed, each
epoch is logged once) and finishes with the same metrics as an uninterrupted run."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import yaml

from conftest import REPO, run_recipe

BATCH_SIZE = 4
RUN = ["--prepare={task: key, n_train: 24, n_valid: 8, n_test: 8, seed: 5, sample_rate: 24000, duration: 2.0}",
       "--backbone=tiny_musicfm", "--method=lora", "--petl={options: {rank: 2}}", "--number_of_epochs=3",
       f"--batch_size={BATCH_SIZE}", "--crop_seconds=1.5", "--eval_window_seconds=1.5", "--bootstrap_resamples=50",
       "--ckpt_interval_steps=2", "--augmentation={pitch_shift: {prob: 0.5, semitones: [-2, -1, 1, 2]}}",
       "--record_train_ids=true"]


def _checkpoints(save_folder) -> list[tuple[str, dict]]:
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
    ckpts = _checkpoints(save_folder)
    return bool(ckpts) and not ckpts[-1][1]["end-of-epoch"] and any(m["end-of-epoch"] for _, m in ckpts)


def recorded_items(output_folder, rank=0) -> list[tuple[str, str]]:
    """(epoch, item id) of every training item the run fed to the model, in order (--record_train_ids)."""
    with open(os.path.join(output_folder, f"train_ids_rank{rank}.txt"), encoding="utf-8") as f:
        return [tuple(line.split()) for line in f if line.strip()]


def items_consumed_by_newest_checkpoint(save_folder, items_per_epoch, batch_size) -> int:
    """Training items (per rank) the newest checkpoint had trained on, from SpeechBrain's own files:
    the epoch counter (``counter.ckpt``), and the steps into that epoch (``brain.ckpt``) of an
    intra-epoch checkpoint. A resume continues from the newest checkpoint (SpeechBrain's default)."""
    newest, meta = _checkpoints(save_folder)[-1]
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
    """The epoch of each per-epoch line of train_log.txt (appended once per trained epoch)."""
    lines = open(os.path.join(output_folder, "train_log.txt")).read().splitlines()
    return [line.split(",")[0] for line in lines if line.startswith("epoch:")]


def test_killed_run_resumes_with_identical_results(tmp_path, synth_data):
    reference = str(tmp_path / "reference")
    assert run_recipe("key", reference, synth_data, *RUN, timeout=240).returncode == 0

    out = str(tmp_path / "killed")
    save = os.path.join(out, "save")
    script = os.path.join(REPO, "recipes", "SynthMusic", "key", "train.py")
    hparams = os.path.join(REPO, "recipes", "SynthMusic", "key", "hparams", "default.yaml")
    cmd = [sys.executable, script, hparams, f"--output_folder={out}", f"--data_folder={synth_data}",
           "--device=cpu", "--noprogressbar", *RUN]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore"))
    deadline = time.time() + 180
    while not intra_epoch_after_an_epoch(save) and proc.poll() is None:
        assert time.time() < deadline, "no intra-epoch checkpoint after the first epoch appeared"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(out, "results.json"))
    consumed = items_consumed_by_newest_checkpoint(save, items_per_epoch=24, batch_size=BATCH_SIZE)
    items_at_kill = recorded_items(out)
    epochs_at_kill = logged_epochs(out)
    assert epochs_at_kill  # killed after at least one whole epoch

    resumed = run_recipe("key", out, synth_data, *RUN, timeout=240)
    assert resumed.returncode == 0
    assert_resumed_after_the_checkpoint(recorded_items(reference), items_at_kill, recorded_items(out), consumed)
    # each epoch logged once: the epochs finished before the kill are not trained (nor logged) again
    assert logged_epochs(out) == logged_epochs(reference) == ["epoch: 1", "epoch: 2", "epoch: 3"]
    a = json.load(open(os.path.join(reference, "results.json")))
    b = json.load(open(os.path.join(out, "results.json")))
    assert b["test"] == a["test"] and b["valid"] == a["valid"]
    assert b["valid_history"] == a["valid_history"]
