"""Experiment tracking by a yaml-only swap of ``train_logger``: SpeechBrain's TensorboardLogger (an
install requirement) and WandBLogger (the ``wandb`` extra, offline) record the same per-epoch
statistics as the file log, read back from what they wrote (TensorBoard's event files, W&B's
offline run file).

A tiny recipe run (tests/recipe_fixtures.py's yaml, tiny MusicFM + LoRA, 2 epochs) on the shared
tiny run's data, in a subprocess: the loggers write and close as in a user's run.
"""
import glob
import json
import os
import struct
import subprocess
import sys

import pytest
from conftest_runs import tiny_run  # noqa: F401

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
from recipe_fixtures import COMMON, MINIMAL  # noqa: E402

FILE_LOGGER = ("train_logger: !new:speechbrain.utils.train_logger.FileTrainLogger "
               "{save_file: !ref <output_folder>/train_log.txt}")
TENSORBOARD = ("train_logger: !new:speechbrain.utils.train_logger.TensorboardLogger "
               "{save_dir: !ref <output_folder>/tensorboard}")
WANDB = """train_logger: !new:speechbrain.utils.train_logger.WandBLogger
    initializer: !name:wandb.init
        project: petl-audio-test
        dir: !ref <output_folder>"""
TRAIN_PY = """import sys
from recipe_fixtures import run_in_process
from petl_core.clip_brain import ClipBrain
run_in_process(ClipBrain, sys.argv[1:])
"""


def run_with_logger(tmp_path, data, logger_yaml, env=None):
    """The tiny recipe with its ``train_logger`` replaced; return (output folder, results.json)."""
    out = str(tmp_path / "out")
    text = MINIMAL.format(out=out, data=data, common=COMMON)
    assert FILE_LOGGER in text
    (tmp_path / "swapped.yaml").write_text(text.replace(FILE_LOGGER, logger_yaml))
    (tmp_path / "train.py").write_text(TRAIN_PY)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", **(env or {}),
               PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, "tests"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(tmp_path / "train.py"), str(tmp_path / "swapped.yaml"),
                           "--device=cpu", "--noprogressbar"], cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, json.load(open(os.path.join(out, "results.json")))


def file_log_epochs(run):
    """``[{stat: value}]`` of each epoch line of a run's file log (``epoch: 1, lr: ... - train loss: ...``)."""
    rows = []
    for line in open(os.path.join(run, "train_log.txt")).read().splitlines():
        if line.startswith("epoch:"):
            pairs = (p.split(": ") for part in line.split(" - ") for p in part.split(", "))
            rows.append({k: float(v) for k, v in pairs})
    return rows


def check_same_as_file_log(per_epoch, results, reference_run):
    """``per_epoch``: ``[{stat: value}]`` named as the file log names them ("valid loss", "lr"...)."""
    reference = file_log_epochs(reference_run)
    assert len(per_epoch) == len(reference) == results["epochs"] == 2
    for mine, theirs, history in zip(per_epoch, reference, results["valid_history"]):
        assert set(mine) == set(theirs)  # the same statistics, epoch by epoch
        for stat in ("epoch", "lr", "train loss", "valid loss", "valid accuracy"):  # not the timing
            assert mine[stat] == pytest.approx(theirs[stat], rel=6e-3)  # the file log prints 3 digits
        assert mine["valid loss"] == pytest.approx(history["loss"], rel=1e-6)
        assert mine["valid accuracy"] == pytest.approx(history["accuracy"], rel=1e-6)


def test_tensorboard_by_a_yaml_swap(tiny_run, tmp_path):  # noqa: F811
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, results = run_with_logger(tmp_path, os.path.join(os.path.dirname(tiny_run), "data"), TENSORBOARD)
    events = EventAccumulator(os.path.join(out, "tensorboard"))
    events.Reload()
    per_epoch = [{} for _ in range(results["epochs"])]
    for tag in events.Tags()["scalars"]:
        name = " ".join(reversed(tag.split("/")))  # "loss/valid" -> "valid loss", as the file log names it
        for event in events.Scalars(tag):
            if event.step <= len(per_epoch) and name != "Epoch loaded" and not name.startswith("test"):
                per_epoch[event.step - 1][name] = event.value
    check_same_as_file_log(per_epoch, results, tiny_run)
    test = {tag: events.Scalars(tag)[-1].value for tag in ("loss/test", "accuracy/test")}
    assert test["accuracy/test"] == pytest.approx(results["test"]["accuracy"], rel=1e-6)
    assert events.Scalars("Epoch loaded")[-1].value == results["best_epoch"]


def wandb_history(run_file):
    """The history rows of a W&B offline run file (a LevelDB-style log of protobuf records)."""
    from wandb.proto import wandb_internal_pb2

    raw, block, pos, payload, rows = open(run_file, "rb").read(), 32768, 7, b"", []
    assert raw[:4] == b":W&B"
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a record header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        payload, pos = payload + raw[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last fragment of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in record.history.item})
            payload = b""
    return rows


def test_wandb_offline_by_a_yaml_swap(tiny_run, tmp_path):  # noqa: F811
    out, results = run_with_logger(tmp_path, os.path.join(os.path.dirname(tiny_run), "data"), WANDB,
                                   env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    (run_file,) = glob.glob(os.path.join(out, "wandb", "offline-run-*", "run-*.wandb"))
    rows = wandb_history(run_file)
    per_epoch = [{k.replace("/", " "): v for k, v in row.items()  # "valid/loss" -> "valid loss"
                  if not k.startswith(("_", "test/")) and k != "Epoch loaded"} for row in rows if "epoch" in row]
    check_same_as_file_log(per_epoch, results, tiny_run)
    test = next(row for row in rows if "test/accuracy" in row)
    assert test["test/accuracy"] == pytest.approx(results["test"]["accuracy"], rel=1e-6)
