"""tools/new_recipe.py: scaffold a recipe per task into tmp, train it for one epoch with the tiny backbone
on the user's lists and on its own generated fixture (subprocess); the yaml follows the shipped template;
the scaffolded prepare's layouts and errors."""
import csv
import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest_runs import write_tone

from petl_core.manifest import DatasetError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
import new_recipe  # noqa: E402

LABELS = {"classification": ["low", "high"], "tagging": ["bass;tone", "tone"], "key": ["Eb minor", "C major"],
          "tempo": ["100", "1.205e+02"]}
METRICS = {"classification": {"accuracy"}, "tagging": {"mAP", "roc_auc"}, "key": {"weighted_score", "accuracy"},
           "tempo": {"acc1", "acc2"}}
TINY = ["--backbone=tiny_musicfm", "--number_of_epochs=1", "--batch_size=4", "--crop_seconds=0.5",
        "--eval_window_seconds=0.5", "--bootstrap_resamples=20", "--num_threads=1", "--device=cpu", "--noprogressbar"]


def write_fixture(folder, labels, sizes=(("train", 6), ("valid", 4), ("test", 4))):
    """Audio under ``folder/audio`` and ``folder/{split}.csv`` (path,label; relative paths)."""
    os.makedirs(os.path.join(folder, "audio"), exist_ok=True)
    k = 0
    for split, n in sizes:
        with open(os.path.join(folder, f"{split}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label"])
            for i in range(n):
                rel = f"audio/{split}{i}.wav"
                write_tone(os.path.join(folder, rel), (220, 1760)[i % 2], 0.8, seed=k)
                k += 1
                writer.writerow([rel, labels[i % 2]])
    return folder


def load_prepare(recipe):
    spec = importlib.util.spec_from_file_location(f"prepare_{os.path.basename(recipe)}",
                                                  os.path.join(recipe, "prepare.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.prepare


@pytest.mark.parametrize("task", ["classification", "tagging", "key", "tempo"])
def test_scaffold_and_train_one_epoch(tmp_path, task):
    assert new_recipe.main(["MyData", "--task", task, "--dest", str(tmp_path / "recipes")]) == 0
    recipe = tmp_path / "recipes" / "MyData" / task
    for name in ("prepare.py", "train.py", "hparams/default.yaml", "README.md"):
        assert (recipe / name).is_file(), name
    data = write_fixture(str(tmp_path / "data"), LABELS[task])
    out = tmp_path / "out"
    cmd = [sys.executable, str(recipe / "train.py"), str(recipe / "hparams" / "default.yaml"), f"--data_folder={data}",
           f"--output_folder={out}", *TINY]
    proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=240,
                          env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.load(open(out / "results.json"))
    assert res["status"] == "ok" and res["task"] == task
    for split in ("valid", "test"):
        assert set(res[split]) >= METRICS[task] | {"loss"}
    assert res["n_items"] == {"valid": 4, "test": 4} and res["epochs"] == 1
    assert res["config"]["backbone"]["name"] == "musicfm" and res["config"]["method"]["name"] == "ft"
    rows = list(csv.DictReader(open(out / "manifests" / "train.csv")))
    assert len(rows) == 6 and rows[0]["ID"] == "audio/train0" and os.path.isabs(rows[0]["wav"])
    assert abs(float(rows[0]["duration"]) - 0.8) < 1e-3
    expected = {"key": "D# minor", "tempo": "100.0", "tagging": "bass;tone", "classification": "low"}[task]
    assert rows[0]["label"] == expected


def test_default_destination_is_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert new_recipe.main(["HereData", "--task", "key", "--backbone", "mert_95m"]) == 0
    assert (tmp_path / "HereData" / "key" / "train.py").is_file()
    assert not os.path.exists(os.path.join(REPO, "recipes", "HereData"))
    # its yaml includes the toolkit's pieces, wherever it is
    from petl_core.config import resolve, resolved_node

    text = resolve(str(tmp_path / "HereData" / "key" / "hparams" / "default.yaml"), {"data_folder": "/d"})
    assert resolved_node(text, "encoder")["pretrained"] == "m-a-p/MERT-v1-95M"


def test_trains_out_of_the_box_on_its_generated_fixture(tmp_path):
    """Issue 20: the README promised a recipe that runs on its fixture, and none was generated."""
    assert new_recipe.main(["Fix", "--task", "classification", "--dest", str(tmp_path / "r")]) == 0
    recipe = tmp_path / "r" / "Fix" / "classification"
    for split, n in new_recipe.FIXTURE_SIZES.items():
        rows = list(csv.DictReader(open(recipe / "fixture" / f"{split}.csv")))
        assert len(rows) == n and {r["label"] for r in rows} == {"major", "minor"}
    out = tmp_path / "out"
    cmd = [sys.executable, str(recipe / "train.py"), str(recipe / "hparams" / "default.yaml"), f"--output_folder={out}",
           *TINY]  # no --data_folder
    proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=240,
                          env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.load(open(out / "results.json"))
    assert res["status"] == "ok" and res["n_items"] == {"valid": 4, "test": 4}
    assert res["config"]["method"]["name"] == "ft" and res["config"]["lr"] == 0.001  # the template's: ft learns


@pytest.mark.parametrize("task", new_recipe.TASKS)
def test_yaml_follows_its_shipped_template(tmp_path, task):
    """Every top-level key of the shipped template is in the scaffold, with the template's value unless the
    scaffold sets it (so a change to the shipped recipe reaches new scaffolds)."""
    folder = new_recipe.scaffold("Same", task, str(tmp_path))
    template = open(os.path.join(REPO, "recipes", new_recipe.TEMPLATES[task][0])).read()
    derived = open(os.path.join(folder, "hparams", "default.yaml")).read()
    keys = [line.split(":")[0] for line in template.splitlines() if line[:1].isalpha() or line[:1] == "_"]
    assert [k for k in keys if not derived.count(f"\n{k}:")] == []
    own = {"output_folder", "data_folder", "prepare", "encoder", "petl", "head", "backbone", "method"}
    own |= {"task", "augmentation"} if task == "classification" else set()
    for key in set(keys) - own:
        assert new_recipe.top_level_value(derived, key) == new_recipe.top_level_value(template, key), key
    assert new_recipe.top_level_value(derived, "task").startswith("!new:petl_core.tasks.")


def test_dest_that_is_a_file_is_one_error_line(tmp_path, capsys):
    dest = tmp_path / "notes.txt"
    dest.write_text("mine")
    assert new_recipe.main(["Demo", "--task", "key", "--dest", str(dest)]) == 1
    assert capsys.readouterr().err == f"error: --dest {dest}: is a file, not a folder; give the folder to create Demo/ in\n"
    assert dest.read_text() == "mine"


def test_refuses_to_overwrite(tmp_path, capsys):
    dest = str(tmp_path / "recipes")
    assert new_recipe.main(["Demo", "--task", "key", "--dest", dest]) == 0
    marker = tmp_path / "recipes" / "Demo" / "key" / "prepare.py"
    marker.write_text("# edited by the user\n")
    assert new_recipe.main(["Demo", "--task", "key", "--dest", dest]) == 1
    assert "already exists" in capsys.readouterr().err
    assert marker.read_text() == "# edited by the user\n"
    assert new_recipe.main(["Demo", "--task", "tempo", "--dest", dest]) == 0  # another task of the same dataset
    with pytest.raises(SystemExit):
        new_recipe.main(["bad/name", "--task", "key", "--dest", dest])


def test_scaffolded_prepare_layouts_and_errors(tmp_path):
    new_recipe.main(["Folders", "--task", "classification", "--dest", str(tmp_path / "r")])
    prepare = load_prepare(str(tmp_path / "r" / "Folders" / "classification"))
    data = tmp_path / "folders"
    for split in ("train", "valid", "test"):
        for label in ("cat", "dog"):
            (data / split / label).mkdir(parents=True)
            write_tone(data / split / label / "a.wav", 440, 0.3)
    paths = prepare(str(data), str(tmp_path / "m"))
    rows = list(csv.DictReader(open(paths["train"])))
    assert [(r["ID"], r["label"]) for r in rows] == [("train/cat/a", "cat"), ("train/dog/a", "dog")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="train split not found"):
        prepare(str(tmp_path / "empty"), str(tmp_path / "m2"))

    new_recipe.main(["Keys", "--task", "key", "--dest", str(tmp_path / "r")])
    prepare = load_prepare(str(tmp_path / "r" / "Keys" / "key"))
    data = write_fixture(str(tmp_path / "keys"), ["Eb minor", "not a key"])
    with pytest.raises(DatasetError) as info:
        prepare(data, str(tmp_path / "m3"))
    assert "train.csv:3: unusable key label 'not a key'" in str(info.value)
    os.remove(os.path.join(data, "audio", "valid0.wav"))
    write_fixture(data, ["Eb minor", "A"])  # fixed labels (rewritten lists, audio regenerated)
    os.remove(os.path.join(data, "audio", "valid0.wav"))
    with pytest.raises(DatasetError, match="valid0.wav: file not found"):
        prepare(data, str(tmp_path / "m3"))
    paths = prepare(data, str(tmp_path / "m3"), skip_bad_files=True)
    assert len(list(csv.DictReader(open(paths["valid"])))) == 3
