"""The key recipe LEARNS: a small run ends far above chance (chance weighted score ~0.06)."""
import json
import os

from conftest import run_recipe


def test_key_learns_above_chance(tmp_path, synth_data):
    out = str(tmp_path / "learns")
    proc = run_recipe(
        "key", out, synth_data,
        "--prepare={task: key, n_train: 192, n_valid: 48, n_test: 48, seed: 11, sample_rate: 24000, duration: 2.0}",
        "--number_of_epochs=5", "--crop_seconds=2.0", "--eval_window_seconds=2.0", "--bootstrap_resamples=200",
        timeout=240,
    )
    assert proc.returncode == 0
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["test"]["weighted_score"] > 0.3, res["test"]
    assert res["test_ci95"]["weighted_score"][0] > 0.1  # the whole CI is above chance
