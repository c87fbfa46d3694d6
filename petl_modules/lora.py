"""LoRA (Hu et al. 2022): ``y = W x + b + s · B A dropout(x)``, ``B`` zero-initialised.

Targets are roles of the backbone's layer specs: ``q, k, v, o, ffn_in, ffn_out`` (on a conformer
``ffn_in``/``ffn_out`` cover both macaron FFNs, ``ffn1_in``... one of them), ``ffn`` (every FFN
linear), ``attn`` (q, k, v, o), ``conv_pw1``, ``conv_pw2`` (kernel-1 ``Conv1d``, ``conv`` both).
The scale is explicit (``scale``, default 1.0); ``alpha`` is a convenience for ``scale = alpha /
rank`` (peft's convention; PETL_AST's ``s = α / RR`` is given as ``scale``). ``reduction_rate`` RR
gives ``rank = round(d / RR)`` (PETL_AST). ``init``: ``peft`` (default: ``A`` Kaiming-uniform,
``B`` zero, as Hu et al. and peft) or ``petl_ast`` (``A`` zero, ``B`` Kaiming-uniform).

Example:
    >>> import torch
    >>> m = LoRA(torch.nn.Linear(8, 4), rank=2, scale=2.0)
    >>> m.lora_A.shape, m.lora_B.shape
    (torch.Size([2, 8]), torch.Size([4, 2]))
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from petl_modules.common import (
    PetlError, as_float, check_options, choice, module_dims, plain_module, positive_int, replace_module, resolve_roles,
    select_layers,
)
from petl_modules.merge import MergeableWrapper
from petl_modules.base import Method, register_method, to_like


class LoRA(MergeableWrapper):
    def __init__(self, base: nn.Module, rank: int, scale: float = 1.0, dropout: float = 0.0,
                 init: str = "peft") -> None:
        super().__init__()
        inner = plain_module(base)
        if isinstance(inner, nn.Conv1d) and (inner.kernel_size != (1,) or inner.groups != 1):
            raise PetlError("lora: only kernel-1, ungrouped Conv1d modules can take LoRA")
        self.base = base
        d_in, d_out = module_dims(base)
        self.rank, self.scale = rank, scale
        self.is_conv = isinstance(inner, nn.Conv1d)
        self.lora_A = nn.Parameter(torch.zeros(rank, d_in))
        self.lora_B = nn.Parameter(torch.zeros(d_out, rank))
        nn.init.kaiming_uniform_(self.lora_B if init == "petl_ast" else self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def delta_weight(self) -> torch.Tensor:
        return self.scale * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        h = self.dropout(x)
        if self.is_conv:
            return y + self.scale * F.conv1d(F.conv1d(h, self.lora_A[..., None]), self.lora_B[..., None])
        return y + self.scale * F.linear(F.linear(h, self.lora_A), self.lora_B)

    def _delta_for_base(self) -> torch.Tensor:
        delta = self.delta_weight().to(self.base.weight.dtype)
        return delta[..., None] if self.is_conv else delta

    def fold(self) -> None:
        self.base.weight.add_(self._delta_for_base())

    def unfold(self) -> None:
        self.base.weight.sub_(self._delta_for_base())

    def extra_repr(self) -> str:
        return f"rank={self.rank}, scale={self.scale}"


@register_method
class LoRAMethod(Method):
    name = "lora"
    mergeable = True
    initialisation_options = ("init",)
    defaults = {"rank": None, "reduction_rate": None, "targets": ["q", "v"], "scale": None, "alpha": None,
                "dropout": 0.0, "init": "peft", "layers_to_transform": None}

    def validate(self, backbone, options: dict) -> dict:
        o = check_options(self.name, options, self.defaults)
        specs = backbone.layer_specs()
        if o["rank"] is not None and o["reduction_rate"] is not None:
            raise PetlError("lora: give either rank or reduction_rate (rank = round(hidden / reduction_rate)), "
                            "not both")
        if o["reduction_rate"] is not None:
            rr = positive_int(self.name, "reduction_rate", o["reduction_rate"])
            o["rank"], o["reduction_rate"] = max(1, round(backbone.hidden_size / rr)), None  # at least 1
        o["rank"] = 8 if o["rank"] is None else o["rank"]
        choice(self.name, "init", o["init"], ["peft", "petl_ast"])
        roles = resolve_roles(self.name, specs[0], o["targets"])
        o["targets"] = list(o["targets"]) if not isinstance(o["targets"], str) else [o["targets"]]
        smallest = min(min(module_dims(specs[0].get(r))) for r in roles)
        positive_int(self.name, "rank", o["rank"], smallest, "the smallest target dimension")
        if o["scale"] is not None and o["alpha"] is not None:
            raise PetlError("lora: give either scale or alpha (scale = alpha / rank), not both")
        if o["alpha"] is not None:
            o["scale"] = as_float(self.name, "alpha", o["alpha"]) / o["rank"]
            o["alpha"] = None
        o["scale"] = 1.0 if o["scale"] is None else as_float(self.name, "scale", o["scale"])
        o["dropout"] = as_float(self.name, "dropout", o["dropout"], 0.0)
        if o["dropout"] >= 1:
            raise PetlError(f"lora: option dropout must be in [0, 1), got {o['dropout']}")
        select_layers(self.name, specs, o["layers_to_transform"])
        return o

    def apply(self, backbone, o: dict) -> None:
        for spec in select_layers(self.name, backbone.layer_specs(), o["layers_to_transform"]):
            for role in resolve_roles(self.name, spec, o["targets"]):
                path = spec.linears[role]
                old = spec.get(path)
                wrapper = to_like(LoRA(old, o["rank"], o["scale"], o["dropout"], o["init"]), plain_module(old).weight)
                replace_module(spec.layer, path, wrapper, old=old)
