"""Frame-level recipes (beat/downbeat, chords) end to end: every backbone, every PETL method, the
real-dataset recipes on tiny fixtures in their official layouts, and the offline defaults learn.

Runs are in this process (the recipe's ``train.py`` as ``__main__``, see test_recipes.py) with tiny
randomly initialised backbones, except the learning check, which runs the offline default's
command line with a smaller dataset.
"""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))

from frame_fixtures import make_ballroom, make_beatles, make_gtzan_beats  # noqa: E402
from petl_core.beat import read_beats  # noqa: E402
from petl_core.chord import read_lab  # noqa: E402
from test_recipes import run_train_py  # noqa: E402

FRAME_RECIPES = {"GTZAN/beat": make_gtzan_beats, "Ballroom/beat": make_ballroom, "Beatles/chord": make_beatles}
TINY = ["--device=cpu", "--noprogressbar", "--number_of_epochs=1", "--batch_size=4", "--eval_batch_size=2",
        "--num_workers=0", "--num_threads=1", "--bootstrap_resamples=20", "--precision=fp32",
        "--crop_seconds=1.0", "--eval_window_seconds=1.2", "--eval_overlap_seconds=0.4"]
BEAT_METRICS = {"beat_f", "cmlt", "amlt", "downbeat_f", "loss"}
CHORD_METRICS = {"root", "majmin", "mirex", "loss"}
METHODS = ["adapter", "adapter_seed001", "convpass", "conformer_adapter", "prompt", "prefix", "bitfit", "ssf",
           "lora", "adapter_lora", "ft", "linear", "mlp"]
BACKBONES = ["tiny_ast", "tiny_mert", "tiny_musicfm", "tiny_data2vec"]


@pytest.fixture(scope="module")
def gtzan(tmp_path_factory):
    return make_gtzan_beats(tmp_path_factory.mktemp("gtzan_beats"))


def _run(recipe, data, out, monkeypatch, *extra):
    hparams = os.path.join(REPO, "recipes", recipe, "hparams", "default.yaml")
    run_train_py(os.path.join(REPO, "recipes", recipe, "train.py"),
                 [hparams, f"--data_folder={data}", f"--output_folder={out}", *TINY, *extra], monkeypatch)
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def _check(res, metrics):
    assert res["status"] == "ok" and res["epochs"] == 1
    for split in ("valid", "test"):
        assert set(res[split]) >= metrics and res["n_items"][split] > 0
        assert all(0.0 <= v <= 1.0 for k, v in res[split].items() if k != "loss" and v == v), res[split]


def test_every_frame_recipe_is_covered():
    found = {os.path.relpath(os.path.dirname(d), os.path.join(REPO, "recipes"))
             for d, _, files in os.walk(os.path.join(REPO, "recipes")) if "default.yaml" in files}
    frame = {r for r in found if r.endswith(("/beat", "/chord"))}
    assert frame == set(FRAME_RECIPES) | {"SynthMusic/beat", "SynthMusic/chord"}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_a_frame_recipe(method, gtzan, tmp_path, monkeypatch):
    res = _run("GTZAN/beat", gtzan, str(tmp_path / "out"), monkeypatch, "--backbone=tiny_mert", f"--method={method}")
    _check(res, BEAT_METRICS)
    assert res["params"]["trainable"] > 0 or method in ("linear", "mlp")
    assert res["config"]["task"]["frame_rate"] == 100.0


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_backbone_on_a_frame_recipe(backbone, gtzan, tmp_path, monkeypatch):
    res = _run("GTZAN/beat", gtzan, str(tmp_path / "out"), monkeypatch, f"--backbone={backbone}", "--method=lora")
    _check(res, BEAT_METRICS)
    assert res["config"]["backbone"]["config"] == "tiny"


@pytest.mark.parametrize("recipe", ["Ballroom/beat", "Beatles/chord"])
def test_real_dataset_frame_recipes(recipe, tmp_path, monkeypatch):
    data = FRAME_RECIPES[recipe](tmp_path / "data")
    extra = ["--backbone=tiny_musicfm", "--few_shot_k=2"] + (["--vocabulary=extended"] if "chord" in recipe else [])
    res = _run(recipe, data, str(tmp_path / "out"), monkeypatch, *extra)
    _check(res, CHORD_METRICS if "chord" in recipe else BEAT_METRICS)
    assert res["n_train"] == 2  # few-shot by track
    if "chord" in recipe:
        assert res["config"]["task"]["vocabulary"] == "extended"
        assert len(res["config"]["task"]["classes"]) == 169
    # tools/predict.py writes the track's annotation file (.beats / .lab), readable by the parsers
    import runpy
    predict = runpy.run_path(os.path.join(REPO, "tools", "predict.py"))
    audio = json.load(open(os.path.join(tmp_path, "out", "results.json")))["config"]["manifests"]["test"]
    wav = open(audio).read().splitlines()[1].split(",")[1]
    assert predict["main"](["--run", str(tmp_path / "out"), "--annotations_dir", str(tmp_path / "pred"),
                            "--out", str(tmp_path / "pred.json"), wav]) == 0
    row = json.load(open(tmp_path / "pred.json"))[0]
    if "chord" in recipe:
        intervals, labels = read_lab(row["annotation"])
        assert row["annotation"].endswith(".lab") and intervals[-1, 1] == pytest.approx(2.0, abs=0.01)
    else:
        assert row["annotation"].endswith(".beats") and isinstance(row["beats"], list)
        if row["downbeats"]:
            read_beats(row["annotation"])


@pytest.mark.parametrize("task,metric,floor", [("beat", "beat_f", 0.7), ("chord", "majmin", 0.5)])
def test_offline_default_learns(task, metric, floor, tmp_path):
    """The offline default on 64 clips, 10 epochs (about a minute each): far above chance (an
    untrained model's beat F is 0.38; the most frequent chord class scores majmin 0.05); measured
    here: beat F 0.91, majmin 0.76."""
    script = os.path.join(REPO, "recipes", "SynthMusic", task, "train.py")
    hparams = os.path.join(REPO, "recipes", "SynthMusic", task, "hparams", "default.yaml")
    prep = "{n_train: 64, n_valid: 8, n_test: 8, seed: 2024, sample_rate: 24000, duration: 6.0}"
    cmd = [sys.executable, script, hparams, f"--output_folder={tmp_path / 'out'}", f"--data_folder={tmp_path / 'd'}",
           "--device=cpu", "--noprogressbar", f"--prepare={prep}", "--number_of_epochs=10", "--bootstrap_resamples=20"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-6000:]
    with open(tmp_path / "out" / "results.json") as f:
        res = json.load(f)
    assert res["test"][metric] > floor, res["test"]
