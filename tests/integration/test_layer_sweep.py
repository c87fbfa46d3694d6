"""tools/layer_sweep.py on a suite recipe: every layer extracted once, a probe per layer and the weighted sum,
rows equal to single-layer runs of the recipe, the table and plots written; the PETL depth sweep."""
import csv
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))

from dataset_fixtures import make_nsynth  # noqa: E402
from test_recipes import run_train_py  # noqa: E402

RECIPE = os.path.join(REPO, "recipes", "NSynth", "classification")
SETS = ["device=cpu", "number_of_epochs=2", "batch_size=4", "eval_batch_size=4", "num_workers=0", "num_threads=1",
        "bootstrap_resamples=20", "precision=fp32", "backbone=tiny_data2vec", "seed=7"]


def _sweep(tmp_path, data, *args):
    cmd = [sys.executable, os.path.join(REPO, "tools", "layer_sweep.py"), RECIPE, "--hparams", "hparams/instrument.yaml",
           "--root", str(tmp_path / "sweep"),
           "--set", f"data_folder={data}", *[a for s in SETS for a in ("--set", s)], *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("layer_sweep")
    data = make_nsynth(tmp_path / "nsynth")
    return tmp_path, data, _sweep(tmp_path, data)


def test_sweep_table_plots_and_single_extraction(swept):
    tmp_path, _, stdout = swept
    root = tmp_path / "sweep"
    rows = list(csv.DictReader(open(root / "layer_sweep.csv")))
    assert [r["layer"] for r in rows] == ["0", "1", "2", "weighted"] and {r["metric"] for r in rows} == {"accuracy"}
    assert all(0.0 <= float(r["test"]) <= 1.0 for r in rows)
    assert (root / "layer_sweep.md").read_text().count("\n") == 6 and "| weighted | accuracy |" in stdout
    for png in ("layer_sweep.png", "layer_weights.png"):
        assert (root / png).stat().st_size > 1000
    entries = [n for n in os.listdir(root / "feature_cache") if n.endswith(".pt")]
    assert len(entries) == 12  # every clip once (6 + 3 + 3), all layers in each entry
    summary = json.load(open(root / "layer_sweep.json"))
    assert summary["wall_seconds"] > 0 and len(summary["rows"][-1]["layer_weights"]) == 3


def test_sweep_rows_reproduce_single_layer_runs(swept, tmp_path, monkeypatch):
    sweep_dir, data, _ = swept
    out = str(tmp_path / "single")
    hparams = os.path.join(RECIPE, "hparams", "instrument.yaml")
    run_train_py(os.path.join(RECIPE, "train.py"),
                 [hparams, f"--data_folder={data}", f"--output_folder={out}", "--layer=1", "--feature_cache=null",
                  "--noprogressbar", *[f"--{s}" for s in SETS]], monkeypatch)
    single = json.load(open(os.path.join(out, "results.json")))
    swept_run = json.load(open(sweep_dir / "sweep" / "NSynth-classification-instrument" / "layer-1" / "results.json"))
    for split in ("valid", "test"):
        assert swept_run[split] == pytest.approx(single[split], rel=1e-5, abs=1e-6)
    assert [h["loss"] for h in swept_run["valid_history"]] == pytest.approx(
        [h["loss"] for h in single["valid_history"]], rel=1e-5)


def test_petl_depth_sweep(tmp_path):
    data = make_nsynth(tmp_path / "nsynth")
    _sweep(tmp_path, data, "--num_layers", "1,2", "--set", "method=lora", "--set", "lr=0.001")
    rows = list(csv.DictReader(open(tmp_path / "sweep" / "layer_sweep.csv")))
    assert [r["num_layers"] for r in rows] == ["1", "2"]
    for n, row in zip((1, 2), json.load(open(tmp_path / "sweep" / "layer_sweep.json"))["rows"]):
        res = json.load(open(os.path.join(row["folder"], "results.json")))
        assert res["config"]["backbone"]["num_layers"] == n and res["config"]["method"]["name"] == "lora"
