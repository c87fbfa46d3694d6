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
