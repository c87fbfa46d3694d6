"""Caching frozen-stage outputs changes nothing but the time an epoch takes, and the cached entries are read."""
import json
import os

import pytest
import torch

from conftest import run_recipe

RUN = ["--prepare={task: key, n_train: 24, n_valid: 8, n_test: 8, seed: 5, sample_rate: 24000, duration: 2.0}",
       "--backbone=tiny_musicfm", "--number_of_epochs=2", "--batch_size=8", "--crop_seconds=null",
       "--eval_window_seconds=1.0", "--augmentation=null", "--bootstrap_resamples=20"]


def zero_entries(folder):
    """Set every cached entry to zeros (same shape); returns how many there are."""
    names = [name for name in os.listdir(folder) if name.endswith(".pt")]
    for name in names:
        path = os.path.join(folder, name)
        torch.save(torch.zeros_like(torch.load(path, weights_only=True)), path)
    return len(names)


def test_cached_runs_equal_uncached_runs(tmp_path, synth_data):
    """Per method: no cache, a new cache (equal results); then the cached run's test evaluation again
    (``--test_only``) with every entry zeroed must differ: it proves the runs read the entries back (a
    lookup that always misses would recompute the features and give the same results)."""
    for method, options in (("linear", "{}"), ("lora", "{options: {rank: 2}}")):
        cache = str(tmp_path / "cache" / method)
        results = []
        for folder in ("null", cache):
            out = str(tmp_path / f"{len(results)}-{method}")
            proc = run_recipe("key", out, synth_data, *RUN, f"--method={method}", f"--petl={options}",
                              f"--feature_cache={folder}")
            assert proc.returncode == 0
            results.append(json.load(open(os.path.join(out, "results.json"))))
        # equal up to float noise (CPU kernels may round differently for other batch compositions)
        for split in ("valid", "test"):
            assert results[1][split] == pytest.approx(results[0][split], rel=1e-4, abs=1e-6)
        assert zero_entries(cache) >= 24 + 8 + 8  # an entry per training and evaluation clip at least
        proc = run_recipe("key", out, synth_data, *RUN, f"--method={method}", f"--petl={options}",
                          f"--feature_cache={cache}", "--test_only", "--results_file=results_zeroed.json")
        assert proc.returncode == 0
        zeroed = json.load(open(os.path.join(out, "results_zeroed.json")))
        assert zeroed["test"]["loss"] != pytest.approx(results[1]["test"]["loss"], rel=1e-3), method
