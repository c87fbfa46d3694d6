"""Method registry and :func:`apply_petl`.

A method is one file defining a :class:`Method` subclass and one entry in :data:`METHODS`.
``apply_petl(backbone, "adapter+lora", {"adapter": {...}, "lora": {...}})`` freezes the backbone,
injects every method (in the given order) and returns a :class:`PetlState`, also kept on the
backbone (``backbone.petl_state``) for merge / save / load / adapter switching.

Example:
    >>> import warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> bb = build_backbone("ast", config="tiny")
    >>> state = apply_petl(bb, "lora", {"rank": 2, "targets": ["q", "v"]})
    >>> sum(p.numel() for _, p in state.trainable_parameters())  # 4 layers * 2 * 2 * (32 + 32)
    1024
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field


import torch
from torch import nn

from petl_modules.common import PetlError, freeze


class Method:
    """Base class of a PETL method: ``validate`` options, then ``apply`` them to a backbone."""

    name: str = ""
    defaults: dict = {}
    #: methods whose trained tensors can be folded into the frozen weights (LoRA, SSF, BitFit)
    mergeable: bool = False
    #: baselines cannot be combined with other methods
    combinable: bool = True

    def validate(self, backbone, options: dict) -> dict:
        """Plain, complete options (defaults filled); raise :class:`PetlError` on bad ones."""
        raise NotImplementedError

    def apply(self, backbone, options: dict) -> None:
        """Inject modules / unfreeze tensors (the backbone is already frozen)."""
        raise NotImplementedError


def _methods() -> dict[str, Method]:
    from petl_modules.adapter import AdapterMethod
    from petl_modules.baselines import FullFineTuning, LinearProbe, MLPProbe
    from petl_modules.bitfit import BitFit
    from petl_modules.conformer_adapter import ConformerAdapterMethod
    from petl_modules.convpass import ConvpassMethod
    from petl_modules.lora import LoRAMethod
    from petl_modules.prefix import PrefixTuning
    from petl_modules.prompt import PromptTuning
    from petl_modules.ssf import SSFMethod

    classes = [AdapterMethod, ConvpassMethod, ConformerAdapterMethod, PromptTuning, PrefixTuning, BitFit,
               SSFMethod, LoRAMethod, FullFineTuning, LinearProbe, MLPProbe]
    return {cls.name: cls() for cls in classes}



@dataclass
class PetlState:
    """What :func:`apply_petl` did to a backbone (also ``backbone.petl_state``)."""

    backbone: nn.Module = field(repr=False)
    method: str
    options: dict
    #: named adapters: tensors of the inactive ones (the active one lives in the modules)
    adapters: dict[str, dict[str, torch.Tensor] | None] = field(default_factory=dict, repr=False)
    active: str = "default"

    @property
    def methods(self) -> list[str]:
        return self.method.split("+")

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(name, parameter)`` of every backbone tensor that trains (the head is separate)."""
        return [(n, p) for n, p in self.backbone.named_parameters() if p.requires_grad]

    def num_trainable(self) -> int:
        return sum(p.numel() for _, p in self.trainable_parameters())

    def config(self) -> dict:
        return {"method": self.method, "options": copy.deepcopy(self.options)}


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


def get_state(backbone: nn.Module) -> PetlState | None:
    return backbone.__dict__.get("petl_state")


def validate(backbone, method: str, options: dict | None = None) -> tuple[list[str], dict[str, dict]]:
    """Check a method string and its options against ``backbone`` without changing anything."""
    names = parse_method(method)
    per = split_options(names, options)
    normalized = {name: METHODS[name].validate(backbone, per[name]) for name in names}
    if "convpass" in normalized and normalized["convpass"]["conv"] == "2d" and "prompt" in normalized:
        raise PetlError("convpass with conv='2d' needs the bare patch grid: it cannot be combined with prompt "
                        "tuning (use conv='1d')")
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


def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of everything in ``model`` that trains."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def to_like(module: nn.Module, ref: torch.Tensor) -> nn.Module:
    """Move a freshly built module to ``ref``'s device (and floating dtype)."""
    return module.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else None)


METHODS: dict[str, Method] = _methods()
