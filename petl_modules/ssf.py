"""SSF (Lian et al. 2022): scale and shift ``y -> y ⊙ γ + β`` after each target Linear.

Targets as LoRA's (default every attention and FFN linear). ``conv_scale=True`` also scales
(no shift) the outputs of a conformer conv module's two pointwise convolutions (2d + d
parameters per layer), as seed 001's MusicFM count does. γ starts at 1 and β at 0 (identity;
``init_std`` > 0 draws γ ~ N(1, σ), β ~ N(0, σ), as the SSF paper and peft-music with σ = 0.02).
Merges into the Linear; a shift on a module without bias cannot merge (``merge`` refuses: the
merged backbone would have a tensor the plain one has not).

Example:
    >>> import torch
    >>> m = SSF(torch.nn.Linear(8, 4))
    >>> sum(p.numel() for n, p in m.named_parameters() if not n.startswith("base"))
    8
"""
from __future__ import annotations

import torch
from torch import nn

from petl_modules.common import (
    PetlError, as_bool, as_float, check_options, module_dims, plain_module, replace_module, resolve_roles,
    select_layers,
)
from petl_modules.merge import MergeableWrapper
from petl_modules.base import Method, register_method, to_like


class SSF(MergeableWrapper):
    def __init__(self, base: nn.Module, shift: bool = True, init_std: float = 0.0) -> None:
        super().__init__()
        self.base = base
        _, d_out = module_dims(base)
        self.channel_dim = 1 if isinstance(plain_module(base), nn.Conv1d) else -1
        self.scale = nn.Parameter(torch.ones(d_out))
        self.shift = nn.Parameter(torch.zeros(d_out)) if shift else None
        if init_std > 0:
            nn.init.normal_(self.scale, 1.0, init_std)
            if self.shift is not None:
                nn.init.normal_(self.shift, 0.0, init_std)

    def _view(self, t: torch.Tensor) -> torch.Tensor:
        return t[:, None] if self.channel_dim == 1 else t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x) * self._view(self.scale)
        return y + self._view(self.shift) if self.shift is not None else y

    def fold_problem(self) -> str | None:
        if self.shift is not None and plain_module(self.base).bias is None:
            return ("an SSF shift on a module without bias would add a bias the plain backbone does not have "
                    "(use SSF there without shift, e.g. ssf's conv_scale on the conformer's pointwise convs)")
        return None

    def fold(self) -> None:
        w = self.base.weight
        w.mul_(self.scale.to(w.dtype).view(-1, *([1] * (w.dim() - 1))))
        if self.base.bias is not None:
            b = self.base.bias
            b.mul_(self.scale.to(b.dtype))
            if self.shift is not None:
                b.add_(self.shift.to(b.dtype))

    def unfold(self) -> None:
        w = self.base.weight
        if self.base.bias is not None:
            b = self.base.bias
            if self.shift is not None:
                b.sub_(self.shift.to(b.dtype))
            b.div_(self.scale.to(b.dtype))
        w.div_(self.scale.to(w.dtype).view(-1, *([1] * (w.dim() - 1))))


@register_method
class SSFMethod(Method):
    name = "ssf"
    mergeable = True
    initialisation_options = ("init_std",)
    defaults = {"targets": ["q", "k", "v", "o", "ffn"], "conv_scale": False, "init_std": 0.0,
                "layers_to_transform": None}

    def validate(self, backbone, options: dict) -> dict:
        o = check_options(self.name, options, self.defaults)
        specs = backbone.layer_specs()
        resolve_roles(self.name, specs[0], o["targets"])
        o["targets"] = [o["targets"]] if isinstance(o["targets"], str) else list(o["targets"])
        as_bool(self.name, "conv_scale", o["conv_scale"])
        if o["conv_scale"] and not {"conv_pw1", "conv_pw2"} <= set(specs[0].linears):
            raise PetlError("ssf: option conv_scale needs a conformer backbone (with a convolution module)")
        if o["conv_scale"] and {"conv_pw1", "conv_pw2"} & set(resolve_roles(self.name, specs[0], o["targets"])):
            raise PetlError("ssf: conv_scale and conv_pw targets both act on the pointwise convolutions; pick one")
        o["init_std"] = as_float(self.name, "init_std", o["init_std"], 0.0)
        select_layers(self.name, specs, o["layers_to_transform"])
        return o

    def apply(self, backbone, o: dict) -> None:
        for spec in select_layers(self.name, backbone.layer_specs(), o["layers_to_transform"]):
            roles = [(r, True) for r in resolve_roles(self.name, spec, o["targets"])]
            if o["conv_scale"]:
                roles += [("conv_pw1", False), ("conv_pw2", False)]
            for role, shift in roles:
                path = spec.linears[role]
                old = spec.get(path)
                wrapper = to_like(SSF(old, shift, o["init_std"]), plain_module(old).weight)
                replace_module(spec.layer, path, wrapper, old=old)
