"""kill -9 in the middle of an epoch, then the same command again: it resumes from the last
intra-epoch checkpoint (it trains exactly on the batches that checkpoint had not consumed, each
epoch is logged once) and finishes with the same metrics as an uninterrupted run."""
import json
import os
import signal

from conftest import run_recipe
from launch import (assert_resumed_after_the_checkpoint, intra_epoch_after_an_epoch,
                    items_consumed_by_newest_checkpoint, logged_epochs, recorded_items, start_recipe, wait_until)

BATCH_SIZE = 4
RUN = ["--prepare={task: key, n_train: 24, n_valid: 8, n_test: 8, seed: 5, sample_rate: 24000, duration: 2.0}",
       "--backbone=tiny_musicfm", "--method=lora", "--petl={options: {rank: 2}}", "--number_of_epochs=3",
       f"--batch_size={BATCH_SIZE}", "--crop_seconds=1.5", "--eval_window_seconds=1.5", "--bootstrap_resamples=50",
       "--ckpt_interval_steps=2", "--augmentation={pitch_shift: {prob: 0.5, semitones: [-2, -1, 1, 2]}}",
       "--record_train_ids=true"]


def test_killed_run_resumes_with_identical_results(tmp_path, synth_data):
    reference = str(tmp_path / "reference")
    assert run_recipe("key", reference, synth_data, *RUN, timeout=240).returncode == 0

    out = str(tmp_path / "killed")
    save = os.path.join(out, "save")
    proc = start_recipe("key", out, synth_data, *RUN)
    wait_until(lambda: intra_epoch_after_an_epoch(save), lambda: proc.poll() is None, 180,
               "no intra-epoch checkpoint after the first epoch appeared")
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
