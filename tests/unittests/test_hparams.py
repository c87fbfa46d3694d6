"""Every ``recipes/**/hparams/*.yaml`` loads and resolves (presets, lr tables, references) without
building a model or downloading anything; the shared pieces and the lr-by-method tables behave."""
import glob
import inspect
import os

import pytest

from lobes import BACKBONES
from petl_core.augment import Augmenter
from petl_core.config import ConfigError, find_common_dir, list_presets, load_hparams
from petl_core.recipe import OPTIMIZERS, make_optimizer
from petl_modules.registry import METHODS, parse_method

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HPARAMS = sorted(glob.glob(os.path.join(REPO, "recipes", "*", "*", "hparams", "*.yaml")))
COMMON = os.path.join(REPO, "recipes", "hparams_common")
TASKS = {"classification", "tagging", "key", "tempo"}
AST_RECIPES = ["ESC50/classification", "UrbanSound8K/classification", "SpeechCommands/classification",
               "FluentSpeechCommands/classification"]
MUSIC_RECIPES = ["MagnaTagATune/tagging", "MTGJamendo/tagging", "GTZAN/genre", "GTZAN/key", "GTZAN/tempo",
                 "GiantSteps/key", "GiantSteps/tempo"]


def _load(path, **overrides):
    return load_hparams(path, {"data_folder": "/nonexistent/data", **overrides})


def _backbone_options_ok(backbone):
    cls = BACKBONES[backbone["name"]]
    init = getattr(cls, "func", cls)  # functools.partial for the speech-SSL family
    params = inspect.signature(init.__init__ if inspect.isclass(init) else init).parameters
    return set(backbone) - {"name"} <= set(params)


def test_every_recipe_has_a_default():
    recipes = {os.path.relpath(os.path.dirname(os.path.dirname(p)), os.path.join(REPO, "recipes")) for p in HPARAMS}
    assert set(AST_RECIPES + MUSIC_RECIPES) <= recipes
    for recipe in recipes:
        assert os.path.exists(os.path.join(REPO, "recipes", recipe, "hparams", "default.yaml"))
        assert os.path.exists(os.path.join(REPO, "recipes", recipe, "train.py"))


@pytest.mark.parametrize("path", HPARAMS, ids=lambda p: os.path.relpath(p, os.path.join(REPO, "recipes")))
def test_hparams_resolve(path):
    h = _load(path)
    assert h["task"]["name"] in TASKS
    assert h["backbone"]["name"] in BACKBONES and _backbone_options_ok(h["backbone"])
    assert all(name in METHODS for name in parse_method(h["method"]["name"]))
    assert h.get("head", "mlp") in ("linear", "mlp")
    opt = dict(h["optimizer"])
    assert opt["name"] in OPTIMIZERS and isinstance(opt["lr"], float) and opt["lr"] > 0
    import torch

    make_optimizer(h["optimizer"])([torch.nn.Parameter(torch.zeros(1))])
    assert h["lr_schedule"] in ("cosine", "constant", None)
    if h.get("augment"):
        Augmenter(16000, **h["augment"])
    assert isinstance(h.get("prepare") or {}, dict)
    assert h["output_folder"] and "<" not in h["output_folder"]
    assert h["number_of_epochs"] >= 1 and h["batch_size"] >= 1


@pytest.mark.parametrize("recipe", AST_RECIPES)
def test_seed002_defaults(recipe):
    h = _load(os.path.join(REPO, "recipes", recipe, "hparams", "default.yaml"))
    frames, batch, epochs = {"ESC50": (500, 32, 50), "UrbanSound8K": (400, 32, 30), "SpeechCommands": (100, 128, 75),
                             "FluentSpeechCommands": (400, 32, 75)}[recipe.split("/")[0]]
    assert h["backbone"]["name"] == "ast" and h["backbone"]["pretrained"].startswith("MIT/ast-finetuned-audioset")
    assert h["backbone"]["max_length"] == frames and h["batch_size"] == batch and h["number_of_epochs"] == epochs
    assert h["method"]["name"] == "adapter" and h["head"] == "linear"
    assert h["optimizer"] == {"name": "adamw", "lr": 5e-3, "betas": [0.9, 0.98], "eps": 1e-6, "weight_decay": 0.1}
    for method, lr in (("lora", 5e-3), ("bitfit", 5e-3), ("prompt", 1e-2), ("prefix", 1e-2), ("ft", 5e-5),
                       ("linear", 1e-3)):
        assert _load(os.path.join(REPO, "recipes", recipe, "hparams", "default.yaml"),
                     method=method)["optimizer"]["lr"] == pytest.approx(lr)


@pytest.mark.parametrize("recipe", MUSIC_RECIPES)
def test_seed001_defaults(recipe):
    path = os.path.join(REPO, "recipes", recipe, "hparams", "default.yaml")
    for preset, backbone in ((None, "mert"), ("musicfm_msd", "musicfm")):
        h = _load(path, **({"backbone": preset} if preset else {}))
        assert h["backbone"]["name"] == backbone and h["backbone"]["num_layers"] == 6 and h["backbone"]["pretrained"]
        assert h["head"] == "mlp" and h["layer"] is None and h["batch_size"] == 16
        assert h["optimizer"] == {"name": "adam", "lr": 1e-4} and h["lr_min"] == 1e-7 and h["max_grad_norm"] == 1.0
        assert h["precision"] == "bf16" and h["crop_seconds"] == h["eval_window_seconds"] == 5.0
        assert _load(path, method="ft")["optimizer"]["lr"] == 1e-5
        assert _load(path, method="mlp")["optimizer"]["lr"] == 1e-4
    task = h["task"]["name"]
    if task == "key":
        assert h["augment"]["pitch_shift"]["semitones"] == [-4, -3, -2, -1, 1, 2, 3, 4]
    if task == "tempo":
        assert h["augment"]["time_stretch"]["rates"] == [0.95, 0.975, 1.025, 1.05]


def test_overrides_switch_backbone_method_fold_and_lr():
    path = os.path.join(REPO, "recipes", "ESC50", "classification", "hparams", "default.yaml")
    h = _load(path, backbone="tiny_ast", method="lora", test_fold=4)
    assert h["backbone"] == {"name": "ast", "config": "tiny"} and h["method"]["name"] == "lora"
    assert h["prepare"] == {"test_fold": 4} and "fold4" in h["output_folder"]
    assert _load(path, method="prompt", lr=0.02)["optimizer"]["lr"] == 0.02  # an explicit lr wins
    music = os.path.join(REPO, "recipes", "GTZAN", "key", "hparams", "default.yaml")
    h = _load(music, backbone="musicfm_msd", method={"name": "lora", "options": {"rank": 4}}, few_shot_k=2)
    assert h["backbone"]["name"] == "musicfm" and h["method"] == {"name": "lora", "options": {"rank": 4}}
    assert h["few_shot_k"] == 2
    # a partial prepare override merges into the recipe's prepare options
    assert _load(music, prepare={"key_folder": "/x"})["prepare"] == {"split_folder": None, "key_folder": "/x"}


def test_missing_data_folder_is_a_clear_error():
    with pytest.raises(ConfigError, match="data_folder"):
        load_hparams(os.path.join(REPO, "recipes", "GTZAN", "genre", "hparams", "default.yaml"))


def test_lr_tables(tmp_path):
    assert {"seed002_ast", "seed001_music"} <= set(list_presets(COMMON, "lr_tables"))
    assert find_common_dir(HPARAMS[0]) == COMMON
    recipe = tmp_path / "recipes" / "X" / "t" / "hparams"
    recipe.mkdir(parents=True)
    (tmp_path / "recipes" / "hparams_common" / "methods").mkdir(parents=True)
    base = ("seed: 1\noutput_folder: o\ndata_folder: d\nfew_shot_k: 0\nfew_shot_seed: 0\nnumber_of_epochs: 1\n"
            "backbone: ast\nmethod: {m}\nlr: null\noptimizer: {{name: adam, lr: !ref <lr>}}\nlr_by_method: {t}\n")
    (recipe / "a.yaml").write_text(base.format(m="lora", t="{default: 0.1, lora: 0.2}"))
    h = load_hparams(str(recipe / "a.yaml"))
    assert h["optimizer"]["lr"] == 0.2 and h["lr"] == 0.2
    assert load_hparams(str(recipe / "a.yaml"), {"method": "ssf"})["optimizer"]["lr"] == 0.1
    (recipe / "b.yaml").write_text(base.format(m="lora", t="{ft: 0.1}"))
    with pytest.raises(ConfigError, match="no entry for method 'lora'"):
        load_hparams(str(recipe / "b.yaml"))
    (recipe / "c.yaml").write_text(base.format(m="lora", t="nosuchtable"))
    with pytest.raises(ConfigError, match="unknown lr_by_method table"):
        load_hparams(str(recipe / "c.yaml"))
