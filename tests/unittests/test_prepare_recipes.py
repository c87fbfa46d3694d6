"""The recipes' prepare.py wrappers: importable, CLI parses, end-to-end on a tiny ESC-50."""
import glob
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from petl_core.manifest import read_manifest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WRAPPERS = {
    "ESC50/classification": "esc50", "UrbanSound8K/classification": "urbansound8k",
    "SpeechCommands/classification": "speech_commands",
    "FluentSpeechCommands/classification": "fluent_speech_commands",
    "MagnaTagATune/tagging": "magnatagatune", "MTGJamendo/tagging": "mtg_jamendo",
    "GTZAN/genre": "gtzan", "GTZAN/key": "gtzan", "GTZAN/tempo": "gtzan",
    "GiantSteps/key": "giantsteps", "GiantSteps/tempo": "giantsteps",
}


def _load(rel):
    path = os.path.join(ROOT, "recipes", rel, "prepare.py")
    spec = importlib.util.spec_from_file_location("prepare_" + rel.replace("/", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("rel", sorted(WRAPPERS))
def test_wrapper_importable_with_help(rel, capsys):
    module = _load(rel)
    assert callable(module.prepare) and module.dataset.__name__.endswith(WRAPPERS[rel])
    assert os.path.isfile(os.path.join(ROOT, "recipes", rel.split("/")[0], "README.md"))
    with pytest.raises(SystemExit) as code:
        module.main(["--help"])
    assert code.value.code == 0 and "--skip_bad_files" in capsys.readouterr().out


def test_cli_end_to_end_esc50(tmp_path):
    root = tmp_path / "ESC-50"
    (root / "meta").mkdir(parents=True)
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in range(1, 6):
        name = f"{fold}-10000{fold}-A-0.wav"
        lines.append(f"{name},{fold},0,dog,True,10000{fold},A")
        os.makedirs(root / "audio", exist_ok=True)
        sf.write(root / "audio" / name, np.zeros(800, dtype="float32") + 0.1, 8000)
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    script = os.path.join(ROOT, "recipes", "ESC50", "classification", "prepare.py")
    out = subprocess.run([sys.executable, script, "--data_folder", str(root), "--save_folder",
                          str(tmp_path / "save"), "--test_fold", "5"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [r["ID"] for r in read_manifest(tmp_path / "save" / "valid.csv")] == ["4-100004-A-0"]  # PETL_AST roles
    assert "test: " in out.stdout
    bad = subprocess.run([sys.executable, script, "--data_folder", str(tmp_path / "none"),
                          "--save_folder", str(tmp_path / "s2")], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert bad.returncode != 0 and "esc50.csv" in bad.stderr


def test_registry_lists_every_wrapper():
    from petl_core.datasets import DATASETS, get_prepare

    for name in DATASETS:
        assert callable(get_prepare(name))
    assert len(glob.glob(os.path.join(ROOT, "recipes", "*", "*", "prepare.py"))) >= len(WRAPPERS)


def test_cli_valid_fold_option(tmp_path):
    root = tmp_path / "ESC-50"
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in range(1, 6):
        name = f"{fold}-10000{fold}-A-0.wav"
        lines.append(f"{name},{fold},0,dog,True,10000{fold},A")
        sf.write(root / "audio" / name, np.zeros(800, dtype=np.float32), 16000)
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    script = os.path.join(ROOT, "recipes", "ESC50", "classification", "prepare.py")
    for role, expected in (("next", "1-100001-A-0"), ("2", "2-100002-A-0")):
        out = subprocess.run([sys.executable, script, "--data_folder", str(root), "--save_folder",
                              str(tmp_path / role), "--test_fold", "5", "--valid_fold", role],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert [r["ID"] for r in read_manifest(tmp_path / role / "valid.csv")] == [expected]
