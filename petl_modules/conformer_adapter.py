"""Conformer adapter (PETL_AST's final version, with its LayerNorm output actually used).

``LayerNorm -> pointwise conv d→2b -> GLU -> depthwise conv (kernel k) -> BatchNorm -> SiLU ->
pointwise conv b→d`` (the last one zero-initialised). Same placements as the bottleneck
adapter (and the same ``train_norms``). Its BatchNorm trains (running statistics are saved with
the adapter) on the valid tokens only (:class:`lobes.backbone.MaskedBatchNorm1d`).

Example:
    >>> import torch
    >>> m = ConformerAdapter(32, 8, kernel_size=5)
    >>> m(torch.randn(2, 10, 32)).abs().max().item()
    0.0
"""
from __future__ import annotations

import torch
from torch import nn

from lobes.backbone import MaskedBatchNorm1d
from petl_modules.adapter import BRANCH_DEFAULTS, BranchAdapterMethod
from petl_modules.base import register_method
from petl_modules.common import PetlError, make_activation, positive_int


class ConformerAdapter(nn.Module):
    def __init__(self, dim: int, bottleneck: int, kernel_size: int = 31, activation: str = "silu") -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.pointwise_down = nn.Conv1d(dim, 2 * bottleneck, 1)
        self.glu = nn.GLU(dim=1)
        self.depthwise = nn.Conv1d(bottleneck, bottleneck, kernel_size, padding=kernel_size // 2, groups=bottleneck)
        self.batch_norm = MaskedBatchNorm1d(bottleneck)
        self.act = make_activation("conformer_adapter", activation)
        self.pointwise_up = nn.Conv1d(bottleneck, dim, 1)
        nn.init.zeros_(self.pointwise_up.weight)
        nn.init.zeros_(self.pointwise_up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x).transpose(1, 2)  # the normalised input feeds the convolutions
        h = self.act(self.batch_norm(self.depthwise(self.glu(self.pointwise_down(h)))))
        return self.pointwise_up(h).transpose(1, 2)


@register_method
class ConformerAdapterMethod(BranchAdapterMethod):
    name = "conformer_adapter"
    defaults = {**BRANCH_DEFAULTS, "kernel_size": 31, "activation": "silu"}

    def validate_extra(self, backbone, o: dict) -> dict:
        positive_int(self.name, "kernel_size", o["kernel_size"])
        if o["kernel_size"] % 2 == 0:
            raise PetlError(f"conformer_adapter: option kernel_size must be odd ('same' padding), got {o['kernel_size']}")
        return o

    def make_adapter(self, backbone, o: dict) -> nn.Module:
        return ConformerAdapter(backbone.hidden_size, o["bottleneck"], o["kernel_size"], o["activation"])
