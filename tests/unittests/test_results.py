"""results.json writing."""
import json
import math
import os

import numpy as np
import pytest

from petl_core.results import load_results, write_results


def test_write_atomic_and_clean(tmp_path):
    results = {"test": {"acc": np.float32(0.5), "bad": math.nan}, "valid": {"acc": 1.0},
               "test_ci95": {"acc": (0.25, 0.75)}, "params": {"trainable": np.int64(3)}}
    path = write_results(str(tmp_path), results)
    assert os.listdir(tmp_path) == ["results.json"]  # no temporary file left behind
    data = json.load(open(path))
    assert data["test"] == {"acc": 0.5, "bad": None}
    assert data["test_ci95"]["acc"] == [0.25, 0.75] and data["params"]["trainable"] == 3
    assert load_results(str(tmp_path)) == data


def test_requires_test_and_valid(tmp_path):
    with pytest.raises(ValueError, match="valid"):
        write_results(str(tmp_path), {"test": {}})


def test_overwrite_replaces(tmp_path):
    write_results(str(tmp_path), {"test": {"a": 1}, "valid": {}})
    write_results(str(tmp_path), {"test": {"a": 2}, "valid": {}})
    assert load_results(str(tmp_path))["test"]["a"] == 2


def test_read_back_what_was_written(tmp_path):
    """read_runs reads the layout write_results writes: names, configurations, counts, metrics, CIs."""
    from petl_core.results import read_runs, run_record

    config = {"seed": 7, "few_shot_k": 0, "task": {"name": "key", "num_outputs": 24},
              "backbone": {"name": "mert", "num_layers": 6, "config": "tiny"}, "method": {"name": "lora", "rank": 2},
              "hparams_file": "/x/recipes/SynthMusic/key/hparams/default.yaml"}
    write_results(str(tmp_path / "r1"), {"task": "key", "main_metric": "weighted_score", "test": {"weighted_score": 0.5,
                  "bad": math.nan}, "valid": {"weighted_score": 0.4}, "test_ci95": {"weighted_score": (0.4, 0.6)},
                  "params": {"trainable": np.int64(12), "total": 99, "head": 3}, "config": config})
    record = run_record(str(tmp_path / "r1" / "results.json"))
    assert record["task"] == "SynthMusic-key" and record["backbone"] == "mert" and record["num_layers"] == 6
    assert record["backbone_config"] == {"config": "tiny"} and record["method_config"] == {"rank": 2}
    assert record["few_shot_k"] is None and record["test"] == {"weighted_score": 0.5}
    runs = read_runs([str(tmp_path)])
    row = runs.iloc[0]
    assert (row["trainable"], row["seed"], row["test_ci_weighted_score_low"], row["valid_weighted_score"]) == \
        (12, 7, 0.4, 0.4)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{")
    assert len(read_runs([str(tmp_path)])) == 1  # unreadable files are skipped (logged)
