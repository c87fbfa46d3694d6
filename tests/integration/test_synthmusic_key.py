"""SynthMusic key recipe end to end with a very small configuration (subprocess, < 60 s)."""
import csv
import json
import os

from conftest import run_recipe

SMALL = ["--prepare={task: key, n_train: 24, n_valid: 8, n_test: 8, seed: 5, sample_rate: 24000, duration: 2.0}",
         "--backbone=tiny_musicfm", "--method=lora", "--petl={options: {rank: 2}}", "--number_of_epochs=2",
         "--batch_size=8", "--crop_seconds=1.5", "--eval_window_seconds=1.5", "--bootstrap_resamples=200"]


def test_key_small_end_to_end(tmp_path, synth_data):
    out = str(tmp_path / "key")
    proc = run_recipe("key", out, synth_data, *SMALL, timeout=180)
    assert proc.returncode == 0
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["status"] == "ok" and res["task"] == "key" and res["main_metric"] == "weighted_score"
    for split in ("valid", "test"):
        assert set(res[split]) >= {"weighted_score", "accuracy", "loss"}
        assert 0.0 <= res[split]["weighted_score"] <= 1.0
    assert res["n_items"] == {"valid": 8, "test": 8}
    low, high = res["test_ci95"]["weighted_score"]
    assert low <= res["test"]["weighted_score"] <= high
    assert res["bootstrap"]["resamples"] == 200
    params = res["params"]
    assert 0 < params["trainable"] < params["total"] and params["head"] > 0  # LoRA: a small trainable part
    assert res["epochs"] == 2 and res["seconds_per_epoch"] > 0 and len(res["valid_history"]) == 2
    assert res["config"]["backbone"]["name"] == "musicfm" and res["config"]["method"]["name"] == "lora"
    assert res["config"]["few_shot_k"] == 0 and res["config"]["run_options"]["device"] == "cpu"
    # the test ran on the best-validation checkpoint
    best = max(h["weighted_score"] for h in res["valid_history"])  # best_epoch: the checkpoint evaluated (ties)
    at = next(h for h in res["valid_history"] if h["epoch"] == res["best_epoch"])
    assert at["weighted_score"] == best == res["valid"]["weighted_score"]
    assert os.path.exists(os.path.join(out, "train_log.txt"))
    ckpts = [d for d in os.listdir(os.path.join(out, "save")) if d.startswith("CKPT")]
    assert ckpts
    model_ckpt = os.path.join(out, "save", ckpts[0], "model.ckpt")
    import torch
    saved = torch.load(model_ckpt, weights_only=True)
    assert sum(v.numel() for v in saved.values()) == params["trainable"] + params["head"]

    # few-shot through overrides, reusing the generated data
    out2 = str(tmp_path / "key_fs")
    proc = run_recipe("key", out2, synth_data, *SMALL, "--number_of_epochs=1", "--few_shot_k=1", "--few_shot_seed=3",
                      timeout=180)
    # the generator cycles through the 24 keys, so 24 training clips hold exactly one of each
    assert proc.returncode == 0
    res2 = json.load(open(os.path.join(out2, "results.json")))
    rows = list(csv.DictReader(open(res2["config"]["train_csv"])))
    assert len(rows) == len({r["label"] for r in rows}) == res2["n_train"] == 24

    # k larger than what a class has: one clear error, nothing trained
    out3 = str(tmp_path / "key_fs2")
    proc = run_recipe("key", out3, synth_data, *SMALL, "--few_shot_k=2", timeout=180)
    assert proc.returncode != 0 and "fewer than 2 training examples" in proc.stderr


def test_unknown_override_is_one_clear_error(tmp_path, synth_data):
    proc = run_recipe("key", str(tmp_path / "bad"), synth_data, "--number_of_epoch=3", timeout=60)
    assert proc.returncode != 0
    assert "unknown hyperparameter 'number_of_epoch'" in proc.stderr
    assert "Traceback" not in proc.stderr
