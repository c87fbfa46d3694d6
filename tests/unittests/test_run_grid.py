"""tools/run_grid.py: plan = product of axes, resumable, dry run, failures reported, exit status."""
from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from tools import run_grid  # noqa: E402

FAKE_TRAIN = r'''
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
hparams = [a for a in sys.argv[1:] if not a.startswith("--")]
if args.get("method") == "bad":
    print("boom: bad method", file=sys.stderr)
    sys.exit(3)
os.makedirs(args["output_folder"], exist_ok=True)
with open(os.path.join(args["output_folder"], "results.json"), "w") as fh:
    json.dump({"test": {"accuracy": 0.5}, "config": {"argv": sys.argv[1:], "hparams": hparams}}, fh)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.txt"), "a") as fh:
    fh.write(args["output_folder"] + "\n")
'''


@pytest.fixture
def recipe(tmp_path):
    folder = tmp_path / "recipes" / "Fake" / "task"
    (folder / "hparams").mkdir(parents=True)
    (folder / "train.py").write_text(FAKE_TRAIN)
    (folder / "hparams" / "train.yaml").write_text("seed: 1\n")
    return folder


def calls(recipe):
    path = recipe / "calls.txt"
    return path.read_text().split() if path.exists() else []


def test_plan_is_product_with_overrides(recipe, tmp_path):
    args = run_grid.parse_args([
        "--recipe", str(recipe), "--axis", "method=lora,adapter", "--axis", "seed=1,2,3",
        "--set", "number_of_epochs=2", "--root", str(tmp_path / "out")])
    runs = run_grid.build_plan(args)
    assert len(runs) == 6
    assert len({r.output_folder for r in runs}) == 6
    first = runs[0]
    assert first.recipe == "Fake-task" and first.name == "method-lora_seed-1"
    assert first.command[1] == os.path.join(str(recipe), "train.py")
    assert first.command[2] == os.path.join(str(recipe), "hparams", "train.yaml")
    assert "--number_of_epochs=2" in first.command and "--method=lora" in first.command
    assert f"--output_folder={first.output_folder}" in first.command
    assert first.overrides["seed"] == 1


def test_yaml_grid_and_torchrun(recipe, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"recipes: [{recipe}]\naxes: {{backbone: [ast, mert], few_shot_k: [1, 5]}}\n"
                    f"set: {{lr: 0.001}}\nroot: {tmp_path / 'g'}\n")
    args = run_grid.parse_args([str(grid), "--torchrun", "2", "--axis", "seed=7"])
    runs = run_grid.build_plan(args)
    assert len(runs) == 4
    assert runs[0].command[1:4] == ["-m", "torch.distributed.run", "--nproc_per_node=2"]
    assert "--lr=0.001" in runs[0].command and "--seed=7" in runs[0].command
    assert runs[0].output_folder.startswith(str(tmp_path / "g"))


def test_dry_run_runs_nothing(recipe, tmp_path, capsys):
    rc = run_grid.main(["--recipe", str(recipe), "--axis", "method=lora,adapter", "--root", str(tmp_path / "o"),
                        "--dry_run"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "2 to run" in out and "--method=adapter" in out
    assert calls(recipe) == []
    assert not (tmp_path / "o").exists()


def test_runs_skip_existing_and_continue_after_failure(recipe, tmp_path, capsys):
    root = tmp_path / "o"
    done = root / "Fake-task" / "method-lora_seed-1"
    done.mkdir(parents=True)
    (done / "results.json").write_text("{}")
    argv = ["--recipe", str(recipe), "--axis", "method=lora,bad,adapter", "--axis", "seed=1",
            "--root", str(root)]
    rc = run_grid.main(argv)
    assert rc == 1
    captured = capsys.readouterr()
    assert "1 already done" in captured.out
    assert "FAILED" in captured.err and "method-bad_seed-1" in captured.err and "boom" in captured.err
    ran = calls(recipe)
    assert len(ran) == 1 and ran[0].endswith("method-adapter_seed-1")  # lora skipped, bad failed, adapter ran
    result = json.loads((root / "Fake-task" / "method-adapter_seed-1" / "results.json").read_text())
    assert result["config"]["hparams"][0].endswith("train.yaml")
    # second pass: only the failed run is retried
    rc = run_grid.main(argv)
    assert rc == 1 and len(calls(recipe)) == 1
    assert "2 already done" in capsys.readouterr().out


def test_all_ok_exit_zero_and_missing_results_is_failure(recipe, tmp_path):
    assert run_grid.main(["--recipe", str(recipe), "--axis", "seed=1,2", "--root", str(tmp_path / "a")]) == 0
    silent = tmp_path / "silent.py"
    silent.write_text("print('no results')\n")
    assert run_grid.main(["--recipe", str(silent), "--axis", "seed=1", "--root", str(tmp_path / "b")]) == 1


def test_bad_arguments(recipe, tmp_path):
    with pytest.raises(SystemExit):
        run_grid.parse_args(["--axis", "seed=1"])  # no recipe
    with pytest.raises(SystemExit):
        run_grid.parse_args(["--recipe", str(recipe), "--axis", "seed"])  # no '='
    with pytest.raises(SystemExit):
        run_grid.parse_args(["--recipe", str(recipe), "--axis", "seed=1", "--set", "seed=2"])


def test_default_yaml_and_explicit_hparams(tmp_path):
    folder = tmp_path / "recipes" / "Data" / "task"
    (folder / "hparams").mkdir(parents=True)
    (folder / "train.py").write_text("")
    (folder / "hparams" / "default.yaml").write_text("")
    (folder / "hparams" / "real_backbone.yaml").write_text("")
    script, hp, name = run_grid.resolve_recipe(str(folder), None)
    assert hp.endswith("default.yaml") and name == "Data-task"
    _, hp, name = run_grid.resolve_recipe(f"{folder / 'train.py'}:hparams/real_backbone.yaml", None)
    assert hp.endswith("real_backbone.yaml") and name == "Data-task-real_backbone"  # apart from the default's runs
    with pytest.raises(FileNotFoundError):
        run_grid.resolve_recipe(str(folder), "hparams/missing.yaml")
