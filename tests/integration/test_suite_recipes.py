"""Seed 003's task suite: every recipe trains end to end on a generated official layout (tiny backbone,
one epoch), with the head input choices (one layer, a layer range, the learned weighted sum)."""
import json
import math
import os
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))

from dataset_fixtures import SUITE_DATA  # noqa: E402
from test_recipes import TINY, run_train_py  # noqa: E402

# recipe -> (task, metrics, extra overrides); the extras also cover every layer choice
RECIPES = {
    "NSynth/classification/instrument": ("classification", {"accuracy"}, ["--layer=weighted"]),
    "NSynth/classification/pitch": ("classification", {"accuracy"}, ["--layer=[0, 2]"]),
    "VocalSet/classification/singer": ("classification", {"accuracy"}, ["--crop_seconds=0.5", "--eval_window_seconds=0.5"]),
    "VocalSet/classification/technique": ("classification", {"accuracy"}, ["--layer=1", "--crop_seconds=0.5",
                                                            "--eval_window_seconds=0.5"]),
    "Emomusic/regression/default": ("regression", {"r2", "pearson", "r2_arousal", "r2_valence", "pearson_arousal",
                                           "pearson_valence"}, ["--crop_seconds=0.5", "--eval_window_seconds=0.5",
                                                                "--compute_cost=!name:torch.nn.functional.l1_loss"]),
    "MTGJamendo/tagging/moodtheme": ("tagging", {"mAP", "roc_auc"}, ["--crop_seconds=0.5", "--eval_window_seconds=0.5"]),
    "MTGJamendo/tagging/instrument": ("tagging", {"mAP", "roc_auc"}, ["--crop_seconds=0.5", "--eval_window_seconds=0.5"]),
    "MTGJamendo/tagging/genre": ("tagging", {"mAP", "roc_auc"}, ["--method=lora", "--lr=0.0001", "--crop_seconds=0.5",
                                                         "--eval_window_seconds=0.5"]),
}


def test_every_suite_recipe_has_a_fixture_and_a_readme():
    assert set(SUITE_DATA) == set(RECIPES)
    for recipe in RECIPES:
        assert os.path.isfile(os.path.join(REPO, "recipes", recipe.split("/")[0], "README.md"))
        folder, stem = recipe.rsplit("/", 1)
        assert os.path.isfile(os.path.join(REPO, "recipes", folder, "hparams", f"{stem}.yaml"))


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_suite_recipe_one_epoch(recipe, tmp_path, monkeypatch):
    task, metrics, extra = RECIPES[recipe]
    data = SUITE_DATA[recipe](tmp_path / "data")
    out = str(tmp_path / "out")
    folder, stem = recipe.rsplit("/", 1)
    hparams = os.path.join(REPO, "recipes", folder, "hparams", f"{stem}.yaml")
    run_train_py(os.path.join(REPO, "recipes", folder, "train.py"),
                 [hparams, f"--data_folder={data}", f"--output_folder={out}", *TINY, "--backbone=tiny_data2vec",
                  *extra], monkeypatch)
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["status"] == "ok" and res["task"] == task
    for split in ("valid", "test"):
        assert set(res[split]) >= metrics and res["n_items"][split] > 0
    if task != "regression":
        assert all(0.0 <= res["test"][m] <= 1.0 for m in metrics if not math.isnan(res["test"][m]))
    config = res["config"]
    assert config["backbone"]["name"] == "data2vec"
    if recipe == "NSynth/classification/instrument":  # the learned weights of the 3 kept states, best-valid checkpoint
        assert len(res["layer_weights"]) == 3 and sum(res["layer_weights"]) == pytest.approx(1.0)
    else:
        assert "layer_weights" not in res
    if recipe == "NSynth/classification/pitch":
        assert config["task"]["num_outputs"] == 128 and config["layer"] == [0, 2]
    if recipe == "Emomusic/regression/default":
        assert config["task"]["targets"] == ["arousal", "valence"] and config["task"]["standardize"]
        assert "l1_loss" in str(config["compute_cost"])


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_suite_prepare_wrappers(recipe, tmp_path, capsys):
    """Each recipe's prepare.py: --help, then its CLI writes the manifests of the generated layout."""
    import importlib.util

    from petl_core.manifest import read_manifest

    folder, stem = recipe.rsplit("/", 1)
    path = os.path.join(REPO, "recipes", folder, "prepare.py")
    spec = importlib.util.spec_from_file_location("prepare_" + recipe.replace("/", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as code:
        module.main(["--help"])
    assert code.value.code == 0 and "--skip_bad_files" in capsys.readouterr().out
    data = SUITE_DATA[recipe](tmp_path / "data")
    extra = {"VocalSet/classification/technique": ["--task", "technique", "--test_singers", "f1", "m1"],
             "VocalSet/classification/singer": ["--task", "singer"], "NSynth/classification/pitch": ["--task", "pitch"],
             "MTGJamendo/tagging/moodtheme": ["--subset", "moodtheme"], "MTGJamendo/tagging/instrument": ["--subset", "instrument"],
             "MTGJamendo/tagging/genre": ["--subset", "genre"]}.get(recipe, [])
    paths = module.main(["--data_folder", str(data), "--save_folder", str(tmp_path / "save"), *extra])
    rows = {split: read_manifest(p) for split, p in paths.items()}
    assert all(rows[s] for s in ("train", "valid", "test"))
    if recipe == "VocalSet/classification/technique":
        assert {r["singer"] for r in rows["test"]} == {"f1", "m1"}
