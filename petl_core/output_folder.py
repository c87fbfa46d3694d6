"""Output folders that never lie: one run at a time, and a rerun only with the same settings.

* :func:`claim`: an exclusive ``flock`` on ``<folder>/.run.lock``, held by the main process for
  its lifetime (released by the kernel when the process dies, ``kill -9`` included). A second run
  on the folder at the same time is one clear error naming the folder;
* :func:`check_same_settings`: a folder that already holds a run (its ``hyperparams.yaml``) is
  resumed or re-evaluated only with the same settings; a rerun with other hyperparameters would
  train nothing (its checkpoints are "done") and write a ``results.json`` claiming the new ones,
  so it is refused with the keys that differ. Settings that change no result
  (:data:`RUN_ONLY_KEYS`: where results go, loader workers, threads, bootstrap size...) may differ.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> claim(folder); claim(folder)  # the same process may claim again
    >>> check_same_settings(folder, "lr: 0.1\\n")  # no earlier run: nothing to compare
    []
"""
from __future__ import annotations

import fcntl
import os

from petl_core.config import ConfigError, _untag, _ruamel_load

SETTINGS_FILE = "hyperparams.yaml"
#: keys that may differ between a run and its rerun (they change where results go or how fast)
RUN_ONLY_KEYS = frozenset({"output_folder", "save_folder", "train_log", "data_folder", "results_file", "num_threads",
                           "num_workers", "eval_batch_size", "valid_dataloader_opts", "bootstrap_resamples",
                           "bootstrap_seed", "record_train_ids", "feature_cache", "train_logger", "checkpointer"})
_HELD: dict[str, int] = {}


def claim(folder: str) -> None:
    """Hold ``folder``'s lock for this process (see the module docstring)."""
    folder = os.path.abspath(folder)
    if folder in _HELD:
        return
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, ".run.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"{folder}: another run is using this output folder right now; wait for it or give "
                          "another --output_folder") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD[folder] = fd


def check_same_settings(folder: str, resolved_text: str) -> list[str]:
    """Keys whose value differs from the run already in ``folder`` (none: a resume/re-evaluation)."""
    path = os.path.join(folder, SETTINGS_FILE)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        before = _untag(_ruamel_load(f.read()) or {})
    now = _untag(_ruamel_load(resolved_text) or {})
    return sorted(k for k in set(before) | set(now) if k not in RUN_ONLY_KEYS and before.get(k) != now.get(k))
