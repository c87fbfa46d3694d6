"""``results.json``: the one file every run leaves in its output folder.

Content: ``task``, ``main_metric``, ``valid`` and ``test`` (metric -> value, from the
best-validation checkpoint), ``test_ci95`` (seeded percentile bootstrap, metric -> [low, high]),
``bootstrap`` (resamples, seed), ``params`` (trainable / total / head counts), ``epochs``,
``seconds_per_epoch`` (mean over trained epochs, and the list), ``best_epoch``, ``n_items``,
``config`` (the resolved configuration) and ``status``. Written atomically (temporary file in
the same folder + ``os.replace``), so a reader never sees a half-written file.

Example:
    >>> import tempfile, os
    >>> path = write_results(tempfile.mkdtemp(), {"test": {"accuracy": 1.0}, "valid": {"accuracy": 0.5}})
    >>> load_results(path)["test"]["accuracy"]
    1.0
"""
from __future__ import annotations

import json
import math
import os

REQUIRED = ("test", "valid")


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
    if os.path.isdir(path):
        path = os.path.join(path, "results.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)
