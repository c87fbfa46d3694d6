"""Loading a recipe's hparams file: hyperpyyaml, plus the checks and the piece switch.

A recipe's yaml is the experiment's object graph, in SpeechBrain's own syntax (``!new:``,
``!name:``, ``!apply:``, ``!ref``, ``!include:``). What this module adds:

* **pieces chosen by name** (``<backbone>`` in an ``!include:`` path): :mod:`petl_core.yaml_pieces`;
* **one clear error** (a :class:`ConfigError` naming the key and what to do) for an override of a
  key the yaml does not have, a ``!PLACEHOLDER`` left unset, an override whose structure does not
  match the yaml, a ``seed: 0501``-style integer (YAML 1.1 octal) and a command-line option that is
  only a prefix of one of SpeechBrain's run options (argparse would silently take
  ``--optimizer=...`` for ``--optimizer_step_limit``), see :func:`check_command_line`; the first
  three are found in the parsed yaml before hyperpyyaml runs, hyperpyyaml's own errors are caught
  by type;
* :func:`unread_keys`: the top-level keys that neither the yaml (a ``!ref``/``!copy``, or a
  ``<key>`` of an include path) nor the code (the keys it declares) reads — the run refuses to
  train with any (``batch_sise: 8`` is an error, not a silently ignored setting);
* :func:`check_values`: epochs, batch sizes and the learning rate are positive numbers;
* :func:`lr_for_method`: the learning rate of a method in an lr table (``!apply:`` in a yaml).

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("a: 1\\nb: !ref <a> + 1\\nc: 3\\n")
    >>> h = load_hparams(path, {"a": 2})
    >>> h["b"], unread_keys(h, declared={"b"})
    (3, ['c'])
"""
from __future__ import annotations

import io
import os
import re

import ruamel.yaml
import ruamel.yaml.constructor
import ruamel.yaml.error
from hyperpyyaml import load_hyperpyyaml, resolve_references

from petl_core.errors import ConfigError
from petl_core.yaml_pieces import parse, piece_keys, substitute_pieces

#: a ``<key>`` (or ``<key[sub]>``) in a ``!ref``/``!copy`` value: the syntax hyperpyyaml resolves
REFERENCE = re.compile(r"<([A-Za-z_]\w*)")


class Hparams(dict):
    """The loaded hyperparameters (objects built) with ``file`` and ``text``: the resolved yaml
    (references and includes resolved, overrides applied), which reloads on its own."""

    file: str = ""
    text: str = ""
    command: str = ""  # the command line that ran the recipe (results.json config.command), if known


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

    for arg in argv:  # a name that is not UTF-8 (surrogate-escaped bytes): YAML and the logs cannot hold it
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise ConfigError(f"{shown}: a file or folder name that is not UTF-8 (byte "
                              f"{ord(arg[exc.start]) - 0xDC00:#04x}): rename it to a UTF-8 name") from None
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


def yaml_problem(where: str, exc: ruamel.yaml.error.MarkedYAMLError) -> str:
    """One line for a yaml that does not parse: ``where:<line>: ...`` (a tab, a key given twice,
    a syntax error with the line its construct starts on).

    >>> try:
    ...     _ruamel_load("seed: 3\\nseed: 4\\n")
    ... except ruamel.yaml.error.MarkedYAMLError as exc:
    ...     print(yaml_problem("h.yaml", exc))
    h.yaml:2: a key is given twice: found duplicate key "seed" with value "4" (original value: "3"); keep one
    """
    line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
    problem = exc.problem or exc.context or type(exc).__name__
    if isinstance(exc, ruamel.yaml.constructor.DuplicateKeyError):
        return f"{where}:{line}: a key is given twice: {problem}; keep one"
    if "'\\t'" in problem:
        return f"{where}:{line}: a tab character: YAML indents with spaces only; replace the tab with spaces"
    start = exc.context_mark.line + 1 if exc.context_mark else None
    context = f" ({exc.context} that starts on line {start})" if exc.context and start and start != line else ""
    return f"{where}:{line}: not valid YAML: {problem}{context}"


def read_yaml(path: str) -> tuple[str, dict]:
    """``(text, parsed tree)`` of a recipe's yaml; a file that is not UTF-8, not YAML or empty is
    one :class:`ConfigError` naming the file and line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the hparams file ({exc.strerror})") from None
    try:
        tree = parse(text)
    except ruamel.yaml.error.MarkedYAMLError as exc:
        raise ConfigError(yaml_problem(path, exc)) from None
    if not tree:
        raise ConfigError(f"{path}: empty hparams file (no keys): a recipe's yaml defines the run (start from a "
                          "recipe's hparams/default.yaml)")
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: the hparams file must be a mapping of keys, got a {type(tree).__name__}")
    return text, tree


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
    text, tree = read_yaml(path)
    _check_octal(path, text)
    try:
        overrides = parse_overrides(overrides)
    except ruamel.yaml.error.MarkedYAMLError as exc:
        raise ConfigError(yaml_problem("the command-line overrides", exc)) from None
    unknown = [k for k in overrides if k not in tree]
    if unknown:
        raise ConfigError(f"unknown hyperparameter {unknown[0]!r} (given as an override); "
                          f"valid keys: {', '.join(map(str, tree))}")
    placeholders = [k for k, v in tree.items() if _tag(v) == "!PLACEHOLDER" and k not in overrides]
    if placeholders:
        raise ConfigError(f"{path}: {placeholders[0]!r} has no default; give it on the command line "
                          f"(--{placeholders[0]}=...)")
    text = substitute_pieces(path, text, overrides)
    try:
        return resolve_references(_NamedText(text, os.path.abspath(path)), overrides,
                                  overrides_must_match=True).getvalue()
    except KeyError as exc:  # a nested override key the yaml does not have
        raise ConfigError(f"{path}: an override names a key the yaml does not have ({exc.args[0]})") from None
    except (TypeError, ValueError) as exc:  # e.g. a mapping override for a value
        mismatch = _mismatched_override(tree, overrides)
        if mismatch:
            raise ConfigError(f"{path}: {mismatch}") from None
        detail = "; ".join(str(a) for a in exc.args if a is not None)
        raise ConfigError(f"{path}: an override does not match the structure of the yaml ({detail}): a "
                          "mapping key takes a mapping, a value takes a value") from None


def _mismatched_override(tree, overrides, prefix: str = "") -> str | None:
    """What is wrong with the first override whose structure is not the yaml's (None: not found).

    >>> print(_mismatched_override(parse("task: !new:a.Task\\n"), {"task": {"name": "key"}}))
    --task: the yaml's task is !new:a.Task (an object without a mapping of arguments), an override gives a \
mapping only to a mapping: give a whole value (--task='!new:...') or add the arguments to the yaml
    """
    for key, value in overrides.items():
        if key not in tree:
            continue
        node, name = tree[key], f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict) and isinstance(node, dict):
            found = _mismatched_override(node, value, name)
            if found:
                return found
        elif isinstance(value, dict):
            shown = f"{_tag(node)}{' ' + str(node.value) if getattr(node, 'value', '') else ''}" if _tag(node) \
                else repr(node)
            return (f"--{name}: the yaml's {name} is {shown} (an object without a mapping of arguments), an "
                    f"override gives a mapping only to a mapping: give a whole value (--{name}='!new:...') or add "
                    "the arguments to the yaml")
    return None


def references(text: str) -> set[str]:
    """Top-level keys that the yaml ``text`` reads itself: those a ``!ref``/``!copy`` value names
    (anywhere in the parsed tree) and those an ``!include:`` path names (pieces)."""
    found = set(piece_keys(text))

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)
        elif _tag(node) in ("!ref", "!copy"):
            found.update(REFERENCE.findall(str(getattr(node, "value", node))))

    walk(parse(text))
    return found


def unread_keys(hparams: Hparams, declared) -> list[str]:
    """Top-level keys that neither the yaml itself (:func:`references`) nor the code reads:
    ``declared`` are the keys the code reads (the run flow's and the Brain's, see
    :func:`petl_core.recipe.declared_keys`); SpeechBrain's run options are always read."""
    from speechbrain.utils.run_opts import RunOptions

    used = references(_raw_text(hparams)) | set(declared) | set(RunOptions().as_dict())
    return [k for k in hparams if k not in used]


def _raw_text(hparams: Hparams) -> str:
    if hparams.file and os.path.isfile(hparams.file):
        with open(hparams.file, encoding="utf-8") as f:
            return f.read()
    return hparams.text


def _tag(node) -> str | None:
    return getattr(getattr(node, "tag", None), "value", None)


def resolved_tree(text: str) -> dict:
    """A resolved yaml as plain data (tags dropped: an object is the mapping of its arguments)."""
    return _untag(_ruamel_load(text) or {})


def resolved_node(hparams: Hparams | str, key: str):
    """The plain (tag-free) content of top-level ``key`` in the resolved yaml (of ``hparams`` or
    a text from :func:`resolve`), e.g. the ``lobes.build_backbone`` arguments of ``encoder``."""
    tree = _ruamel_load(hparams if isinstance(hparams, str) else hparams.text) or {}
    return _untag(tree.get(key))


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


def check_values(tree: dict) -> None:
    """Epochs, batch sizes and the learning rate (of a resolved yaml, :func:`resolved_tree`) are
    positive numbers of the right kind.

    >>> check_values({"number_of_epochs": 0})
    Traceback (most recent call last):
    petl_core.errors.ConfigError: number_of_epochs must be a positive integer, got 0
    """
    def positive(key, value, kind=int):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        if not ok or (kind is int and not float(value).is_integer()):
            raise ConfigError(f"{key} must be a positive {'integer' if kind is int else 'number'}, got {value!r}")

    positive("number_of_epochs", tree.get("number_of_epochs"))
    for key in ("train_dataloader_opts", "valid_dataloader_opts"):
        opts = tree.get(key) or {}
        positive(f"{key}[batch_size]", opts.get("batch_size", 1))
        workers = opts.get("num_workers", 0)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ConfigError(f"{key}[num_workers] must be an integer >= 0 (0: load in the main process), "
                              f"got {workers!r}")
    for key in ("crop_seconds", "eval_window_seconds"):  # null: whole clips
        if tree.get(key) is not None:
            positive(f"{key} (seconds, or null for whole clips)", tree[key], float)
    opt = tree.get("opt_class") if isinstance(tree.get("opt_class"), dict) else {}
    if "lr" in opt and not isinstance(opt["lr"], dict):  # a mapping: computed (lr_for_method)
        positive("lr", opt["lr"], float)


def lr_for_method(table: dict, method: str) -> float:
    """The learning rate of ``method`` in an lr table (``hparams_common/lr_tables``), else its
    ``default``: ``lr: !apply:petl_core.config.lr_for_method [!ref <lr_by_method>, !ref <petl[name]>]``.

    >>> lr_for_method({"default": 0.005, "prompt": 0.01}, "prompt"), lr_for_method({"default": 0.005}, "lora")
    (0.01, 0.005)
    """
    lr = table.get(method, table.get("default"))
    if lr is None:
        raise ConfigError(f"lr_by_method has no entry for method {method!r} and no 'default'; give --lr")
    return float(lr)


def plain(value):
    """The JSON-able part of a resolved configuration (objects shown by their repr)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
