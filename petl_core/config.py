"""Loading recipe hyperparameters: hyperpyyaml + shared backbone/method pieces.

A recipe's yaml names its backbone and method either inline (a dict) or by preset name; presets
are small yaml files under ``recipes/hparams_common/{backbones,methods}/<name>.yaml`` (found by
walking up from the hparams file), so every backbone × method combination is composed, never
copied:

.. code-block:: yaml

    backbone: mert_95m                       # recipes/hparams_common/backbones/mert_95m.yaml
    method: {preset: lora, options: {rank: 4}}   # the preset, with options overridden

Both are overridable on the command line (``--backbone=small_musicfm --method=adapter``,
``--method="{name: lora, options: {rank: 2}}"``). A method name without a preset file means that
method with its defaults; a backbone name without one means that architecture's published
(real-size) configuration with random weights.

A learning rate that depends on the method (seed 002: 5e-3 adapters, 1e-2 prompts, 5e-5 FT...) is
a table ``lr_by_method`` (a mapping, or the name of ``hparams_common/lr_tables/<name>.yaml``)
keyed by method name, with an optional ``default``; it fills ``optimizer.lr`` when that is null,
after ``--method`` is applied (an explicit ``--lr``/``optimizer.lr`` wins).

Overrides of keys that do not exist in the yaml raise one :class:`ConfigError` naming the key and
listing the valid ones (hyperpyyaml raises a bare ``KeyError``; we rephrase it).
"""
from __future__ import annotations

import copy
import os
import re

import yaml
from hyperpyyaml import load_hyperpyyaml

COMMON_DIR = "hparams_common"
REQUIRED_KEYS = ("number_of_epochs", "output_folder", "data_folder", "seed", "backbone", "method",
                 "few_shot_k", "few_shot_seed")


class ConfigError(ValueError):
    """A hyperparameter problem; the message says which key and what is valid."""


def find_common_dir(start: str) -> str:
    """``recipes/hparams_common`` found by walking up from ``start`` (a file or folder), else the
    toolkit's own."""
    folder = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start))
    while True:
        for candidate in (os.path.join(folder, COMMON_DIR), os.path.join(folder, "recipes", COMMON_DIR)):
            if os.path.isdir(candidate):
                return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    toolkit_copy = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", COMMON_DIR)
    if os.path.isdir(toolkit_copy):  # hparams files outside the toolkit use its shared pieces
        return toolkit_copy
    raise ConfigError(f"no {COMMON_DIR}/ folder found above {start}")


def _deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in update.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def list_presets(common_dir: str, kind: str) -> list[str]:
    folder = os.path.join(common_dir, kind)
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []


def load_preset(common_dir: str, kind: str, name: str) -> dict | None:
    path = os.path.join(common_dir, kind, f"{name}.yaml")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        piece = yaml.safe_load(f) or {}
    if not isinstance(piece, dict):
        raise ConfigError(f"{path}: expected a mapping")
    return piece


def resolve_piece(common_dir: str, kind: str, value) -> dict:
    """``backbone``/``method`` value (preset name, dict with ``preset``, or plain dict) -> dict with ``name``."""
    if isinstance(value, str):
        piece = load_preset(common_dir, kind, value)
        if piece is None:
            piece = {"name": value}
        return _check_piece(kind, piece, value)
    if isinstance(value, dict):
        value = dict(value)
        preset = value.pop("preset", None)
        if preset is not None:
            piece = load_preset(common_dir, kind, preset)
            if piece is None:
                raise ConfigError(f"unknown {kind[:-1]} preset {preset!r}; valid: {', '.join(list_presets(common_dir, kind))}")
            value = _deep_merge(piece, value)
        return _check_piece(kind, value, value)
    raise ConfigError(f"{kind[:-1]} must be a preset name or a mapping with 'name', got {value!r}")


def _check_piece(kind: str, piece: dict, given) -> dict:
    if "name" not in piece:
        raise ConfigError(f"{kind[:-1]} {given!r} has no 'name'")
    if kind == "methods":
        extra = set(piece) - {"name", "options"}
        if extra:
            raise ConfigError(f"method {given!r}: unknown entries {sorted(extra)} (expected 'name' and 'options')")
        piece.setdefault("options", {})
    return piece


def split_overrides(overrides) -> tuple[dict, dict]:
    """(overrides for hyperpyyaml, backbone/method overrides).

    ``backbone``/``method`` may switch between a preset name and a mapping, which hyperpyyaml's
    structural override check refuses: they are applied after loading.
    """
    if isinstance(overrides, str):
        overrides = yaml.safe_load(overrides) if overrides.strip() else {}
    overrides = dict(overrides or {})
    pieces = {k: overrides.pop(k) for k in ("backbone", "method") if k in overrides}
    return overrides, pieces


def load_hparams(hparams_file: str, overrides: str | dict | None = None) -> dict:
    """Load the recipe yaml with overrides; resolve ``backbone``/``method`` presets."""
    with open(hparams_file, encoding="utf-8") as f:
        text = f.read()
    _check_octal(hparams_file, text)
    overrides, pieces = split_overrides(overrides)
    try:
        hparams = load_hyperpyyaml(text, overrides)
    except KeyError as exc:
        match = re.match(r"Override '(.+)' not found in: (.*)", str(exc.args[0]) if exc.args else "")
        if match:
            raise ConfigError(
                f"unknown hyperparameter {match.group(1)!r} (given as an override); valid keys: {match.group(2)}"
            ) from None
        raise
    except ValueError as exc:  # hyperpyyaml: "'data_folder' is a !PLACEHOLDER and must be replaced."
        match = re.match(r"'(.+)' is a !PLACEHOLDER", str(exc))
        if match:
            raise ConfigError(f"{hparams_file}: {match.group(1)!r} has no default; give it on the command line "
                              f"(--{match.group(1)}=...)") from None
        raise
    hparams.update(pieces)
    missing = [k for k in REQUIRED_KEYS if k not in hparams]
    if missing:
        raise ConfigError(f"{hparams_file}: missing required keys {missing}")
    common = find_common_dir(hparams_file)
    hparams["backbone"] = resolve_piece(common, "backbones", hparams["backbone"])
    hparams["method"] = resolve_piece(common, "methods", hparams["method"])
    _apply_lr_table(hparams, common)
    k = hparams.get("few_shot_k")
    if k not in (None, 0) and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise ConfigError(f"few_shot_k must be a positive integer (or 0/null = all data), got {k!r}")
    return hparams


def _apply_lr_table(hparams: dict, common: str) -> None:
    """``optimizer.lr`` from ``lr_by_method`` (see the module docstring) when it is null."""
    table = hparams.get("lr_by_method")
    if table is None:
        return
    if isinstance(table, str):
        loaded = load_preset(common, "lr_tables", table)
        if loaded is None:
            raise ConfigError(f"unknown lr_by_method table {table!r}; valid: "
                              f"{', '.join(list_presets(common, 'lr_tables'))}")
        table = loaded
    if not isinstance(table, dict):
        raise ConfigError(f"lr_by_method must be a mapping or a table name, got {table!r}")
    optimizer = hparams.get("optimizer")
    if not isinstance(optimizer, dict) or optimizer.get("lr") is not None:
        return
    method = hparams["method"]["name"]
    lr = table.get(method, table.get("default"))
    if lr is None:
        raise ConfigError(f"lr_by_method has no entry for method {method!r} and no 'default'; "
                          f"give --lr (or optimizer.lr)")
    hparams["optimizer"] = {**optimizer, "lr": float(lr)}
    if "lr" in hparams and hparams["lr"] is None:
        hparams["lr"] = float(lr)


def _check_octal(path: str, text: str) -> None:
    """Refuse ``seed: 0501``-style integers (YAML 1.1 reads them as octal: 321)."""
    for lineno, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*([A-Za-z_]\w*):\s*(0\d+)\s*(#.*)?$", line)
        if m:
            raise ConfigError(f"{path}:{lineno}: {m.group(1)}: {m.group(2)} has a leading zero (YAML may read it "
                              f"as octal); write {int(m.group(2))} or quote it")


def plain(value):
    """The JSON-able part of a resolved configuration (objects shown by their repr)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
