"""Mixture of adapters (PETL_AST's follow-up work): ``num_adapters`` bottleneck adapters mixed per token.

* ``variant: dense`` (Dense-MoA): a router ``Linear(d, n)`` gives each token softmax weights over
  the n adapters: ``MoA(u) = Σ_i softmax(W_r u + b_r)_i · A_i(u)``;
* ``variant: soft`` (Soft-MoA, after Puigcerver et al.'s Soft MoE): slot parameters ``Φ`` ``[d, n, p]``
  (``num_slots`` p per adapter, Xavier-normal); logits ``L = u Φ`` ``[B, T, n, p]``; dispatch
  weights ``D = softmax_T(L)`` mix the tokens into slots ``X̃_{ij} = Σ_t D_{tij} u_t``, adapter i runs
  on its slots, and combine weights ``C = softmax_{(i,j)}(L)`` mix the slot outputs back into
  tokens ``Σ_{ij} C_{tij} A_i(X̃_{ij})``. Padded tokens get no dispatch weight (a clip's outputs do
  not depend on its batch). ``normalize``: ``u`` and ``Φ`` are L2-normalised over d and the logits
  scaled by a learned scalar (Soft MoE; PETL_AST normalises ``Φ`` over the adapters' axis instead).

The mixture is an adapter module like the others (:mod:`petl_modules.adapter`): every placement,
``sites``, ``train_norms`` and ``layers_to_transform`` apply; the default is PETL_AST's, parallel
before the sub-layer: ``x + f(LN x) + MoA(LN x)``, with the sub-layer's norm trained. Parameters
per site: ``n · (2db + b + d)`` plus ``d·n + n`` (dense) or ``d·n·p`` (+1 with ``normalize``) (soft).

Example:
    >>> import warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> bb = build_backbone("ast", config="tiny")
    >>> st = apply_petl(bb, "moa", {"num_adapters": 2, "bottleneck": 4})
    >>> st.num_trainable() == 4 * (2 * (2 * 32 * 4 + 4 + 32) + 32 * 2 + 2 + 2 * 32)  # + layernorm_after
    True
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from petl_modules.adapter import BRANCH_DEFAULTS, BottleneckAdapter, BranchAdapterMethod
from petl_modules.base import register_method
from petl_modules.common import PetlError, as_bool, choice, positive_int


def l2_normalize(x: torch.Tensor, dim: int, eps: float = 1e-6) -> torch.Tensor:
    return x / (x.pow(2).sum(dim, keepdim=True).sqrt() + eps)


class MixtureOfAdapters(nn.Module):
    """Dense-MoA or Soft-MoA over ``num_adapters`` bottleneck adapters (see the module docstring).

    ``padding``: an object whose ``mask`` (``[B, T]`` True = valid, or None) is the current token
    mask while a layer runs (the backbone's ``padded_time_convs``); Soft-MoA dispatches valid tokens only.
    """

    def __init__(self, dim: int, bottleneck: int, num_adapters: int, variant: str = "dense", num_slots: int = 1,
                 normalize: bool = False, activation: str = "gelu", zero_down_bias: bool = False,
                 padding=None) -> None:
        super().__init__()
        self.variant, self.normalize, self.padding = variant, normalize, padding
        self.experts = nn.ModuleList(BottleneckAdapter(dim, bottleneck, activation, zero_down_bias)
                                     for _ in range(num_adapters))
        if variant == "dense":
            self.router = nn.Linear(dim, num_adapters)
        else:
            self.slots = nn.Parameter(nn.init.xavier_normal_(torch.empty(dim, num_adapters, num_slots)))
            if normalize:
                self.logit_scale = nn.Parameter(torch.ones(()))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if self.variant == "dense":
            weights = F.softmax(self.router(u), dim=-1)  # [B, T, n]
            return sum(weights[..., i, None] * expert(u) for i, expert in enumerate(self.experts))
        return self._soft(u)

    def _soft(self, u: torch.Tensor) -> torch.Tensor:
        b, t, _ = u.shape
        phi = self.slots
        if self.normalize:
            u, phi = l2_normalize(u, -1), l2_normalize(phi, 0) * self.logit_scale
        logits = torch.einsum("btd,dnp->btnp", u, phi)
        mask = getattr(self.padding, "mask", None)
        dispatch_logits = logits
        if mask is not None and mask.shape == (b, t):
            dispatch_logits = logits.masked_fill(~mask[:, :, None, None], float("-inf"))
        dispatch = F.softmax(dispatch_logits, dim=1)  # over tokens
        combine = F.softmax(logits.reshape(b, t, -1), dim=-1).reshape(logits.shape)  # over all slots
        slots = torch.einsum("btd,btnp->bnpd", u, dispatch)
        out = torch.stack([expert(slots[:, i]) for i, expert in enumerate(self.experts)], dim=1)
        return torch.einsum("bnpd,btnp->btd", out, combine)

    def extra_repr(self) -> str:
        return f"variant={self.variant}, normalize={self.normalize}"


@register_method
class MoAMethod(BranchAdapterMethod):
    """Mixture of bottleneck adapters (Dense-MoA / Soft-MoA)."""

    name = "moa"
    defaults = {**BRANCH_DEFAULTS, "style": "pfeiffer", "placement": "parallel", "position": "before",
                "variant": "dense", "num_adapters": 4, "num_slots": None, "normalize": False}
    inits = ("default", "petl_ast")

    def validate_extra(self, backbone, o: dict) -> dict:
        choice(self.name, "variant", o["variant"], ["dense", "soft"])
        positive_int(self.name, "num_adapters", o["num_adapters"])
        as_bool(self.name, "normalize", o["normalize"])
        if o["variant"] == "dense":
            if o["num_slots"] is not None or o["normalize"]:
                raise PetlError("moa: num_slots and normalize are Soft-MoA options; set variant: soft")
        else:
            o["num_slots"] = positive_int(self.name, "num_slots", 1 if o["num_slots"] is None else o["num_slots"])
        return o

    def make_adapter(self, backbone, o: dict) -> nn.Module:
        return MixtureOfAdapters(backbone.hidden_size, o["bottleneck"], o["num_adapters"], o["variant"],
                                 o["num_slots"] or 1, o["normalize"], o["activation"], o["init"] == "petl_ast",
                                 getattr(backbone, "padded_time_convs", None))
