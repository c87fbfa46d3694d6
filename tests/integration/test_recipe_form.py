"""A recipe's objects are swapped by editing only its yaml (optimizer, head, loss, augmentation),
and a Brain whose loss differs is a subclass in a train.py of its own."""
import json
import os
import runpy
import sys

import pytest
import torch

from conftest import REPO
from conftest_runs import tiny_run  # noqa: F401

sys.path.insert(0, os.path.join(REPO, "tests"))
from recipe_fixtures import COMMON, MINIMAL  # noqa: E402

import swap_objects  # noqa: E402

SMALL = ["--prepare={task: key, n_train: 24, n_valid: 8, n_test: 8, seed: 5, sample_rate: 24000, duration: 2.0}",
         "--backbone=tiny_musicfm", "--method=lora", "--number_of_epochs=2", "--batch_size=8",
         "--crop_seconds=1.5", "--eval_window_seconds=1.5", "--bootstrap_resamples=20", "--device=cpu",
         "--noprogressbar"]


def run_train_py(script, args, monkeypatch):
    import logging

    monkeypatch.setattr(sys, "argv", [script, *args])
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        for handler in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(handler)


def _edited_key_yaml(tmp_path, edits):
    """recipes/SynthMusic/key/hparams/default.yaml with ``edits`` (old text -> new text), at the same
    depth below a folder that holds hparams_common (its !include: paths are relative)."""
    folder = tmp_path / "recipes" / "Mine" / "key" / "hparams"
    folder.mkdir(parents=True)
    os.symlink(COMMON, tmp_path / "recipes" / "hparams_common")
    text = open(os.path.join(REPO, "recipes", "SynthMusic", "key", "hparams", "default.yaml")).read()
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    (folder / "swapped.yaml").write_text(text)
    return str(folder / "swapped.yaml")


def test_optimizer_head_loss_and_augmentation_swapped_in_the_yaml(tmp_path, synth_data, monkeypatch):
    old_aug = """augmentation: !new:petl_core.augment.Augmenter
    sample_rate: 24000
    seed: !ref <seed>
    pitch_shift: {prob: 0.5, semitones: [-4, -3, -2, -1, 1, 2, 3, 4]}"""
    hparams = _edited_key_yaml(tmp_path, {
        "opt_class: !name:torch.optim.AdamW": "opt_class: !name:torch.optim.RMSprop",
        "head: !name:lobes.heads.MLPHead": "head: !new:torch.nn.Sequential [!new:torch.nn.Dropout [0.1], "
                                           "!new:torch.nn.Linear [32, 24]]\n#",
        "compute_cost: !name:torch.nn.functional.cross_entropy": "compute_cost: !name:swap_objects.counting_cost",
        old_aug: "augmentation: !new:swap_objects.PolarityFlip",
    })
    out = str(tmp_path / "out")
    swap_objects.CALLS.update(cost=0, augmentation=0)
    run_train_py(os.path.join(REPO, "recipes", "SynthMusic", "key", "train.py"),
                 [hparams, f"--output_folder={out}", f"--data_folder={synth_data}", *SMALL], monkeypatch)
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["status"] == "ok" and res["config"]["optimizer"]["class"] == "RMSprop"
    assert res["params"]["head"] == 32 * 24 + 24  # the Sequential's Linear(32, 24)
    assert swap_objects.CALLS["augmentation"] == 2 * 3  # every training batch: 24 clips / 8, 2 epochs
    assert swap_objects.CALLS["cost"] >= 2 * 3 + 4  # training batches + each evaluation's stage loss
    ckpt = next(d for d in os.listdir(os.path.join(out, "save")) if d.startswith("CKPT"))
    optimizer = torch.load(os.path.join(out, "save", ckpt, "optimizer.ckpt"), weights_only=True)
    assert "square_avg" in next(iter(optimizer["state"].values()))  # RMSprop's state, not Adam's


NEW_TASK = '''
"""Tone height with a margin: a Brain subclass in the recipe's own train.py (its loss differs)."""
import sys

from petl_core.clip_brain import ClipBrain
from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup


class MarginBrain(ClipBrain):
    """The loss adds ``logit_penalty`` times the mean squared logit."""

    hparams_keys = ("logit_penalty",)  # what this Brain reads besides the run's keys

    def compute_objectives(self, predictions, batch, stage):
        logits, labels = predictions
        self.keep(stage, logits, labels, batch)
        return self.cost(logits, labels) + self.hparams.logit_penalty * logits.float().pow(2).mean()


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], MarginBrain, recipe_file=__file__)
        data = clip_datasets(hparams)
        brain = MarginBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
'''


def test_a_new_task_is_a_brain_subclass_in_a_train_py(tmp_path, tiny_run, monkeypatch, capsys):
    data = os.path.join(os.path.dirname(tiny_run), "data")
    script = tmp_path / "train.py"
    script.write_text(NEW_TASK)
    out = tmp_path / "out"
    yaml = MINIMAL.format(out=out, data=data, common=COMMON) + "logit_penalty: 0.5\n"
    (tmp_path / "hparams.yaml").write_text(yaml)
    run_train_py(str(script), [str(tmp_path / "hparams.yaml"), "--device=cpu", "--noprogressbar"], monkeypatch)
    res = json.load(open(out / "results.json"))
    assert res["status"] == "ok" and res["task"] == "classification" and 0 <= res["test"]["accuracy"] <= 1
    # the penalty is in the loss: the same run without it has another training loss
    log = (out / "train_log.txt").read_text()
    (tmp_path / "hparams.yaml").write_text(yaml.replace("logit_penalty: 0.5", "logit_penalty: 0.0").replace(
        f"output_folder: {out}", f"output_folder: {out}0"))
    run_train_py(str(script), [str(tmp_path / "hparams.yaml"), "--device=cpu", "--noprogressbar"], monkeypatch)
    assert (tmp_path / "out0" / "train_log.txt").read_text().split("train loss:")[1] != log.split("train loss:")[1]
    assert (out / "train.py").read_text() == NEW_TASK  # the recipe's own file, copied into its folder
    # a key that neither the yaml nor this train.py reads is refused, named
    (tmp_path / "hparams.yaml").write_text(yaml + "logit_penalti: 0.5\n")
    with pytest.raises(SystemExit):
        run_train_py(str(script), [str(tmp_path / "hparams.yaml"), "--device=cpu"], monkeypatch)
    assert "logit_penalti are read by nothing" in capsys.readouterr().err


def test_grid_and_few_shot_tools_drive_a_recipe(tmp_path, synth_data):
    """tools/run_grid.py (backbone x method axes by --key=value) and tools/few_shot.py on the key recipe."""
    import subprocess

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    common = [a for a in SMALL if not a.startswith(("--method", "--number_of_epochs"))] + [
        f"--data_folder={synth_data}", "--number_of_epochs=1"]
    grid = [sys.executable, os.path.join(REPO, "tools", "run_grid.py"), "--recipe",
            os.path.join(REPO, "recipes", "SynthMusic", "key"), "--axis", "method=linear,lora",
            "--root", str(tmp_path / "grid")] + [f"--set={a[2:]}" for a in common if "=" in a]
    proc = subprocess.run(grid, cwd=REPO, capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for method in ("linear", "lora"):
        res = json.load(open(tmp_path / "grid" / "SynthMusic-key" / f"method-{method}" / "results.json"))
        assert res["status"] == "ok" and res["config"]["method"]["name"] == method
        assert res["config"]["optimizer"]["lr"] == 0.001  # the recipe's lr (no lr table: the same for both)
    few = [sys.executable, os.path.join(REPO, "tools", "few_shot.py"),
           os.path.join(REPO, "recipes", "SynthMusic", "key", "train.py"),
           os.path.join(REPO, "recipes", "SynthMusic", "key", "hparams", "default.yaml"),
           "--k", "1", "--seeds", "0", "1", "--out", str(tmp_path / "few"), "--", "--method=linear", *common]
    proc = subprocess.run(few, cwd=REPO, capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.load(open(tmp_path / "few" / "few_shot_k1.json"))
    assert summary["test"]["weighted_score"]["n"] == 2 and summary["failed_seeds"] == []
    for seed in (0, 1):
        assert json.load(open(tmp_path / "few" / f"k1_s{seed}" / "results.json"))["n_train"] == 24  # 1 per key
