"""Loading a recipe's hparams file: hyperpyyaml, plus the checks and the piece switch.

A recipe's yaml is the experiment's object graph, in SpeechBrain's own syntax (``!new:``,
``!name:``, ``!apply:``, ``!ref``, ``!include:``). What this module adds:

* **pieces chosen by name**: a ``<key>`` inside an ``!include:`` path is replaced by the
  (command-line overridable) value of the top-level ``key``, so one line switches the included
  piece, e.g.

  .. code-block:: yaml

      backbone: small_musicfm                          # --backbone=tiny_ast
      encoder: !include:../../../hparams_common/backbones/<backbone>.yaml {}

  A missing piece is one :class:`ConfigError` listing the pieces there are;
* **one clear error** (a :class:`ConfigError` naming the key and what to do) for an override of a
  key the yaml does not have, a ``!PLACEHOLDER`` left unset, an override whose structure does not
  match the yaml, a ``seed: 0501``-style integer (YAML 1.1 octal) and a command-line option that is
  only a prefix of one of SpeechBrain's run options (argparse would silently take
  ``--optimizer=...`` for ``--optimizer_step_limit``), see :func:`check_command_line`;
* :func:`unread_keys`: the top-level keys that neither the yaml (a ``!ref``) nor the recipe's
  code reads — the base Brain refuses to train with any (``batch_sise: 8`` is an error, not a
  silently ignored setting).

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("a: 1\\nb: !ref <a> + 1\\nc: 3\\n")
    >>> h = load_hparams(path, {"a": 2})
    >>> h["b"], unread_keys(h, "x = hparams['b']")
    (3, ['c'])
"""
from __future__ import annotations

import io
import os
import re

import ruamel.yaml
from hyperpyyaml import load_hyperpyyaml, resolve_references

INCLUDE = re.compile(r"!include:(\S+)")
REF = re.compile(r"<([A-Za-z_]\w*)")
#: python reads of a key: ``hparams["key"]``, ``hparams.get("key"``, ``hparams.key``,
#: ``getattr(hparams, "key"``
PY_READ = re.compile(r"hparams(?:\[\s*[\"'](\w+)[\"']\s*\]|\.get\(\s*[\"'](\w+)[\"']|\.(\w+))"
                     r"|getattr\(\s*(?:self\.)?hparams\s*,\s*[\"'](\w+)[\"']")


class ConfigError(ValueError):
    """A hyperparameter problem; the message says which key and what is valid."""


class Hparams(dict):
    """The loaded hyperparameters (objects built) with ``file`` and ``text``: the resolved yaml
    (references and includes resolved, overrides applied), which reloads on its own."""

    file: str = ""
    text: str = ""


class _NamedText(io.StringIO):
    """Text with the ``name`` hyperpyyaml uses to find ``!include:`` files."""

    def __init__(self, text: str, name: str) -> None:
        super().__init__(text)
        self.name = name


def _ruamel_load(text):
    return ruamel.yaml.YAML().load(text)


def parse_overrides(overrides) -> dict:
    """SpeechBrain's override string (yaml, one top-level key per option; an option given twice:
    the last one wins, as on any command line) or a mapping -> a mapping."""
    if isinstance(overrides, str):
        entries: dict[str, str] = {}
        for line in overrides.splitlines(keepends=True):
            key = re.match(r"([^\s:#][^:]*):", line)
            if key:
                entries.pop(key.group(1), None)
                entries[key.group(1)] = line
            elif entries:
                last = next(reversed(entries))
                entries[last] += line
        overrides = _ruamel_load("".join(entries.values())) if entries else {}
    return dict(overrides or {})


def check_command_line(argv: list[str]) -> None:
    """Refuse ``--name`` options that argparse would prefix-match to a SpeechBrain run option."""
    from speechbrain.utils.run_opts import RunOptions

    options = {s for action in RunOptions._create_parser()._actions for s in action.option_strings}
    for arg in argv:
        if not arg.startswith("--"):
            continue
        name = arg.split("=", 1)[0]
        matches = sorted(o for o in options if o.startswith(name) and o != name)
        if name not in options and matches:
            raise ConfigError(
                f"{name} is only the start of SpeechBrain's run option(s) {', '.join(matches)} (argparse would "
                f"take it for {matches[0]}): give the option in full, or rename the hparams key")


def substitute_pieces(path: str, text: str, overrides: dict) -> str:
    """``<key>`` in ``!include:`` paths -> the value of the top-level ``key`` (see the module doc)."""
    folder = os.path.dirname(os.path.abspath(path))

    def replace(match):
        include = match.group(1)
        for key in REF.findall(include):
            line = re.search(rf"^{key}:[ \t]*([^\s#]*)", text, re.M)  # a top-level scalar
            if key in overrides:
                value = overrides[key]
            elif line:
                value = line.group(1)
            else:
                raise ConfigError(f"{path}: !include:{include} names <{key}>, which is not a top-level key")
            if not isinstance(value, str) or not re.fullmatch(r"[\w.+-]+", value):
                raise ConfigError(f"{key} must be the name of a piece (a file name without .yaml), got {value!r}")
            include = include.replace(f"<{key}>", value)
            target = os.path.join(folder, include)
            if not os.path.isfile(target):
                piece_dir = os.path.dirname(target)
                valid = sorted(f[:-5] for f in os.listdir(piece_dir) if f.endswith(".yaml")) \
                    if os.path.isdir(piece_dir) else []
                raise ConfigError(f"{key}: no piece {value!r} ({os.path.normpath(target)} not found); "
                                  f"valid: {', '.join(valid) or 'none'}")
        return f"!include:{include}"

    return INCLUDE.sub(replace, text)


def load_hparams(path: str, overrides=None) -> Hparams:
    """Load ``path`` with ``overrides`` (a yaml string or a mapping); see the module docstring."""
    return build(path, resolve(path, overrides))


def build(path: str, resolved: str) -> Hparams:
    """The objects of a resolved yaml (:func:`resolve`) of ``path``."""
    out = Hparams(load_hyperpyyaml(resolved))
    out.file, out.text = os.path.abspath(path), resolved
    return out


def resolve(path: str, overrides=None) -> str:
    """The yaml of ``path`` with overrides applied, pieces included and references resolved
    (objects not built: nothing is downloaded); :func:`resolved_node` reads entries of it."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    _check_octal(path, text)
    overrides = parse_overrides(overrides)
    text = substitute_pieces(path, text, overrides)
    try:
        return resolve_references(_NamedText(text, os.path.abspath(path)), overrides,
                                  overrides_must_match=True).getvalue()
    except KeyError as exc:
        match = re.match(r"Override '(.+)' not found in: (.*)", str(exc.args[0]) if exc.args else "")
        if match:
            raise ConfigError(f"unknown hyperparameter {match.group(1)!r} (given as an override); "
                              f"valid keys: {match.group(2)}") from None
        raise
    except ValueError as exc:
        message = str(exc.args[0]) if exc.args else ""
        match = re.match(r"'(.+)' is a !PLACEHOLDER", message)
        if match:
            raise ConfigError(f"{path}: {match.group(1)!r} has no default; give it on the command line "
                              f"(--{match.group(1)}=...)") from None
        if message.startswith("The structure of the overrides"):
            raise ConfigError(f"{path}: an override does not match the structure of the yaml "
                              f"({exc.args[1] if len(exc.args) > 1 else ''}): a mapping key takes a mapping, "
                              "a value takes a value") from None
        raise


def unread_keys(hparams: Hparams, python_source: str) -> list[str]:
    """Top-level keys that no ``!ref`` of the yaml and no ``hparams`` read in ``python_source`` uses."""
    from speechbrain.utils.run_opts import RunOptions

    refs = set(REF.findall(_raw_text(hparams)))
    reads = {name for groups in PY_READ.findall(python_source) for name in groups if name}
    used = refs | reads | set(RunOptions().as_dict())  # sb.Brain reads its run options from hparams
    return [k for k in hparams if k not in used]


def _raw_text(hparams: Hparams) -> str:
    if hparams.file and os.path.isfile(hparams.file):
        with open(hparams.file, encoding="utf-8") as f:
            return f.read()
    return hparams.text


def resolved_tree(text: str) -> dict:
    """A resolved yaml as plain data (tags dropped: an object is the mapping of its arguments)."""
    return _untag(_ruamel_load(text) or {})


def resolved_node(hparams: Hparams | str, key: str):
    """The plain (tag-free) content of top-level ``key`` in the resolved yaml (of ``hparams`` or
    a text from :func:`resolve`), e.g. the ``lobes.build_backbone`` arguments of ``encoder``."""
    tree = _ruamel_load(hparams if isinstance(hparams, str) else hparams.text) or {}
    return _untag(tree.get(key))


def resolved_tag(text: str, key: str) -> str | None:
    """The tag of top-level ``key`` in a resolved yaml, e.g. ``!name:torch.optim.AdamW``."""
    node = (_ruamel_load(text) or {}).get(key)
    return getattr(getattr(node, "tag", None), "value", None)


def _untag(node):
    if isinstance(node, dict):
        return {str(k): _untag(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_untag(v) for v in node]
    if hasattr(node, "value") and hasattr(node, "tag"):  # a tagged scalar
        return node.value
    if isinstance(node, (bool, int, float, str)) or node is None:
        return node if not isinstance(node, str) else str(node)
    return str(node)


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
