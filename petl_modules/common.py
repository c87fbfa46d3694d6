"""Shared helpers: option validation, layer selection, module replacement, freezing.

Example:
    >>> check_options("lora", {"rank": 4}, {"rank": 8, "scale": 1.0})
    {'rank': 4, 'scale': 1.0}
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from lobes.layer_spec import LayerSpec


class PetlError(ValueError):
    """A bad PETL method name or option (the message names the option and the valid values)."""


def check_options(method: str, options: dict | None, defaults: dict) -> dict:
    """``defaults`` updated with ``options``; unknown option names are an error."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise PetlError(
            f"{method}: unknown option(s) {', '.join(map(repr, unknown))}; valid options: {', '.join(sorted(defaults))}"
        )
    return {**defaults, **options}


def choice(method: str, option: str, value: Any, valid: Iterable) -> Any:
    valid = list(valid)
    if value not in valid:
        raise PetlError(f"{method}: option {option}={value!r} is not valid; valid values: {', '.join(map(repr, valid))}")
    return value


def positive_int(method: str, option: str, value: Any, maximum: int | None = None, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PetlError(f"{method}: option {option} must be a positive integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise PetlError(f"{method}: option {option}={value} is larger than {what or maximum} ({maximum})")
    return value


def as_bool(method: str, option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise PetlError(f"{method}: option {option} must be true or false, got {value!r}")
    return value


def as_float(method: str, option: str, value: Any, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PetlError(f"{method}: option {option} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise PetlError(f"{method}: option {option} must be >= {minimum}, got {value!r}")
    return float(value)


def token_init(method: str, o: dict) -> dict:
    """Check ``init_std`` / ``init_range`` of learned tokens: N(0, init_std) (default 0.02) or, with
    ``init_range`` r, U(-r, r) (PETL_AST's prompts and prefixes: r = sqrt(6 / (3·16·16 + 768)) = 0.0625)."""
    if o["init_range"] is not None:
        if o["init_std"] is not None:
            raise PetlError(f"{method}: give either init_std (normal) or init_range (uniform), not both")
        o["init_range"] = as_float(method, "init_range", o["init_range"], 0.0)
    else:
        o["init_std"] = as_float(method, "init_std", 0.02 if o["init_std"] is None else o["init_std"], 0.0)
    return o


def init_tokens(tensor: torch.Tensor, init_std: float | None, init_range: float | None) -> torch.Tensor:
    """Draw ``tensor`` in place as :func:`token_init` describes; returns it."""
    with torch.no_grad():
        if init_range is not None:
            return tensor.uniform_(-init_range, init_range)
        return tensor.normal_(0.0, init_std)


def select_layers(method: str, specs: list[LayerSpec], layers: Any) -> list[LayerSpec]:
    """The specs of ``layers_to_transform`` (None = all); negative indices count from the end."""
    if layers is None:
        return list(specs)
    if isinstance(layers, int) and not isinstance(layers, bool):
        layers = [layers]
    n = len(specs)
    if not isinstance(layers, (list, tuple)) or not layers:
        raise PetlError(f"{method}: option layers_to_transform must be a non-empty list of layer indices or null")
    chosen = []
    for i in layers:
        if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n:
            raise PetlError(
                f"{method}: layers_to_transform entry {i!r} is not a layer index of this backbone (valid: 0..{n - 1})"
            )
        chosen.append(i % n)
    return [specs[i] for i in sorted(set(chosen))]


# Role aliases: a role name users may give -> the concrete roles it stands for (if present).
ROLE_ALIASES = {
    "ffn": ("ffn_in", "ffn_out", "ffn1_in", "ffn1_out", "ffn2_in", "ffn2_out"),
    "ffn_in": ("ffn_in", "ffn1_in", "ffn2_in"),
    "ffn_out": ("ffn_out", "ffn1_out", "ffn2_out"),
    "attn": ("q", "k", "v", "o"),
    "conv": ("conv_pw1", "conv_pw2"),
}


def resolve_roles(method: str, spec: LayerSpec, targets: Any) -> list[str]:
    """Concrete linear roles of ``spec`` for user ``targets`` (aliases expanded, order kept)."""
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, (list, tuple)) or not targets:
        raise PetlError(f"{method}: option targets must be a non-empty list of roles")
    valid = list(spec.linears) + [a for a, roles in ROLE_ALIASES.items() if any(r in spec.linears for r in roles)]
    roles: list[str] = []
    for t in targets:
        if t in spec.linears:
            expanded = [t]
        elif t in ROLE_ALIASES and any(r in spec.linears for r in ROLE_ALIASES[t]):
            expanded = [r for r in ROLE_ALIASES[t] if r in spec.linears]
        else:
            raise PetlError(f"{method}: unknown target role {t!r} for this backbone; valid: {', '.join(valid)}")
        roles += [r for r in expanded if r not in roles]
    return roles


HOOK_DICTS = (
    "_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
    "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs",
)


def move_hooks(src: nn.Module, dst: nn.Module) -> None:
    """Move the forward (pre-)hooks of ``src`` onto ``dst`` (adapters hooked on a replaced module)."""
    for attr in HOOK_DICTS:
        s, d = getattr(src, attr, None), getattr(dst, attr, None)
        if s and d is not None:
            d.update(s)
            s.clear()


def replace_module(root: nn.Module, path: str, new: nn.Module, old: nn.Module | None = None) -> None:
    """Put ``new`` at ``path`` under ``root``, moving the old module's hooks onto it."""
    parent_path, _, name = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    old = getattr(parent, name) if old is None else old
    move_hooks(old, new)
    setattr(parent, name, new)


def find_backbone(model: nn.Module) -> tuple[str, nn.Module]:
    """``(prefix, backbone)``: the lobes backbone inside ``model`` (``prefix`` "" if it is ``model``)."""
    for name, module in model.named_modules():
        if hasattr(module, "layer_specs") and hasattr(module, "sequence_edits"):
            return name, module
    raise PetlError(f"{type(model).__name__} contains no lobes backbone")


def first_hidden(args: tuple, kwargs: dict) -> torch.Tensor:
    """The first positional argument (or ``hidden_states=``) of a module call."""
    if args:
        return args[0]
    if "hidden_states" in kwargs:
        return kwargs["hidden_states"]
    raise RuntimeError("petl_modules: cannot find the hidden states in this module call")


def replace_hidden(args: tuple, kwargs: dict, value: torch.Tensor) -> tuple[tuple, dict]:
    if args:
        return (value, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": value}


def layer_container(layer: nn.Module) -> nn.ModuleDict:
    """``layer.petl``: where injected per-layer modules live (so they follow the layer's state dict)."""
    if not hasattr(layer, "petl"):
        layer.petl = nn.ModuleDict()
    return layer.petl


def freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def make_activation(method: str, name: str) -> nn.Module:
    acts = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "swish": nn.SiLU, "tanh": nn.Tanh,
            "quick_gelu": QuickGELU, "identity": nn.Identity}
    choice(method, "activation", name, acts)
    return acts[name]()


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def plain_module(module: nn.Module) -> nn.Module:
    """The innermost module under a chain of wrappers (``.base``)."""
    while not isinstance(module, (nn.Linear, nn.Conv1d)) and isinstance(getattr(module, "base", None), nn.Module):
        module = module.base
    return module


def module_dims(module: nn.Module) -> tuple[int, int]:
    """(in, out) features of a Linear or a kernel-1 Conv1d."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if isinstance(module, nn.Conv1d):
        return module.in_channels, module.out_channels
    base = getattr(module, "base", None)
    if base is not None:
        return module_dims(base)
    raise PetlError(f"expected a Linear or Conv1d module, got {type(module).__name__}")
