"""tools/gpu_check.py on the CPU (tiny configurations): the run CI does, so the GPU command itself is tested."""
from __future__ import annotations

import importlib.util
import io
import json
import math
import os
from contextlib import redirect_stderr, redirect_stdout

import pytest

from lobes import BACKBONES

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
spec = importlib.util.spec_from_file_location("gpu_check_tool", os.path.join(ROOT, "tools", "gpu_check.py"))
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = gpu_check.main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("gpu_check") / "report.json"
    code, stdout, _ = run_main(["--device", "cpu", "--methods", "ft,lora", "--out", str(path)])
    return code, json.loads(path.read_text()), stdout


def test_every_backbone_trains_in_bf16_and_matches_fp32(cpu_run):
    code, report, stdout = cpu_run
    assert report["device"] == "cpu" and report["config"] == "tiny" and report["steps"] == 2
    assert set(report["results"]) == set(BACKBONES)
    for backbone, row in report["results"].items():
        assert set(row) == {"ft", "lora"}
        for method, r in row.items():
            assert len(r["losses"]) == 2 and all(math.isfinite(x) for x in r["losses"]), (backbone, method)
            assert r["bf16_vs_fp32"] <= gpu_check.BF16_TOLERANCE, (backbone, method, r["bf16_vs_fp32"])
            assert r["ok"] and r["step_s"] > 0 and r["clips_per_s"] > 0
    assert "step ms" in stdout and "clips/s" in stdout and "peak MB" in stdout
    assert code == (0 if report["ok"] else 1)


def test_gpu_hazards_are_checked(cpu_run):
    """Issue 25's cases: those a CPU can run pass; the CUDA-only ones say so. (The feature cache
    across precisions and MusicFM's rotary cache dtype failed before the lobes fixes of issue 25.)"""
    _, report, stdout = cpu_run
    hazards = report["hazards"]
    assert set(hazards) == {fn.__name__ for fn in gpu_check.HAZARDS}
    assert hazards["syncs_per_step"]["status"] == "n/a" and hazards["ddp_nccl_bf16"]["status"] == "n/a"
    for name in ("ast_resample_bf16", "feature_cache_precisions", "rotary_dtype", "rng_round_trip"):
        assert hazards[name]["status"] == "pass", (name, hazards[name]["detail"])
    assert report["ok"] and "ALL CHECKS PASSED" in stdout


def test_a_crashing_check_is_a_failure_not_a_traceback():
    def broken():
        raise RuntimeError("mat1 and mat2 must have the same dtype")

    assert gpu_check.hazard(broken) == {"status": "fail", "detail": "RuntimeError: mat1 and mat2 must have the "
                                                                    "same dtype"}
    assert gpu_check.relative_error(gpu_check.torch.ones(3), gpu_check.torch.ones(3)) == 0.0


@pytest.mark.parametrize("argv, message", [
    (["--device", "cpu", "--methods", "lorra"], "unknown backbone/method lorra"),
    (["--device", "cpu", "--out", "."], "--out . is a folder: give a file name"),
])
def test_bad_options_are_one_error_line(argv, message):
    """Checks after parsing; the ranges of the numbers are test_tool_arguments' rows."""
    code, _, stderr = run_main(argv)
    assert code == 2 and stderr.strip().splitlines() == [f"error: {stderr.strip()[7:]}"] and message in stderr


def test_no_cuda_says_to_use_the_cpu(capsys):
    if gpu_check.torch.cuda.is_available():
        assert gpu_check.parse_args([]).config == "real"
        return
    with pytest.raises(SystemExit) as exc:
        gpu_check.main([])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--device: cuda: this machine has 0 CUDA device(s); use cpu" in err
