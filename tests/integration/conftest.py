"""Shared fixtures for the SynthMusic integration tests (tiny configurations, shared audio)."""
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory):
    """One folder of generated SynthMusic audio for all integration tests (generation is cached)."""
    return str(tmp_path_factory.mktemp("synthmusic_data"))


def run_recipe(task, out, data, *overrides, timeout=300, env=None, launcher=None):
    """Run recipes/SynthMusic/<task>/train.py default.yaml in a subprocess; return CompletedProcess."""
    script = os.path.join(REPO, "recipes", "SynthMusic", task, "train.py")
    hparams = os.path.join(REPO, "recipes", "SynthMusic", task, "hparams", "default.yaml")
    cmd = (launcher or [sys.executable]) + [script, hparams, f"--output_folder={out}", f"--data_folder={data}",
                                            "--device=cpu", "--noprogressbar", *overrides]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", **(env or {}))
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env)
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-8000:])
    return proc
