""":func:`apply_petl`: check a method string and its options, freeze the backbone, inject the methods.

``apply_petl(backbone, "adapter+lora", {"adapter": {...}, "lora": {...}})`` freezes the backbone,
injects every method (in the given order) and returns a :class:`~petl_modules.base.PetlState`, also
kept on the backbone (``backbone.petl_state``) for merge / save / load / adapter switching. The
methods are those registered in :data:`petl_modules.base.METHODS`.

Any method's options may hold ``by_backbone: {<backbone family>: {option: value, ...}}``: the
entry of the backbone's family (``ast``, ``mert``, ``musicfm``, ``hubert``, ``wav2vec2``,
``data2vec``) updates the other options, so one configuration can state a paper's per-model
settings (seed 001's LoRA also adapts MusicFM's pointwise convolutions). The options kept in the
state are the resolved ones.

Example:
    >>> import warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> import petl_modules
    >>> bb = build_backbone("ast", config="tiny")
    >>> state = apply_petl(bb, "lora", {"rank": 2, "targets": ["q", "v"], "by_backbone": {"mert": {"rank": 4}}})
    >>> state.num_trainable()  # 4 layers * 2 * 2 * (32 + 32)
    1024
"""
from __future__ import annotations

import json

from lobes import BACKBONES
from petl_modules.base import (  # noqa: F401  (get_state, PetlState, ... are this module's public names too)
    METHODS, Method, PetlState, get_state, to_like, trainable_parameters,
)
from petl_modules.common import PetlError, freeze

BY_BACKBONE = "by_backbone"


def parse_method(method: str) -> list[str]:
    if not isinstance(method, str) or not method:
        raise PetlError(f"method must be a name such as 'lora' or 'adapter+lora'; valid: {', '.join(METHODS)}")
    names = [m.strip() for m in method.split("+")]
    for name in names:
        if name not in METHODS:
            raise PetlError(f"unknown PETL method {name!r}; valid: {', '.join(METHODS)}")
    if len(set(names)) != len(names):
        raise PetlError(f"method {method!r} names a method twice")
    if len(names) > 1:
        for name in names:
            if not METHODS[name].combinable:
                raise PetlError(f"{name!r} is a baseline and cannot be combined with other methods ({method!r})")
    return names


def split_options(names: list[str], options: dict | None) -> dict[str, dict]:
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise PetlError(f"options must be a mapping, got {type(options).__name__}")
    if len(names) == 1:
        return {names[0]: dict(options)}
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise PetlError(
            f"options of a combination are given per method: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(names)}"
        )
    for name, value in options.items():
        if value is not None and not isinstance(value, dict):
            raise PetlError(f"options[{name!r}] must be a mapping of {name} options")
    return {name: dict(options.get(name) or {}) for name in names}


def for_backbone(name: str, options: dict, family: str) -> dict:
    """``options`` with its ``by_backbone`` entry for ``family`` applied (see the module docstring)."""
    per = options.pop(BY_BACKBONE, None)
    if per is None:
        return options
    if not isinstance(per, dict) or not all(isinstance(v, dict) for v in per.values()):
        raise PetlError(f"{name}: option by_backbone must map a backbone family to options, e.g. "
                        "{musicfm: {rank: 4}}")
    unknown = sorted(set(per) - set(BACKBONES))
    if unknown:
        raise PetlError(f"{name}: by_backbone names unknown backbone famil(ies) {', '.join(map(repr, unknown))}; "
                        f"valid: {', '.join(sorted(BACKBONES))}")
    return {**options, **per.get(family, {})}


def validate(backbone, method: str, options: dict | None = None) -> tuple[list[str], dict[str, dict]]:
    """Check a method string and its options against ``backbone`` without changing anything."""
    names = parse_method(method)
    per = split_options(names, options)
    family = getattr(backbone, "family", "")
    normalized = {name: METHODS[name].validate(backbone, for_backbone(name, per[name], family)) for name in names}
    for name in names:
        METHODS[name].check_combination(normalized[name], {n: o for n, o in normalized.items() if n != name})
    return names, normalized


def apply_petl(backbone, method: str, options: dict | None = None) -> PetlState:
    """Freeze ``backbone`` and inject ``method`` (``'+'``-joined for combinations) in place.

    ``options``: the method's options, or for a combination ``{method_name: options}``.
    Returns the :class:`PetlState` (``state.trainable_parameters()``).
    """
    if get_state(backbone) is not None:
        raise PetlError(
            "this backbone already has a PETL method applied; build a fresh backbone, or use "
            "load_adapter(..., name=...) / set_active_adapter for several adapters of the same method"
        )
    if not hasattr(backbone, "layer_specs"):
        raise PetlError(f"apply_petl needs a lobes backbone (with layer_specs()), got {type(backbone).__name__}")
    names, normalized = validate(backbone, method, options)
    freeze(backbone)
    for name in names:
        METHODS[name].apply(backbone, normalized[name])
    options_out = normalized[names[0]] if len(names) == 1 else normalized
    options_out = json.loads(json.dumps(options_out))  # plain JSON values, as saved with an adapter
    state = PetlState(backbone=backbone, method="+".join(names), options=options_out)
    state.adapters["default"] = None
    backbone.__dict__["petl_state"] = state
    return state
