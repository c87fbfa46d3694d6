"""``results.json``: the one file every run leaves in its output folder; written and read here.

Content: ``task``, ``main_metric``, ``valid`` and ``test`` (metric -> value, from the
best-validation checkpoint), ``test_ci95`` (seeded percentile bootstrap, metric -> [low, high]),
``bootstrap`` (resamples, seed), ``params`` (trainable / total / head counts), ``epochs``,
``seconds_per_epoch`` (mean over trained epochs, and the list), ``best_epoch``, ``n_items``,
``config`` (the resolved configuration; ``config.command``: the command line that ran the recipe,
``python <train.py> <hparams> <overrides>``, when the recipe gave its ``train.py``) and ``status``. Written atomically (temporary file in
the same folder + ``os.replace``), so a reader never sees a half-written file.

Reading: :func:`load_results` (one file as written), :func:`run_record` (one run as a flat record:
dataset-task name, backbone and method names and configurations, seed, few-shot k, depth, parameter
counts, metrics) and :func:`read_runs` (every ``results.json`` below some folders, one row per run,
a ``pandas.DataFrame``; the columns are :data:`RUN_COLUMNS` then ``test_<metric>``, ``valid_<metric>``
and ``test_ci_<metric>_low``/``_high``).

Example:
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = write_results(folder, {"test": {"accuracy": 1.0}, "valid": {"accuracy": 0.5}, "task": "genre",
    ...                               "config": {"seed": 3, "method": {"name": "lora", "options": {"rank": 2}}}})
    >>> load_results(path)["test"]["accuracy"]
    1.0
    >>> runs = read_runs([folder])
    >>> runs.loc[0, "task"], runs.loc[0, "method"], int(runs.loc[0, "seed"]), float(runs.loc[0, "test_accuracy"])
    ('genre', 'lora', 3, 1.0)
    >>> runs.loc[0, "method_config"]
    {'options': {'rank': 2}}
"""
from __future__ import annotations

import json
import logging
import math
import os
import re

logger = logging.getLogger(__name__)

REQUIRED = ("test", "valid")
RESULTS_FILE = "results.json"
#: the columns of :func:`read_runs` before the metrics
RUN_COLUMNS = ("task", "main_metric", "backbone", "method", "backbone_config", "method_config", "seed", "few_shot_k",
               "num_layers", "trainable", "total", "head", "seconds_per_epoch", "path")


def _clean(value):
    """JSON-safe: NaN/inf -> None, numpy/torch scalars -> Python, tuples -> lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def write_results(output_folder: str, results: dict, name: str = "results.json") -> str:
    for key in REQUIRED:
        if key not in results:
            raise ValueError(f"results need a {key!r} entry")
    os.makedirs(output_folder, exist_ok=True)
    path = os.path.join(output_folder, name)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_clean(results), f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def extra_results(model, reserved=()) -> dict:
    """What the model's modules add to ``results.json``: the merged ``extra_results()`` of every
    submodule that defines it (e.g. the learned layer weights of a weighted layer sum). A key
    given twice, or one in ``reserved`` (keys the run writes itself), is an error naming the module."""
    out, owner = {}, {}
    for name, module in model.named_modules():
        fn = getattr(module, "extra_results", None)
        if not callable(fn):
            continue
        for key, value in fn().items():
            if key in out or key in reserved:
                raise ValueError(f"extra_results key {key!r} of module {name!r} is already taken "
                                 f"(by {owner.get(key, 'the run itself')!r})")
            out[key], owner[key] = value, name
    return out


def load_results(path: str) -> dict:
    """The content of a ``results.json`` (``path``: the file or the run folder holding it)."""
    if os.path.isdir(path):
        path = os.path.join(path, RESULTS_FILE)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def find_results(roots) -> list[str]:
    """Every ``results.json`` below the folders ``roots`` (a root may be a results file itself), sorted."""
    paths = []
    for root in roots:
        if os.path.isfile(root):
            paths.append(str(root))
            continue
        if not os.path.isdir(root):
            logger.warning("%s does not exist", root)
        paths += [os.path.join(folder, RESULTS_FILE) for folder, _, files in os.walk(root) if RESULTS_FILE in files]
    return sorted(set(paths))


def _name(value, default=None):
    """``{'name': 'lora', ...}`` or ``'lora'`` -> ``'lora'``."""
    if isinstance(value, dict):
        value = value.get("name", default)
    return default if value is None else str(value)


def _settings(value, drop=("name",)) -> dict:
    """The configuration of a ``{'name': ..., **settings}`` mapping (``{}`` for a plain name); unset
    entries (``None``, ``{}``) are left out, so ``'lora'`` and ``{'name': 'lora', 'options': {}}`` match."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k not in drop and v is not None and v != {}}


def _count(value):
    """A whole count (parameters, layers, k, seed) or None."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def task_name(data: dict, path: str) -> str:
    """``Dataset-task`` of a run: ``config.dataset``/``recipe`` (else the recipe folder of
    ``config.hparams_file``) and the task (``task``, else ``config.task``); else the folder above the run."""
    config = data.get("config") or {}
    dataset = _name(config.get("dataset")) or _name(config.get("recipe"))
    hparams_file = config.get("hparams_file")
    if not dataset and isinstance(hparams_file, str):
        parts = os.path.normpath(hparams_file).split(os.sep)
        if "recipes" in parts[:-1]:
            i = len(parts) - 1 - parts[::-1].index("recipes")
            dataset = parts[i + 1] if i + 2 < len(parts) else None
    task = _name(data.get("task")) or _name(config.get("task"))
    if dataset and task and _norm(task) not in _norm(dataset):
        return f"{dataset}-{task}"
    if dataset or task:
        return str(dataset or task)
    # run_grid layout: <root>/<Dataset-task>/<run>/results.json
    return os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(path)))) or "task"


def run_record(path: str) -> dict | None:
    """One run's ``results.json`` as a flat record (the keys of :data:`RUN_COLUMNS` plus ``test``,
    ``valid``: finite metrics, ``test_ci``: metric -> [low, high]); None (logged) for a file that is
    unreadable or has no test metrics."""
    try:
        data = load_results(path)
    except (OSError, ValueError) as exc:
        logger.warning("skipping %s: %s", path, exc)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("test"), dict) or not data["test"]:
        logger.warning("skipping %s: no 'test' metrics", path)
        return None
    config, params = data.get("config") or {}, data.get("params") or {}
    backbone = config.get("backbone")
    num_layers = config.get("num_layers")
    if num_layers is None and isinstance(backbone, dict):
        num_layers = backbone.get("num_layers")
    few = _count(config.get("few_shot_k"))
    ci = data.get("test_ci95") or data.get("test_ci") or {}
    return {
        "task": task_name(data, path),
        "main_metric": data.get("main_metric") if isinstance(data.get("main_metric"), str) else None,
        "backbone": _name(backbone, "?"), "method": _name(config.get("method"), "?"),
        "backbone_config": _settings(backbone, ("name", "num_layers")),
        "method_config": _settings(config.get("method")),
        "seed": _count(config.get("seed")), "few_shot_k": few if few and few > 0 else None,
        "num_layers": _count(num_layers), "trainable": _count(params.get("trainable")),
        "total": _count(params.get("total")), "head": _count(params.get("head")),
        "seconds_per_epoch": data.get("seconds_per_epoch") if _is_number(data.get("seconds_per_epoch")) else None,
        "path": path,
        "test": {k: v for k, v in data["test"].items() if _is_number(v)},
        "valid": {k: v for k, v in (data.get("valid") or {}).items() if _is_number(v)},
        "test_ci": {k: v for k, v in ci.items() if isinstance(v, (list, tuple)) and len(v) == 2
                    and all(_is_number(x) for x in v)},
    }


def read_runs(roots):
    """Every readable run below ``roots`` as a ``pandas.DataFrame``, one row per run: the columns of
    :data:`RUN_COLUMNS` (counts as nullable integers), then ``test_<metric>``, ``valid_<metric>`` and
    ``test_ci_<metric>_low``/``_high`` (NaN where a run lacks the metric)."""
    import pandas as pd

    records = list(filter(None, map(run_record, find_results(roots))))
    keys = {part: sorted({k for r in records for k in r[part]}) for part in ("test", "valid", "test_ci")}
    columns = list(RUN_COLUMNS) + [f"test_{k}" for k in keys["test"]] + [f"valid_{k}" for k in keys["valid"]] + \
        [f"test_ci_{k}_{side}" for k in keys["test_ci"] for side in ("low", "high")]
    rows = []
    for record in records:
        row = {k: record[k] for k in RUN_COLUMNS}
        row.update({f"{part}_{k}": v for part in ("test", "valid") for k, v in record[part].items()})
        row.update({f"test_ci_{k}_{side}": v for k, ci in record["test_ci"].items()
                    for side, v in zip(("low", "high"), ci)})
        rows.append(row)
    runs = pd.DataFrame(rows, columns=columns)
    for column in ("seed", "few_shot_k", "num_layers", "trainable", "total", "head"):
        runs[column] = runs[column].astype("Int64")
    return runs
