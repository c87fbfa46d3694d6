"""Every real-dataset recipe trains end to end on a tiny fixture in the dataset's official layout.

Each recipe's own ``train.py`` + ``hparams/default.yaml`` runs for one epoch with a tiny randomly
initialised backbone (``--backbone=tiny_ast`` / ``tiny_musicfm``); ``results.json`` must hold the
task's valid and test metrics. Most recipes run in this process (the recipe's ``train.py`` run as
``__main__`` by ``runpy``: interpreter start-up would dominate); two run as
``python train.py hparams/default.yaml ...`` subprocesses to cover the command line itself.
"""
import json
import logging
import math
import os
import runpy
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))

from dataset_fixtures import RECIPE_DATA, SUITE_DATA  # noqa: E402

METRICS = {"classification": {"accuracy"}, "tagging": {"mAP", "roc_auc"}, "key": {"weighted_score", "accuracy"},
           "tempo": {"acc1", "acc2"}}
MAIN = {"classification": "accuracy", "tagging": "mAP", "key": "weighted_score", "tempo": "acc1"}
TINY = ["--device=cpu", "--noprogressbar", "--number_of_epochs=1", "--batch_size=4", "--eval_batch_size=4",
        "--num_workers=0", "--num_threads=1", "--bootstrap_resamples=20", "--precision=fp32"]
AST_TINY = ["--backbone=tiny_ast"]
MUSIC_TINY = ["--backbone=tiny_musicfm", "--crop_seconds=1.0", "--eval_window_seconds=1.0"]

# recipe -> (task, extra overrides, expected method, expected lr); some switch method/fold to check overrides
RECIPES = {
    # the default preset (adapter_pf_par, RR 64) with a reduction rate that fits the 32-wide tiny AST
    "ESC50/classification": ("classification", AST_TINY + ["--test_fold=2", "--petl={options: {reduction_rate: 8}}"],
                             "adapter", 5e-3),
    "UrbanSound8K/classification": ("classification", AST_TINY + ["--test_fold=10", "--method=lora"], "lora", 5e-3),
    "SpeechCommands/classification": ("classification", AST_TINY + ["--method=prompt"], "prompt", 1e-2),
    "FluentSpeechCommands/classification": ("classification", AST_TINY + ["--method=bitfit", "--lr=0.002"],
                                            "bitfit", 2e-3),
    "MagnaTagATune/tagging": ("tagging", MUSIC_TINY, "adapter", 1e-4),
    "MTGJamendo/tagging": ("tagging", MUSIC_TINY + ["--method=lora"], "lora", 1e-4),
    "GTZAN/genre": ("classification", MUSIC_TINY + ["--method=ft"], "ft", 1e-5),
    "GTZAN/key": ("key", MUSIC_TINY, "adapter", 1e-4),
    "GTZAN/tempo": ("tempo", MUSIC_TINY, "adapter", 1e-4),
    "GiantSteps/key": ("key", MUSIC_TINY + ["--method=lora"], "lora", 1e-4),
    "GiantSteps/tempo": ("tempo", MUSIC_TINY, "adapter", 1e-4),
}
SUBPROCESS = {"ESC50/classification", "GTZAN/key"}


def test_every_real_recipe_is_covered():
    found = {os.path.relpath(dirpath, os.path.join(REPO, "recipes"))
             for dirpath, _, files in os.walk(os.path.join(REPO, "recipes")) if "train.py" in files}
    suite = {r.rsplit("/", 1)[0] for r in SUITE_DATA}  # seed 003's suite: tests/integration/test_suite_recipes.py
    frame = {r for r in found if r.endswith(("/beat", "/chord"))}  # tests/integration/test_frame_recipes.py
    assert found - {"SynthMusic/key", "SynthMusic/tempo", "SynthMusic/tagging"} - frame == set(RECIPES) | suite
    assert set(RECIPE_DATA) == set(RECIPES)


def run_train_py(script, args, monkeypatch):
    """``python script args...`` in this process (``__name__ == "__main__"``)."""
    monkeypatch.setattr(sys, "argv", [script, *args])
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):  # SpeechBrain adds console/file handlers
            root.removeHandler(handler)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_one_epoch(recipe, tmp_path, monkeypatch):
    task, extra, method, lr = RECIPES[recipe]
    data = RECIPE_DATA[recipe](tmp_path / "data")
    out = str(tmp_path / "out")
    hparams = os.path.join(REPO, "recipes", recipe, "hparams", "default.yaml")
    args = [hparams, f"--data_folder={data}", f"--output_folder={out}", *TINY, *extra]
    if recipe in SUBPROCESS:
        cmd = [sys.executable, os.path.join(REPO, "recipes", recipe, "train.py"), *args]
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-6000:]
    else:
        run_train_py(os.path.join(REPO, "recipes", recipe, "train.py"), args, monkeypatch)
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["status"] == "ok" and res["task"] == task and res["main_metric"] == MAIN[task]
    for split in ("valid", "test"):
        assert set(res[split]) >= METRICS[task], (split, res[split])
        assert res["n_items"][split] > 0
    assert all(0.0 <= res["test"][m] <= 1.0 for m in METRICS[task] if not math.isnan(res["test"][m]))
    assert res["epochs"] == 1
    config = res["config"]
    assert config["method"]["name"] == method
    assert config["optimizer"]["lr"] == pytest.approx(lr)
    assert config["backbone"]["name"] in ("ast", "musicfm") and config["backbone"]["config"] == "tiny"
    if recipe.startswith(("ESC50", "UrbanSound8K")):
        fold = int(next(a for a in extra if a.startswith("--test_fold")).split("=")[1])
        assert config["prepare"]["test_fold"] == fold
