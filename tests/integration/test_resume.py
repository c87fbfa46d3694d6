"""kill -9 in the middle of an epoch, then the same command again: it resumes from the last
intra-epoch checkpoint and finishes with the same metrics as an uninterrupted run."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

from conftest import REPO, run_recipe

RUN = ["--prepare={task: key, n_train: 24, n_valid: 8, n_test: 8, seed: 5, sample_rate: 24000, duration: 2.0}",
       "--backbone=tiny_musicfm", "--method=lora", "--petl={options: {rank: 2}}", "--number_of_epochs=2",
       "--batch_size=4", "--crop_seconds=1.5", "--eval_window_seconds=1.5", "--bootstrap_resamples=50",
       "--ckpt_interval_steps=2", "--augmentation={pitch_shift: {prob: 0.5, semitones: [-2, -1, 1, 2]}}"]


def _intra_epoch_checkpoint(save_folder):
    for meta in glob.glob(os.path.join(save_folder, "CKPT+*", "CKPT.yaml")):
        if "end-of-epoch: false" in open(meta).read():
            return meta
    return None


def test_killed_run_resumes_with_identical_results(tmp_path, synth_data):
    reference = str(tmp_path / "reference")
    assert run_recipe("key", reference, synth_data, *RUN, timeout=240).returncode == 0

    out = str(tmp_path / "killed")
    script = os.path.join(REPO, "recipes", "SynthMusic", "key", "train.py")
    hparams = os.path.join(REPO, "recipes", "SynthMusic", "key", "hparams", "default.yaml")
    cmd = [sys.executable, script, hparams, f"--output_folder={out}", f"--data_folder={synth_data}",
           "--device=cpu", "--noprogressbar", *RUN]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore"))
    deadline = time.time() + 180
    while _intra_epoch_checkpoint(os.path.join(out, "save")) is None and proc.poll() is None:
        assert time.time() < deadline, "no intra-epoch checkpoint appeared"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(out, "results.json"))

    resumed = run_recipe("key", out, synth_data, *RUN, timeout=240)
    assert resumed.returncode == 0
    log = open(os.path.join(out, "log.txt")).read()
    assert "Loading a checkpoint from" in log.split("intra-epoch")[-1] or "Loading a checkpoint from" in log
    a = json.load(open(os.path.join(reference, "results.json")))
    b = json.load(open(os.path.join(out, "results.json")))
    assert b["test"] == a["test"] and b["valid"] == a["valid"]
    assert [h["loss"] for h in b["valid_history"]] == [h["loss"] for h in a["valid_history"]]
