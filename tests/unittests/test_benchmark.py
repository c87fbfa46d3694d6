"""tools/benchmark (the package and the ``tools/benchmark.py`` script): the ``methods`` measurement on
the tiny AST configuration, ``peers`` (toolkit vs transformers + peft) and ``checkpointing`` on tiny
configurations, the paired-ratio statistics, and one ``error:`` line for bad options."""
from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, ROOT)

from tools import benchmark  # noqa: E402
from tools.benchmark import checkpointing, common, methods, peers, workers  # noqa: E402


def run_main(argv):
    """``benchmark.main(argv)`` in process: (exit status, stdout, stderr); torch threads restored."""
    out, err, threads = io.StringIO(), io.StringIO(), torch.get_num_threads()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = benchmark.main(argv)
    finally:
        torch.set_num_threads(threads)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    # no measurement named: the original command line (``methods``)
    argv = ["--backbone", "ast", "--config", "tiny", "--methods", "ft,lora,adapter", "--quick", "--seconds", "1",
            "--repeats", "2", "--threads", "1", "--memory_jobs", "3", "--eval_seconds", "6", "--eval_window", "1",
            "--eval_chunk_size", "2", "--pipeline_workers", "0", "--pipeline_items", "4", "--out", str(out)]
    code, stdout, _ = run_main(argv)
    assert code == 0
    with open(out / "benchmark.json") as fh:
        return json.load(fh), out, stdout


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
        lo, hi = r["train_step_range"]
        assert lo <= r["train_step_s"] <= hi
        assert len(data["raw"]["train_step_s"][name]) == 2
        assert math.isclose(r["train_ratio_vs_ft"], r["train_step_s"] / res["ft"]["train_step_s"])
        assert math.isclose(r["infer_ratio_vs_plain"], r["infer_s"] / res["plain"]["infer_s"])
        ci = r["train_ratio_vs_ft_ci"]
        assert ci[0] <= r["train_ratio_vs_ft_paired"] <= ci[1]
        assert r["peak_mem_mb"] > 0
        assert math.isclose(r["peak_mem_ratio_vs_ft"], r["peak_mem_mb"] / res["ft"]["peak_mem_mb"])
    assert res["ft"]["train_ratio_vs_ft"] == 1.0 and res["ft"]["peak_mem_ratio_vs_ft"] == 1.0
    assert res["ft"]["train_ratio_vs_ft_paired"] == 1.0 and res["lora"]["train_ratio_vs_ft_paired"] > 0
    assert res["plain"]["infer_ratio_vs_plain"] == 1.0 and res["plain"]["train_step_s"] is None
    assert res["lora"]["merged"] is True and res["adapter"]["merged"] is False and res["ft"]["merged"] is False
    assert res["lora"]["trainable_params"] < res["ft"]["trainable_params"]
    assert (out / "benchmark.png").stat().st_size > 1000
    assert "train s" in stdout and "lora" in stdout


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
    assert methods.timing_noise(quiet)["wide"] == []
    noise = methods.timing_noise(loud)
    assert noise["wide"] == ["b train_step"] and abs(noise["max_spread"] - 1.3) < 1e-9


def test_shared_weights_copy_is_independent():
    base = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    a, b = common.share_weights_copy(base), common.share_weights_copy(base)
    a.requires_grad_(False)
    assert all(p.requires_grad for p in b.parameters())
    assert a[0].weight.data_ptr() == b[0].weight.data_ptr() == base[0].weight.data_ptr()


def test_paired_ratio_cancels_drift_and_its_interval_covers_the_median():
    # the machine slows down 3x over the rounds; the paired ratio stays 0.5, the ratio of medians would not
    ours = [0.5 * s for s in (1, 1.5, 2, 2.5, 3, 3.5, 4)]
    peer = [1.0 * s for s in (1.1, 1.4, 2.2, 2.4, 3.1, 3.4, 4.2)]
    summary = common.paired_ratio(ours, peer)
    assert summary["rounds"] == 7 and summary["ci"][0] <= summary["median"] <= summary["ci"][1]
    assert 0.45 < summary["median"] < 0.55 and summary["ci"][1] < 0.6
    assert common.verdict(summary, 0.6) == "meets" and common.verdict(summary, 0.4) == "misses"
    assert common.verdict({"ci": [0.9, 1.1]}, 1.0) == "within noise"
    assert common.paired_ratio(ours, peer, seed=0) == common.paired_ratio(ours, peer, seed=0)  # reproducible


def test_cpu_clock_counts_work_not_waiting():
    """``--clock cpu``: a step descheduled by other jobs (here: sleeping) costs no CPU time."""
    import time

    assert common.timed(lambda: time.sleep(0.2), "cpu", "wall") >= 0.2
    assert common.timed(lambda: time.sleep(0.2), "cpu", "cpu") < 0.05
    busy = common.timed(lambda: sum(i * i for i in range(300_000)), "cpu", "cpu")
    assert busy > 0


def test_bad_options_are_one_error_line(tmp_path):
    out = str(tmp_path / "o")
    cases = [
        (["--backbone", "ast", "--methods", "lorra", "--out", out], "--methods: unknown method 'lorra'; valid: ft"),
        (["--backbone", "ast", "--methods", "ft,ft", "--out", out], "names a method twice"),
        (["--backbone", "ast", "--method_options", "{bad", "--out", out], "--method_options is not valid json"),
        (["--backbone", "ast", "--methods", "ft", "--method_options", '{"lora": {"rank": 2}}', "--out", out],
         "--method_options: lora not in --methods"),
        (["--backbone", "ast", "--config", "tiny", "--methods", "lora", "--method_options", '{"lora": {"rank": -1}}',
          "--quick", "--no_memory", "--no_extras", "--out", out], "--method_options lora: "),
        (["peers", "--backbones", "musicfm", "--out", out], "MusicFM has no transformers + peft counterpart"),
        (["checkpointing", "--method", "lorra", "--out", out], "--method: unknown method 'lorra'"),
        (["checkpointing", "--memory_batches", "2", "--out", out], "at least two different batch sizes"),
    ]
    for argv, message in cases:
        code, _, stderr = run_main(argv)
        assert code == 2, argv
        lines = stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and message in lines[-1], (argv, stderr)
        assert "Traceback" not in stderr
    assert not os.path.exists(out)  # refused before anything was written


def test_workers_get_the_options_as_parsed_in_their_current_spelling(capsys):
    """The memory subprocesses' command line: the parsed options, new spellings only (no deprecation line in
    a worker), parsed there to the same values."""
    argv = ["--backbone", "ast", "--config", "tiny", "--methods", "ft,lora", "--num-layers", "2", "--no-extras",
            "--method-options", '{"lora": {"rank": 2}}', "--eval-seconds", "6,12.5", "--seconds", "1.5", "--out", "o"]
    args = benchmark.parse_args(argv)
    assert capsys.readouterr().err.count("is deprecated") == 4
    command = workers.worker_command(args, "methods", "train:lora")
    assert command[-2:] == ["--_worker", "train:lora"] and "--num_layers=2" in command and "--no_extras" in command
    again = benchmark.parse_args(command[3:])
    assert capsys.readouterr().err == ""
    assert vars(again) == {**vars(args), "worker": "train:lora"}


def test_script_entry_point(tmp_path):
    """``python tools/benchmark.py`` (the module form ``python -m tools.benchmark`` runs the memory workers)."""
    script = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "benchmark.py"), "--backbone", "ast",
                             "--methods", "lorra", "--out", str(tmp_path)], capture_output=True, text=True,
                            cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert script.returncode == 2 and script.stderr.strip().splitlines()[-1].startswith("error: --methods")


def test_peers_on_tiny_configurations(tmp_path):
    out = tmp_path / "peers"
    code, stdout, _ = run_main(["peers", "--config", "tiny", "--backbones", "ast,hubert", "--seconds", "1",
                                "--repeats", "3", "--warmup", "0", "--threads", "1", "--no_memory",
                                "--out", str(out)])
    assert code == 0
    data = json.loads((out / "peers.json").read_text())
    ast, hubert = data["results"]["ast"], data["results"]["hubert"]
    assert set(ast["sides"]) == {"toolkit", "peft"} and set(hubert["sides"]) == {"toolkit", "peft", "peft_frozen_fe"}
    for row in (ast, hubert):
        for side in row["sides"].values():
            assert side["step_s"] > 0 and math.isfinite(side["first_loss"]) and side["trainable_params"] > 0
        for peer, r in row["ratios"].items():
            assert len(row["raw_step_s"][peer]) == 3 and r["time"]["rounds"] == 3
            assert r["time"]["ci"][0] <= r["time"]["median"] <= r["time"]["ci"][1]
            assert r["time_verdict"] in ("meets", "misses", "within noise")
    # the same LoRA: rank-8 A and B on q and v of every layer, on both sides
    layers = hubert["sides"]["toolkit"]["trainable_params"]
    assert layers > 0 and "hubert" in stdout and "95% CI" in stdout
    # the memory of one side, in this process (the run uses one subprocess per side)
    args = benchmark.parse_args(["peers", "--config", "tiny", "--seconds", "1", "--out", str(out)])
    assert peers.memory_worker(args, "hubert:peft")["peak_mem_mb"] > 0
    # a second run compared with the first: the verdicts of the same data are the same
    assert peers.compare(data, data) == {"same": True, "changed": {}, "compared": sorted(peers.verdicts(data))}


def test_peer_lora_is_the_same_size_as_ours():
    args = benchmark.parse_args(["peers", "--config", "tiny", "--seconds", "1", "--out", "x"])
    for backbone in ("ast", "hubert"):
        ours, theirs = peers.build_step(backbone, "toolkit", args), peers.build_step(backbone, "peft", args)
        lora = lambda model: sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)  # noqa: E731
        assert lora(ours.model) == lora(theirs.model) > 0


def test_per_clip_memory_fit():
    fit = checkpointing.per_clip_fit({1: 1100.0, 2: 1300.0, 4: 1700.0})
    assert math.isclose(fit["per_clip_mb"], 200.0) and math.isclose(fit["fixed_mb"], 900.0)


def test_checkpointing_on_a_tiny_musicfm(tmp_path):
    """With ``build_backbone(..., gradient_checkpointing=...)`` (lobes): time and memory measured on a
    tiny MusicFM; without that option: one clear error line."""
    from lobes import build_backbone

    try:
        build_backbone("musicfm", config="tiny", gradient_checkpointing=True)
        supported = True
    except TypeError:
        supported = False
    out = tmp_path / "ckpt"
    argv = ["checkpointing", "--config", "tiny", "--batch", "2", "--seconds", "1", "--repeats", "2", "--warmup", "0",
            "--threads", "1", "--no_memory", "--out", str(out)]
    code, stdout, stderr = run_main(argv)
    if not supported:
        assert code == 2 and "no gradient_checkpointing option" in stderr
        return
    assert code == 0, stderr
    data = json.loads((out / "checkpointing.json").read_text())
    assert data["time"]["ratio"]["rounds"] == 2 and data["time"]["verdict"] in ("meets", "misses", "within noise")
    assert all(math.isfinite(loss) for loss in data["first_loss"].values())
    args = benchmark.parse_args(argv)
    checkpointing.check_arguments(args)
    assert checkpointing.memory_worker(args, "with:2")["peak_mem_mb"] > 0
