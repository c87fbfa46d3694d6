"""One tiny trained run shared by the predict and t-SNE tests (trained once per session, in process).

Import the fixture into a test module: ``from conftest_runs import tiny_run  # noqa: F401``. The run
is cached in this module, so every module that imports the fixture reuses the same folder.

Data: 1 s tones at 24 kHz, two classes (``low`` 220 Hz, ``high`` 1760 Hz); 8 train, 4 valid, 6
test clips; tiny MusicFM + LoRA, linear head, 2 epochs (a recipe yaml of its own, no prepare);
evaluation over 0.4 s windows (so the windowed averaging is exercised).
"""
import os
import sys

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # tests/: recipe_fixtures

SR = 24000

_CACHE = {}


def write_tone(path, freq, seconds=1.0, sr=SR, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    data = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    sf.write(str(path), data.astype(np.float32), sr)
    return str(path)


def _write_manifest(path, rows):
    from petl_core.manifest import write_manifest

    write_manifest(rows, str(path))


def train_tiny_run(root):
    """Train the tiny run under ``root``; return its output folder."""
    from recipe_fixtures import COMMON, MINIMAL, run_in_process

    from petl_core.clip_brain import ClipBrain

    data = os.path.join(root, "data")
    os.makedirs(data, exist_ok=True)
    splits = {"train": 8, "valid": 4, "test": 6}
    k = 0
    for split, n in splits.items():
        rows = []
        for i in range(n):
            label = ("low", "high")[i % 2]
            seconds = 1.0 if i % 3 else 0.3  # some clips shorter than the window
            wav = write_tone(os.path.join(data, f"{split}{i}.wav"), 220 if label == "low" else 1760, seconds, seed=k)
            k += 1
            rows.append({"ID": f"{split}{i}", "wav": wav, "duration": seconds, "label": label})
        _write_manifest(os.path.join(data, f"{split}.csv"), rows)
    out = os.path.join(root, "run")
    hparams = os.path.join(root, "hparams.yaml")
    with open(hparams, "w") as f:
        f.write(MINIMAL.format(out=out, data=data, common=COMMON))
    run_in_process(ClipBrain, [hparams, "--device=cpu", "--noprogressbar"])
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Output folder of a tiny trained classification run (shared)."""
    if "run" not in _CACHE:
        _CACHE["run"] = train_tiny_run(str(tmp_path_factory.mktemp("tiny_run")))
    return _CACHE["run"]
