"""tools/benchmark.py --quick on the tiny AST configuration (ft + two PETL methods)."""
from __future__ import annotations

import json
import math
import os
import sys

import pytest
import torch

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, ROOT)

from tools import benchmark  # noqa: E402


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    import io
    from contextlib import redirect_stdout

    out = tmp_path_factory.mktemp("bench")
    argv = ["--backbone", "ast", "--config", "tiny", "--methods", "ft,lora,adapter", "--quick", "--seconds", "1",
            "--repeats", "2", "--threads", "1", "--memory-jobs", "3", "--eval-seconds", "6", "--eval-window", "1",
            "--eval-chunk-size", "2", "--pipeline-workers", "0", "--pipeline-items", "4", "--out", str(out)]
    buffer = io.StringIO()
    threads = torch.get_num_threads()
    try:
        with redirect_stdout(buffer):
            assert benchmark.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    with open(out / "benchmark.json") as fh:
        return json.load(fh), out, buffer.getvalue()


def test_json_fields_and_ratios(report):
    data, out, stdout = report
    assert data["backbone"] == "ast" and data["device"] == "cpu"
    cfg = data["config"]
    assert cfg["batch"] == 2 and cfg["seconds"] == 1.0 and cfg["repeats"] == 2 and cfg["threads"] == 1
    assert cfg["method_options"]["lora"]["rank"] == 2  # tiny sizes
    res = data["results"]
    assert set(res) == {"plain", "ft", "lora", "adapter"}
    for name in ("ft", "lora", "adapter"):
        r = res[name]
        for key in ("train_step_s", "train_step_range", "train_ratio_vs_ft", "peak_mem_mb", "peak_mem_ratio_vs_ft",
                    "infer_s", "infer_ratio_vs_plain", "merged", "trainable_params"):
            assert key in r, (name, key)
        lo, hi = r["train_step_range"]
        assert lo <= r["train_step_s"] <= hi
        assert len(data["raw"]["train_step_s"][name]) == 2
        assert math.isclose(r["train_ratio_vs_ft"], r["train_step_s"] / res["ft"]["train_step_s"])
        assert math.isclose(r["infer_ratio_vs_plain"], r["infer_s"] / res["plain"]["infer_s"])
        assert r["peak_mem_mb"] > 0
        assert math.isclose(r["peak_mem_ratio_vs_ft"], r["peak_mem_mb"] / res["ft"]["peak_mem_mb"])
    assert res["ft"]["train_ratio_vs_ft"] == 1.0 and res["ft"]["peak_mem_ratio_vs_ft"] == 1.0
    assert res["ft"]["train_ratio_vs_ft_paired"] == 1.0 and res["lora"]["train_ratio_vs_ft_paired"] > 0
    assert res["plain"]["infer_ratio_vs_plain"] == 1.0 and res["plain"]["train_step_s"] is None
    assert res["lora"]["merged"] is True and res["adapter"]["merged"] is False and res["ft"]["merged"] is False
    assert res["lora"]["trainable_params"] < res["ft"]["trainable_params"]
    assert (out / "benchmark.png").stat().st_size > 1000
    assert "train s" in stdout and "lora" in stdout


def test_shared_weights_copy_is_independent():
    import torch

    base = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    a, b = benchmark.share_weights_copy(base), benchmark.share_weights_copy(base)
    a.requires_grad_(False)
    assert all(p.requires_grad for p in b.parameters())
    assert a[0].weight.data_ptr() == b[0].weight.data_ptr() == base[0].weight.data_ptr()


def test_bad_arguments():
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--backbone", "ast", "--methods", "ft,ft", "--out", "x"])
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--backbone", "ast", "--method-options", "{bad", "--out", "x"])
    args = benchmark.parse_args(["--backbone", "mert", "--quick", "--out", "x"])
    assert args.num_layers == 6 and args.batch == 2 and args.seconds == 2.0 and args.repeats == 3


def test_evaluation_memory_and_input_pipeline(report):
    data, _, stdout = report
    rows = data["eval_memory"]
    assert [(r["track_seconds"], r["windows"], r["chunk"]) for r in rows] == [(6.0, 6, 2), (6.0, 6, 6)]
    assert all(r["peak_mem_mb"] > 0 for r in rows)
    pipeline = data["pipeline"]
    assert pipeline["target_rate"] == 16000 and pipeline["source"]["sample_rate"] == 44100
    assert [(r["format"], r["num_workers"]) for r in pipeline["results"]] == [("flac", 0), ("wav", 0)]
    assert all(r["items"] >= 4 and r["items_per_s"] > 0 for r in pipeline["results"])
    assert data["results"]["ft"]["train_items_per_s"] == 2 / data["results"]["ft"]["train_step_s"]
    assert "input pipeline" in stdout and "items/s" in stdout and "evaluation, 6 s track" in stdout


def test_timing_spread_reported_and_wide_spread_warned(report):
    data, _, stdout = report
    assert set(data["noise"]) == {"spread", "max_spread", "threshold", "wide"}
    assert ("WARNING: noisy timings" in stdout) == bool(data["noise"]["wide"])
    quiet = {"a": {"train_step_s": 1.0, "train_step_range": [0.95, 1.05], "infer_s": 0.5, "infer_range": [0.5, 0.52]}}
    loud = {**quiet, "b": {"train_step_s": 1.0, "train_step_range": [0.6, 1.9], "infer_s": None, "infer_range": None}}
    assert benchmark.timing_noise(quiet)["wide"] == []
    noise = benchmark.timing_noise(loud)
    assert noise["wide"] == ["b train_step"] and abs(noise["max_spread"] - 1.3) < 1e-9
