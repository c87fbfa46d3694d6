"""Caching frozen-stage outputs changes nothing but the time an epoch takes."""
import json
import os

import pytest

from conftest import run_recipe

RUN = ["--prepare={task: key, n_train: 24, n_valid: 8, n_test: 8, seed: 5, sample_rate: 24000, duration: 2.0}",
       "--backbone=tiny_musicfm", "--number_of_epochs=2", "--batch_size=8", "--crop_seconds=null",
       "--eval_window_seconds=1.0", "--augmentation=null", "--bootstrap_resamples=20"]


def test_cached_runs_equal_uncached_runs(tmp_path, synth_data):
    for method, options in (("linear", "{}"), ("lora", "{options: {rank: 2}}")):
        results = []
        for cache in ("null", str(tmp_path / "cache" / method)):
            out = str(tmp_path / f"{len(results)}-{method}")
            proc = run_recipe("key", out, synth_data, *RUN, f"--method={method}", f"--petl={options}",
                              f"--feature_cache={cache}")
            assert proc.returncode == 0
            results.append(json.load(open(os.path.join(out, "results.json"))))
        # equal up to float noise (CPU kernels may round differently for other batch compositions)
        for split in ("valid", "test"):
            assert results[1][split] == pytest.approx(results[0][split], rel=1e-4, abs=1e-6)
        assert os.listdir(str(tmp_path / "cache" / method))  # entries were written
