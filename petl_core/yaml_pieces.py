"""Pieces chosen by name: ``<key>`` inside an ``!include:`` path of a recipe's yaml.

The one extension of hyperpyyaml's syntax in the toolkit. A ``<key>`` in an ``!include:`` path is
replaced by the (command-line overridable) value of the top-level ``key`` before hyperpyyaml reads
the file, so one line switches the included piece, wherever the pieces live:

.. code-block:: yaml

    backbone: small_musicfm                          # --backbone=tiny_ast
    encoder: !include:../../../hparams_common/backbones/<backbone>.yaml {}
    petl: !include:../../../hparams_common/methods/seed001/<method>.yaml {}

The values are read from the parsed yaml (ruamel, as hyperpyyaml reads it), overrides first. A
value that is not a plain name, or a piece that does not exist, is one :class:`ConfigError`
listing the pieces there are.

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp(); os.mkdir(os.path.join(folder, "m"))
    >>> _ = open(os.path.join(folder, "m", "lora.yaml"), "w").write("name: lora\\n")
    >>> text = "method: ft\\npetl: !include:m/<method>.yaml {}\\n"
    >>> substitute_pieces(os.path.join(folder, "h.yaml"), text, {"method": "lora"}).splitlines()[1]
    'petl: !include:m/lora.yaml {}'
"""
from __future__ import annotations

import os
import re

import ruamel.yaml

from petl_core.errors import ConfigError

#: an ``!include:`` tag and its path (the path ends at the first space, as in a yaml tag)
INCLUDE = re.compile(r"!include:(\S+)")
#: a ``<key>`` in an include path
PIECE_KEY = re.compile(r"<([A-Za-z_]\w*)>")
#: a piece name: a file name without ``.yaml``
PIECE_NAME = re.compile(r"[\w.+-]+")


def piece_keys(text: str) -> set[str]:
    """The top-level keys named as ``<key>`` in ``!include:`` paths of ``text``.

    >>> sorted(piece_keys("a: !include:x/<backbone>.yaml\\nb: !include:m/<method>.yaml {}"))
    ['backbone', 'method']
    """
    return {key for include in INCLUDE.findall(text) for key in PIECE_KEY.findall(include)}


def substitute_pieces(path: str, text: str, overrides: dict) -> str:
    """``text`` (the yaml of ``path``) with every ``<key>`` of its ``!include:`` paths replaced."""
    keys = piece_keys(text)
    if not keys:
        return text
    top = parse(text)
    values = {}
    for key in keys:
        if key in overrides:
            values[key] = overrides[key]
        elif key in top:
            values[key] = top[key]
        else:
            raise ConfigError(f"{path}: an !include: path names <{key}>, which is not a top-level key")
        if not isinstance(values[key], str) or not PIECE_NAME.fullmatch(values[key]):
            raise ConfigError(f"{key} must be the name of a piece (a file name without .yaml), got {values[key]!r}")
    folder = os.path.dirname(os.path.abspath(path))

    def replace(match):
        include = match.group(1)
        named = PIECE_KEY.findall(include)
        for key in named:
            include = include.replace(f"<{key}>", str(values[key]))
        target = os.path.join(folder, include)
        if named and not os.path.isfile(target):
            key = named[-1]
            raise ConfigError(f"{key}: no piece {values[key]!r} ({os.path.normpath(target)} not found); "
                              f"valid: {', '.join(available(os.path.dirname(target))) or 'none'}")
        return f"!include:{include}"

    return INCLUDE.sub(replace, text)


def parse(text: str):
    """``text`` parsed as hyperpyyaml parses it (ruamel, tags kept), with ``<key>`` of include
    paths read as ``key`` (a ``<`` is not allowed in a yaml tag); a tagged node keeps its tag.

    >>> dict(parse("method: ft\\npetl: !include:m/<method>.yaml {}\\n"))["method"]
    'ft'
    """
    neutral = INCLUDE.sub(lambda m: "!include:" + PIECE_KEY.sub(r"\1", m.group(1)), text)
    return ruamel.yaml.YAML().load(neutral) or {}


def available(folder: str) -> list[str]:
    """The piece names in ``folder`` (its ``*.yaml`` files, without the extension)."""
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []
