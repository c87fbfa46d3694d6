"""tools/predict.py on a tiny trained run: output format, equality with the run's own evaluation,
bad audio, and the per-task decoding."""
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest_runs import tiny_run, write_tone  # noqa: F401

from petl_core.inference import decode, find_best_checkpoint, load_run
from petl_core.tasks import ClassificationTask, KeyTask, TaggingTask, TempoTask

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
import predict as predict_tool  # noqa: E402


def _evaluation_logits(run_folder, files):
    """Logits of ``files`` as the recipe's test evaluation computes them: an independently rebuilt
    model, ClipBrain.evaluate(max_key=main metric) with the Checkpointer, batched and windowed."""
    from speechbrain.utils.checkpoints import Checkpointer

    from petl_core.build import build_model
    from petl_core.clip_brain import ClipBrain
    from petl_core.data import make_dataset
    from petl_core.inference import build_run_task, run_config
    from petl_core.manifest import write_manifest
    from petl_core.recipe import load_run_hparams

    config = run_config(run_folder)
    objects = load_run_hparams(run_folder, {"checkpointer": None, "train_logger": None})  # seeds as the run
    task = build_run_task(config, run_folder, objects["task"])
    model = build_model(objects, task)
    manifest = os.path.join(run_folder, "..", "predict_check.csv")
    from lobes.audio import audio_info

    write_manifest([{"ID": f"f{i}", "wav": f, "duration": audio_info(f).duration, "label": task.classes[0]}
                    for i, f in enumerate(files)], manifest)
    sr = model.backbone.sample_rate
    dataset = make_dataset(manifest, task, sr, train=False, max_eval_seconds=config.get("max_eval_seconds"))
    brain = ClipBrain(modules={"model": model}, hparams={}, run_opts={"device": "cpu", "noprogressbar": True},
                      checkpointer=Checkpointer(os.path.join(run_folder, "save")), task=task,
                      compute_cost=objects["compute_cost"],
                      eval_window=int(config["eval_window_seconds"] * sr))
    brain.evaluate(dataset, max_key=task.main_metric, test_loader_kwargs={"batch_size": len(files)})
    assert brain._ids == [f"f{i}" for i in range(len(files))]
    return torch.cat(brain._logits), task


def test_predict_matches_evaluation(tiny_run, tmp_path):
    data = os.path.join(os.path.dirname(tiny_run), "data")
    files = [os.path.join(data, "test0.wav"), os.path.join(data, "test1.wav")]  # 0.3 s and 1.0 s (windowed)
    out = tmp_path / "pred.json"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "predict.py"), "--run", tiny_run,
                           "--top_k", "2", "--out", str(out), *files], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    preds = json.loads(out.read_text())
    assert [p["file"] for p in preds] == files
    for p in preds:
        assert set(p) == {"file", "label", "score", "top_k"}
        assert p["label"] in ("low", "high") and 0.0 <= p["score"] <= 1.0
        assert len(p["top_k"]) == 2 and p["top_k"][0]["label"] == p["label"]
        assert abs(sum(t["score"] for t in p["top_k"]) - 1.0) < 1e-4

    logits, task = _evaluation_logits(tiny_run, files)
    for p, row in zip(preds, logits):
        expected = decode(task, row, top_k=2)
        assert p["label"] == expected["label"]
        assert p["score"] == pytest.approx(expected["score"], abs=1e-4)

    # in process, same checkpoint given explicitly: the same logits
    model, task2, hparams = load_run(tiny_run)
    assert hparams["checkpoint"] == find_best_checkpoint(os.path.join(tiny_run, "save"), "accuracy")
    rows = predict_tool.predict(model, task2, hparams, files, top_k=2)
    assert [r["label"] for r in rows] == [p["label"] for p in preds]
    csv_text = predict_tool.to_csv(task2.name, rows)
    assert csv_text.splitlines()[0] == "file,prediction,score,details" and len(csv_text.splitlines()) == 3


def test_predict_bad_audio_is_one_line(tiny_run, tmp_path, capsys):
    good = write_tone(tmp_path / "good.wav", 440, 0.5)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio\n" * 20)
    out = tmp_path / "pred.json"
    code = predict_tool.main(["--run", tiny_run, "--out", str(out), good, str(bad)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and not out.exists()
    assert err.startswith(f"error: {bad}:") and "\n" not in err
    assert predict_tool.main(["--run", str(tmp_path / "nowhere"), good]) == 1
    assert "run folder not found" in capsys.readouterr().err


def test_help():
    with pytest.raises(SystemExit) as info:
        predict_tool.parse_args(["--help"])
    assert info.value.code == 0


def test_decode_per_task():
    cls = decode(ClassificationTask(["a", "b", "c"]), torch.tensor([0.0, 2.0, 1.0]), top_k=2)
    assert cls["label"] == "b" and [t["label"] for t in cls["top_k"]] == ["b", "c"]
    key = decode(KeyTask(), torch.nn.functional.one_hot(torch.tensor(21), 24).float() * 5)
    assert key["key"] == "A minor" and key["confidence"] > 0.5 and len(key["top_k"]) == 5
    tags = decode(TaggingTask(["rock", "pop", "jazz"]), torch.tensor([3.0, -3.0, 0.5]))
    assert tags["tags"] == ["rock", "jazz"] and set(tags["scores"]) == {"rock", "pop", "jazz"}
    tempo = TempoTask(num_bins=300, min_bpm=1)
    logits = torch.full((300,), -10.0)
    logits[119] = 5.0  # bin 119 = 120 BPM
    assert decode(tempo, logits) == {"bpm": 120.0}


def _moved_run(tiny_run, root, output_folder, save_folder, save_at):
    """A copy of the tiny run whose results.json records ``output_folder``/``save_folder`` and whose
    checkpoints live at ``save_at`` (not ``<run>/save``)."""
    import shutil

    run = root / "b" / "run2"
    shutil.copytree(tiny_run, run)
    shutil.move(str(run / "save"), str(save_at))
    data = json.loads((run / "results.json").read_text())
    data["config"].update(output_folder=output_folder, save_folder=save_folder)
    (run / "results.json").write_text(json.dumps(data))
    return run


@pytest.mark.parametrize("layout", ["relative_output", "absolute_output"])
def test_relative_save_folder_resolved_from_the_run(tiny_run, tmp_path, monkeypatch, capsys, layout):
    """The recipe ran in ``tmp/a`` with ``output_folder: b/run2`` and ``save_folder: ckpts``, and the tool
    is started from another folder: the checkpoints are ``tmp/a/ckpts``, not ``<cwd>/ckpts``."""
    root = tmp_path / "a"
    if layout == "relative_output":
        run = _moved_run(tiny_run, root, "b/run2", "ckpts", root / "ckpts")
    else:  # the recipe's folder is unknown: relative to the run
        (root / "b").mkdir(parents=True)
        run = _moved_run(tiny_run, root, str(root / "b" / "run2"), "ckpts", tmp_path / "ckpts_tmp")
        os.replace(tmp_path / "ckpts_tmp", run / "ckpts")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    wav = write_tone(tmp_path / "clip.wav", 440, 0.5)
    out = tmp_path / "pred.json"
    assert predict_tool.main(["--run", str(run), "--out", str(out), wav]) == 0, capsys.readouterr().err
    assert json.loads(out.read_text())[0]["label"] in ("low", "high")
    assert not os.listdir(elsewhere)


def test_out_never_overwrites_an_input(tiny_run, tmp_path, capsys):
    good = write_tone(tmp_path / "good.wav", 440, 0.5)
    before = open(good, "rb").read()
    assert predict_tool.main(["--run", tiny_run, "--out", good, good]) == 1
    assert "would overwrite an input" in capsys.readouterr().err
    assert open(good, "rb").read() == before


def test_out_that_is_a_folder_is_one_line_and_leaves_nothing(tmp_path, capsys):
    """Issue 20: --out <existing folder> was a traceback after the whole prediction, with a stray .tmp."""
    folder = tmp_path / "preds"
    folder.mkdir()
    wav = write_tone(tmp_path / "a.wav", 440, 0.5)
    assert predict_tool.main(["--run", str(tmp_path / "no_run"), "--out", str(folder), wav]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {folder}: is a folder") and err.count("\n") == 1
    assert os.listdir(folder) == [] and sorted(os.listdir(tmp_path)) == ["a.wav", "preds"]


def test_write_text_atomic_leaves_no_temporary_file_when_the_write_fails(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "x").write_text("keep")  # os.replace cannot put a file over a non-empty folder
    with pytest.raises(OSError):
        predict_tool.write_text_atomic("text", str(target))
    assert sorted(os.listdir(tmp_path)) == ["taken"] and (target / "x").read_text() == "keep"
    predict_tool.write_text_atomic("text", str(tmp_path / "p.json"))
    assert sorted(os.listdir(tmp_path)) == ["p.json", "taken"]
