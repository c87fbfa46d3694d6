"""Output folders that never lie: one run at a time, and a rerun only with the same settings.

* :func:`claim`: an exclusive ``flock`` on ``<folder>/.run.lock``, held by the main process for
  its lifetime (released by the kernel when the process dies, ``kill -9`` included). A second run
  on the folder at the same time is one clear error naming the folder;
* :func:`check_same_settings`: a folder that already holds a run (its ``hyperparams.yaml``) is
  resumed or re-evaluated only with the same settings; a rerun with other hyperparameters would
  train nothing (its checkpoints are "done") and write a ``results.json`` claiming the new ones,
  so it is refused with the keys that differ. Settings that change no result
  (:data:`RUN_ONLY_KEYS`: where results go, loader workers, threads, bootstrap size...) may differ;
  a larger ``number_of_epochs`` extends the run (training continues from its last checkpoint)
  unless an ``lr_annealing`` schedule was planned over the old number;
* :func:`write_experiment_files`: what SpeechBrain's ``create_experiment_directory`` writes, once
  (by the main process): the resolved ``hyperparams.yaml`` (it reloads on its own), a copy of the
  recipe's ``train.py``, ``log.txt`` (the logging set-up; the run's log only) and ``env.log`` (the
  environment: Python, ``pip freeze``, git, CUDA).

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> claim(folder); claim(folder)  # the same process may claim again
    >>> check_same_settings(folder, "lr: 0.1\\n")  # no earlier run: nothing to compare
    []
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil

from petl_core.config import _ruamel_load, _untag
from petl_core.errors import ConfigError

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
    changed = sorted(k for k in set(before) | set(now) if k not in RUN_ONLY_KEYS and before.get(k) != now.get(k))
    return [] if _extends(before, now, changed) else changed


def _extends(before: dict, now: dict, changed: list[str]) -> bool:
    """A rerun that only trains more epochs (``number_of_epochs`` grows, the epoch counter's
    ``limit`` with it) and has no learning-rate schedule planned over the old epoch count: it
    continues from the last checkpoint."""
    if "number_of_epochs" not in changed or not set(changed) <= {"number_of_epochs", "epoch_counter"}:
        return False
    old, new = before.get("number_of_epochs"), now.get("number_of_epochs")
    if not (isinstance(old, int) and isinstance(new, int) and new > old) or now.get("lr_annealing") is not None:
        return False
    counters = [dict(c) if isinstance(c, dict) else c for c in (before.get("epoch_counter"), now.get("epoch_counter"))]
    for counter in counters:
        if isinstance(counter, dict):
            counter.pop("limit", None)
    return counters[0] == counters[1]


def write_experiment_files(folder: str, hparams_file: str, resolved_text: str, recipe_file: str | None) -> None:
    """The experiment folder's files (see the module docstring); call on the main process only."""
    import speechbrain as sb
    from speechbrain.core import DEFAULT_LOG_CONFIG

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, SETTINGS_FILE), "w", encoding="utf-8") as f:
        f.write(f"# {hparams_file}, resolved (overrides applied, pieces included); reloads on its own\n")
        f.write(resolved_text)
    if recipe_file and os.path.isfile(recipe_file):
        shutil.copy(recipe_file, folder)
    environment = _environment()  # its pip freeze stays out of log.txt
    sb.utils.logger.setup_logging(DEFAULT_LOG_CONFIG, {"handlers": {"file_handler": {
        "filename": os.path.join(folder, "log.txt")}}})
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, EscapeUndecodable) for f in handler.filters):
            handler.addFilter(EscapeUndecodable())
    with open(os.path.join(folder, "env.log"), "w", encoding="utf-8") as f:
        f.write(environment)


class EscapeUndecodable(logging.Filter):
    """A log record naming a file whose name is not UTF-8 (Python holds its bytes as surrogates)
    is written with those bytes escaped (``\\xff``): the console and ``log.txt`` would otherwise
    print a "--- Logging error ---" traceback before the real message.

    >>> record = logging.LogRecord("x", logging.INFO, __file__, 0, "reading %s", ("bad\\udcff.wav",), None)
    >>> EscapeUndecodable().filter(record), record.getMessage()
    (True, 'reading bad\\\\xff.wav')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        try:
            message.encode("utf-8")
        except UnicodeEncodeError:
            record.msg = message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            record.args = None
        return True


def _environment() -> str:
    """SpeechBrain's environment description (Python, packages, git, CUDA) for ``env.log``, without
    the DEBUG records of the ``pip freeze`` it runs (they would open every ``log.txt``)."""
    import speechbrain as sb

    shell = logging.getLogger("speechbrain.utils.superpowers")
    level = shell.level
    shell.setLevel(logging.INFO)
    try:
        return sb.utils.logger.get_environment_description()
    finally:
        shell.setLevel(level)
