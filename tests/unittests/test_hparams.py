"""Every ``recipes/**/hparams/*.yaml`` in SpeechBrain's object-graph form: the papers' settings
(read from the resolved yaml: nothing built, nothing downloaded), every object built with a tiny
backbone, no key unread, the lr following the method, pieces switched from the command line."""
import glob
import os

import pytest
import torch

import ruamel.yaml

from petl_core.augment import Augmenter
from petl_core.brain import PETLBrain
from petl_core.clip_brain import ClipBrain
from petl_core.config import ConfigError, check_command_line, load_hparams, lr_for_method, resolve, resolved_node
from petl_core.config import unread_keys
from petl_core.frame_brain import FrameBrain
from petl_core.recipe import RUN_KEYS, declared_keys
from petl_core.tasks import Task

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AST_RECIPES = ["ESC50/classification", "UrbanSound8K/classification", "SpeechCommands/classification",
               "FluentSpeechCommands/classification"]
MUSIC_RECIPES = ["MagnaTagATune/tagging", "MTGJamendo/tagging", "GTZAN/genre", "GTZAN/key", "GTZAN/tempo",
                 "GiantSteps/key", "GiantSteps/tempo"]
SYNTH_RECIPES = ["SynthMusic/key", "SynthMusic/tempo", "SynthMusic/tagging"]
HPARAMS = sorted(p for r in AST_RECIPES + MUSIC_RECIPES + SYNTH_RECIPES
                 for p in glob.glob(os.path.join(REPO, "recipes", r, "hparams", "*.yaml")))


def _path(recipe):
    return os.path.join(REPO, "recipes", recipe, "hparams", "default.yaml")


def _tiny(path, method=None):
    """Overrides building ``path`` on a tiny backbone (and ``method`` instead of the default)."""
    if method is not None:
        return {"data_folder": "/nonexistent/data", "method": method,
                "backbone": "tiny_ast" if any(r in path for r in AST_RECIPES) else "tiny_musicfm"}
    if any(r in path for r in AST_RECIPES):  # PETL_AST's reduction rate 64 exceeds the 32-wide tiny AST
        return {"data_folder": "/nonexistent/data", "backbone": "tiny_ast", "petl": {"options": {"reduction_rate": 8}}}
    return {"data_folder": "/nonexistent/data", "backbone": "tiny_musicfm"}


def resolved_tag(text, key):
    """The tag of top-level ``key`` in a resolved yaml, e.g. ``!name:torch.optim.AdamW``."""
    return ruamel.yaml.YAML().load(text)[key].tag.value


def _recipe_brain(path):
    """The Brain class the recipe's train.py runs (its module's most derived PETLBrain)."""
    import runpy

    train_py = os.path.join(os.path.dirname(os.path.dirname(path)), "train.py")
    brains = [v for v in runpy.run_path(train_py).values() if isinstance(v, type) and issubclass(v, PETLBrain)]
    return max(brains, key=lambda cls: len(cls.__mro__))


@pytest.mark.parametrize("path", HPARAMS, ids=lambda p: os.path.relpath(p, os.path.join(REPO, "recipes")))
def test_every_object_builds_and_every_key_is_read(path):
    h = load_hparams(path, _tiny(path))
    assert isinstance(h["encoder"], torch.nn.Module) and h["petl_state"].method == h["petl"]["name"]
    assert isinstance(h["task"], Task) and callable(h["compute_cost"]) and callable(h["head"])
    optimizer = h["opt_class"]([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(optimizer, torch.optim.Optimizer) and optimizer.param_groups[0]["lr"] == h["lr"] > 0
    assert h["augmentation"] is None or isinstance(h["augmentation"], Augmenter)
    assert h["lr_annealing"] is None or isinstance(h["lr_annealing"](optimizer, T_max=10),
                                                   torch.optim.lr_scheduler.LRScheduler)
    assert h["epoch_counter"].limit == h["number_of_epochs"] >= 1 and h["batch_size"] >= 1
    assert h["checkpointer"].checkpoints_dir.as_posix() == h["save_folder"]
    assert "<" not in h["output_folder"]
    assert unread_keys(h, declared_keys(_recipe_brain(path))) == []


@pytest.mark.parametrize("recipe", AST_RECIPES)
def test_seed002_defaults(recipe):
    text = resolve(_path(recipe), {"data_folder": "/x"})
    frames, batch, epochs = {"ESC50": (500, 32, 50), "UrbanSound8K": (400, 32, 30), "SpeechCommands": (100, 128, 75),
                             "FluentSpeechCommands": (400, 32, 75)}[recipe.split("/")[0]]
    assert resolved_node(text, "encoder") == {"name": "ast", "pretrained": "MIT/ast-finetuned-audioset-10-10-0.4593",
                                              "max_length": frames}
    assert resolved_node(text, "batch_size") == batch and resolved_node(text, "number_of_epochs") == epochs
    assert resolved_node(text, "petl") == {"name": "adapter", "options": {  # Table I "PF par"
        "style": "pfeiffer", "location": "mhsa", "placement": "parallel", "position": "before", "reduction_rate": 64,
        "init": "petl_ast"}}
    assert resolved_tag(text, "head") == "!name:lobes.heads.LinearHead"
    assert resolved_tag(text, "opt_class") == "!name:torch.optim.AdamW"
    opt = resolved_node(text, "opt_class")
    assert {k: opt[k] for k in ("betas", "eps", "weight_decay")} == {"betas": [0.9, 0.98], "eps": 1e-6,
                                                                    "weight_decay": 0.1}
    assert resolved_tag(text, "lr_annealing") == "!name:torch.optim.lr_scheduler.CosineAnnealingLR"
    assert resolved_node(text, "max_grad_norm") == 0.0  # PETL_AST does not clip (SpeechBrain's default: 5.0)
    for method, lr in (("adapter", 5e-3), ("lora", 5e-3), ("bitfit", 5e-3), ("prompt", 1e-2), ("prefix", 1e-2),
                       ("ft", 5e-5), ("linear", 1e-3)):
        assert load_hparams(_path(recipe), _tiny(recipe, method))["lr"] == pytest.approx(lr)


@pytest.mark.parametrize("recipe", MUSIC_RECIPES)
def test_seed001_defaults(recipe):
    for backbone, name in (("mert_95m", "mert"), ("musicfm_msd", "musicfm")):
        text = resolve(_path(recipe), {"data_folder": "/x", "backbone": backbone})
        encoder = resolved_node(text, "encoder")
        assert encoder["name"] == name and encoder["num_layers"] == 6 and encoder["pretrained"]
        assert resolved_tag(text, "head") == "!name:lobes.heads.MLPHead" and resolved_node(text, "layer") is None
        assert resolved_node(text, "batch_size") == 16 and resolved_tag(text, "opt_class") == "!name:torch.optim.Adam"
        assert resolved_node(text, "lr_annealing") == {"eta_min": 1e-7} and resolved_node(text, "max_grad_norm") == 1.0
        assert resolved_node(text, "precision") == "bf16"
        assert resolved_node(text, "crop_seconds") == resolved_node(text, "eval_window_seconds") == 5.0
    for method, lr in (("adapter", 1e-4), ("mlp", 1e-4), ("ft", 1e-5)):
        assert load_hparams(_path(recipe), _tiny(recipe, method))["lr"] == lr
    augmentation = resolved_node(text, "augmentation")
    task = recipe.split("/")[1]
    if task == "key":
        assert augmentation["pitch_shift"]["semitones"] == [-4, -3, -2, -1, 1, 2, 3, 4]
    if task == "tempo":
        assert augmentation["time_stretch"]["rates"] == [0.95, 0.975, 1.025, 1.05]


def test_command_line_switches_backbone_method_options_layers_fold_and_lr():
    path = _path("ESC50/classification")
    h = load_hparams(path, {**_tiny(path), "method": "lora", "petl": {"options": {"rank": 4}}, "test_fold": 4})
    assert type(h["encoder"]).__name__ == "ASTBackbone" and h["petl_state"].options["rank"] == 4
    assert h["prepare"] == {"test_fold": 4} and "fold4" in h["output_folder"] and h["lr"] == 5e-3
    assert load_hparams(path, {**_tiny(path, "prompt"), "lr": 0.02})["lr"] == 0.02  # an explicit lr wins
    music = _path("GTZAN/key")
    text = resolve(music, {"data_folder": "/x", "backbone": "musicfm_msd", "encoder": {"num_layers": 4}})
    assert resolved_node(text, "encoder")["num_layers"] == 4  # merged into the piece
    assert load_hparams(music, {**_tiny(music), "encoder": {"num_layers": 1}})["encoder"].num_layers == 1
    # a partial prepare override merges into the recipe's prepare options
    assert load_hparams(music, {**_tiny(music), "prepare": {"key_folder": "/k"}})["prepare"] == {
        "split_folder": None, "key_folder": "/k"}


def test_unknown_piece_override_and_placeholder_are_clear_errors():
    path = _path("GTZAN/genre")
    with pytest.raises(ConfigError, match=r"backbone: no piece 'mert_9000'.*valid: .*mert_95m"):
        resolve(path, {"data_folder": "/x", "backbone": "mert_9000"})
    with pytest.raises(ConfigError, match="method: no piece 'lorra'"):
        resolve(path, {"data_folder": "/x", "method": "lorra"})
    with pytest.raises(ConfigError, match="unknown hyperparameter 'batch_sise'"):
        resolve(path, {"data_folder": "/x", "batch_sise": 8})
    with pytest.raises(ConfigError, match="data_folder"):
        resolve(path)


def test_a_key_nobody_reads_is_named(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text("batch_size: 8\nbatch_sise: 8\nopts: {batch_size: !ref <batch_size>}\nmax_grad_norm: 1.0\n"
                    "n: 2\nlist: [!ref <n>]\nm: 3\nprod: !ref <m> * 2\n")
    h = load_hparams(str(path))
    assert unread_keys(h, declared={"opts", "list", "prod"}) == ["batch_sise"]  # run options are SpeechBrain's
    assert unread_keys(h, declared={"opts", "list", "prod", "batch_sise"}) == []
    assert unread_keys(h, declared=set()) == ["batch_sise", "opts", "list", "prod"]  # refs in lists and arithmetic


def test_declared_keys_follow_the_brain_class():
    class PenaltyBrain(ClipBrain):
        hparams_keys = ("logit_penalty",)

    assert declared_keys(ClipBrain) == set(RUN_KEYS) | {"eval_chunk_size"}
    assert declared_keys(FrameBrain) - declared_keys(ClipBrain) == {"frame_rate", "eval_overlap_seconds"}
    assert declared_keys(PenaltyBrain) == declared_keys(ClipBrain) | {"logit_penalty"}


def test_ambiguous_command_line_prefix_is_refused():
    with pytest.raises(ConfigError, match="--optimizer is only the start of .*--optimizer_step_limit"):
        check_command_line(["h.yaml", "--optimizer=adam"])
    check_command_line(["h.yaml", "--optimizer_step_limit=3", "--device=cpu", "--lr=0.1"])


def test_lr_tables():
    table = load_hparams(_path("ESC50/classification"), _tiny(_path("ESC50/classification")))["lr_by_method"]
    assert lr_for_method(table, "prompt") == 0.01 and lr_for_method(table, "ssf") == 0.005
    with pytest.raises(ConfigError, match="no entry for method 'lora'"):
        lr_for_method({"ft": 0.1}, "lora")


def test_the_run_reads_what_the_recipes_document():
    import petl_core.recipe as recipe

    for key in ("crop_seconds", "few_shot_k", "train_dataloader_opts", "bootstrap_seed", "feature_cache"):
        assert key in RUN_KEYS
    assert "recipe_main" in recipe.__doc__ and "setup" in recipe.__doc__
