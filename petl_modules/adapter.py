"""Bottleneck adapters (Houlsby / Pfeiffer; sequential or parallel; before or after a sub-layer).

An adapter ``A(h) = up(act(down(LN(h))))`` sits on a residual branch (a *sub-layer*: mhsa, ffn;
conformer: ffn1, mhsa, ffn2) of every selected layer, attached with forward hooks on the modules
the backbone's :class:`~lobes.layer_spec.Sublayer` names:

* ``placement="sequential", position="after"``: branch output ``y -> y + s·A(y)`` (hook on ``output``);
* ``placement="sequential", position="before"``: branch input ``x -> x + s·A(x)`` (pre-hook on ``input``);
* ``placement="parallel"``: ``y -> y + s·A(h)``, ``h`` the branch input (shared tap on both).

Only the up projection is zero-initialised, so the adapted model equals the plain one at init
and every adapter tensor receives gradients from the second step on (PETL_AST zeroed both).

``style="houlsby"`` puts one adapter on every sub-layer, ``style="pfeiffer"`` one per layer at
``location`` (default ``ffn``; ``mhsa``, ``both`` or ``all`` or a list of sub-layer names).

Example:
    >>> import warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> bb = build_backbone("ast", config="tiny")
    >>> st = apply_petl(bb, "adapter", {"style": "pfeiffer", "bottleneck": 4, "layer_norm": True})
    >>> st.num_trainable() == 4 * (32 * 4 + 4 + 4 * 32 + 32 + 2 * 32)
    True
"""
from __future__ import annotations

import torch
from torch import nn

from petl_modules.common import (
    PetlError, as_bool, as_float, check_options, choice, first_hidden, layer_container, make_activation,
    positive_int, replace_hidden, select_layers,
)
from petl_modules.registry import Method, to_like


class BottleneckAdapter(nn.Module):
    """``[LayerNorm] -> Linear(d, b) -> act -> Linear(b, d)``; the up projection starts at zero."""

    def __init__(self, dim: int, bottleneck: int, layer_norm: bool = False, activation: str = "gelu") -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim) if layer_norm else nn.Identity()
        self.down = nn.Linear(dim, bottleneck)
        self.act = make_activation("adapter", activation)
        self.up = nn.Linear(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(self.norm(x))))


class BranchTap(nn.Module):
    """Attaches ``adapter`` to a residual branch through forward hooks (no module replacement)."""

    def __init__(self, adapter: nn.Module, placement: str, position: str, scale: float) -> None:
        super().__init__()
        self.adapter = adapter
        self.placement, self.position, self.scale = placement, position, scale
        self._h = None

    def attach(self, layer: nn.Module, input_path: str, output_path: str) -> None:
        inp, out = layer.get_submodule(input_path), layer.get_submodule(output_path)
        if self.placement == "parallel":
            inp.register_forward_pre_hook(self._store_input, with_kwargs=True)
            out.register_forward_hook(self._add_parallel)
        elif self.position == "before":
            inp.register_forward_pre_hook(self._adapt_input, with_kwargs=True)
        else:
            out.register_forward_hook(self._adapt_output)

    def _store_input(self, module, args, kwargs):
        self._h = first_hidden(args, kwargs)

    def _add_parallel(self, module, args, output):
        h, self._h = self._h, None
        if h is None:
            raise RuntimeError("parallel adapter: the branch output ran without its input hook")
        return output + self.scale * self.adapter(h)

    def _adapt_input(self, module, args, kwargs):
        x = first_hidden(args, kwargs)
        return replace_hidden(args, kwargs, x + self.scale * self.adapter(x))

    def _adapt_output(self, module, args, output):
        return output + self.scale * self.adapter(output)

    def extra_repr(self) -> str:
        return f"placement={self.placement}, position={self.position}, scale={self.scale}"


BRANCH_DEFAULTS = {
    "style": "houlsby", "location": None, "placement": "sequential", "position": "after",
    "bottleneck": None, "reduction_rate": None, "layer_norm": False, "activation": "gelu", "scale": 1.0,
    "unfreeze_norms": False, "layers_to_transform": None,
}


def sublayer_names(method: str, backbone, style: str, location) -> list[str]:
    """Sub-layer names of ``location`` (or of the style's default) on this backbone."""
    spec = backbone.layer_specs()[0]
    names = [s.name for s in spec.sublayers]
    ffn = "ffn" if "ffn" in names else [n for n in names if n.startswith("ffn")][-1]
    if location is None:
        location = "all" if style == "houlsby" else "ffn"
    presets = {"mhsa": ["mhsa"], "ffn": [ffn], "both": ["mhsa", ffn], "all": names}
    if isinstance(location, str):
        if location in presets:
            return presets[location]
        location = [location]
    if not isinstance(location, (list, tuple)) or not location:
        raise PetlError(f"{method}: option location must be one of {', '.join(presets)} or a list of sub-layers")
    for name in location:
        if name not in names:
            raise PetlError(
                f"{method}: option location={name!r} is not valid for this backbone; valid: "
                f"{', '.join(list(presets) + names)}"
            )
    return list(dict.fromkeys(location))


class BranchAdapterMethod(Method):
    """Shared logic of adapters living on residual branches (bottleneck, convpass, conformer)."""

    defaults = BRANCH_DEFAULTS

    def validate(self, backbone, options: dict) -> dict:
        m = self.name
        o = check_options(m, options, self.defaults)
        choice(m, "style", o["style"], ["houlsby", "pfeiffer"])
        o["location"] = sublayer_names(m, backbone, o["style"], o["location"])
        choice(m, "placement", o["placement"], ["sequential", "parallel"])
        choice(m, "position", o["position"], ["after", "before"])
        if o["placement"] == "parallel" and options.get("position", "after") != "after":
            raise PetlError(f"{m}: option position only applies to placement='sequential'")
        d = backbone.hidden_size
        if o["bottleneck"] is not None and o["reduction_rate"] is not None:
            raise PetlError(f"{m}: give either bottleneck or reduction_rate, not both")
        if o["reduction_rate"] is not None:
            rr = positive_int(m, "reduction_rate", o["reduction_rate"], d, "the hidden size")
            o["bottleneck"] = max(1, d // rr)
            o["reduction_rate"] = None  # normalised options name the bottleneck (idempotent validation)
        o["bottleneck"] = positive_int(m, "bottleneck", 16 if o["bottleneck"] is None else o["bottleneck"], d,
                                       "the hidden size")
        as_bool(m, "layer_norm", o["layer_norm"])
        as_bool(m, "unfreeze_norms", o["unfreeze_norms"])
        make_activation(m, o["activation"])
        o["scale"] = as_float(m, "scale", o["scale"])
        select_layers(m, backbone.layer_specs(), o["layers_to_transform"])
        return self.validate_extra(backbone, o)

    def validate_extra(self, backbone, o: dict) -> dict:
        return o

    def make_adapter(self, backbone, o: dict) -> nn.Module:
        return BottleneckAdapter(backbone.hidden_size, o["bottleneck"], o["layer_norm"], o["activation"])

    def apply(self, backbone, o: dict) -> None:
        for spec in select_layers(self.name, backbone.layer_specs(), o["layers_to_transform"]):
            container = layer_container(spec.layer)
            for name in o["location"]:
                sub = spec.sublayer(name)
                ref = next(spec.layer.parameters())
                tap = to_like(BranchTap(self.make_adapter(backbone, o), o["placement"], o["position"], o["scale"]), ref)
                key = f"{self.name}_{name}"
                if key in container:
                    raise PetlError(f"{self.name}: layer {spec.index} already has an adapter at {name}")
                container[key] = tap
                tap.attach(spec.layer, sub.input, sub.output)
            if o["unfreeze_norms"]:
                for role in spec.norms:
                    spec.norm(role).requires_grad_(True)


class AdapterMethod(BranchAdapterMethod):
    """Bottleneck adapter (Houlsby et al. 2019; Pfeiffer et al. 2021)."""

    name = "adapter"
