"""Convpass (Jie & Deng 2022): ``Linear(d,b) -> act -> conv -> act -> Linear(b,d)``.

Same placements as the bottleneck adapter (see :mod:`petl_modules.adapter`). ``conv``:

* ``"2d"`` (default on AST): 3×3 convolution on the patch grid (tokens after the special tokens
  are frequency-major, ``f*T + t``), the special tokens passed through the same kernel on a 1×1
  grid (only its centre tap), as the original Convpass does for the class token;
* ``"1d"``: kernel-3 convolution over the token sequence (``3b² + b`` parameters), the variant
  whose counts seed 002 (Cappellazzo et al.) reports, and the only one on sequence backbones.

The conv output is used (PETL_AST computed it and then discarded it). Up projection zero-init;
``init: default`` leaves the other layers at PyTorch's default, ``petl_ast`` draws the down and
conv weights Xavier-uniform with zero biases (PETL_AST, from Jie & Deng). ``dropout`` (default 0;
PETL_AST 0.1) acts before the up projection.

Example:
    >>> import torch
    >>> m = ConvpassAdapter(32, 4, conv="1d")
    >>> m(torch.randn(2, 10, 32)).abs().max().item()
    0.0
"""
from __future__ import annotations

import torch
from torch import nn

from petl_modules.adapter import BranchAdapterMethod, BRANCH_DEFAULTS
from petl_modules.base import METHODS, register_method
from petl_modules.common import PetlError, as_float, choice, make_activation


class ConvpassAdapter(nn.Module):
    def __init__(self, dim: int, bottleneck: int, conv: str = "1d", activation: str = "quick_gelu",
                 patch_grid: tuple[int, int] | None = None, init: str = "default", dropout: float = 0.0) -> None:
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.act = make_activation("convpass", activation)
        self.kind = conv
        self.patch_grid = patch_grid
        if conv == "1d":
            self.conv = nn.Conv1d(bottleneck, bottleneck, 3, padding=1)
        else:
            self.conv = nn.Conv2d(bottleneck, bottleneck, 3, padding=1)
        self.up = nn.Linear(bottleneck, dim)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        if init == "petl_ast":  # Jie & Deng's / PETL_AST's: Xavier-uniform weights, zero biases
            for layer in (self.down, self.conv):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def _conv(self, h: torch.Tensor) -> torch.Tensor:
        if self.kind == "1d":
            return self.conv(h.transpose(1, 2)).transpose(1, 2)
        n_special, n_freq = self.patch_grid
        b, n, c = h.shape
        n_time, rest = divmod(n - n_special, n_freq)
        if rest or n_time < 1:
            raise RuntimeError(
                f"convpass conv='2d': {n} tokens do not form {n_special} special tokens + a {n_freq}-row patch grid"
            )
        special = h[:, :n_special].reshape(b * n_special, c, 1, 1)
        special = self.conv(special).reshape(b, n_special, c)  # centre tap only (padding 1)
        grid = h[:, n_special:].reshape(b, n_freq, n_time, c).permute(0, 3, 1, 2)
        grid = self.conv(grid).permute(0, 2, 3, 1).reshape(b, n_freq * n_time, c)
        return torch.cat([special, grid], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.down(x))
        return self.up(self.dropout(self.act(self._conv(h))))


@register_method
class ConvpassMethod(BranchAdapterMethod):
    name = "convpass"
    defaults = {**BRANCH_DEFAULTS, "conv": None, "activation": "quick_gelu", "dropout": 0.0}
    inits = ("default", "petl_ast")

    def validate_extra(self, backbone, o: dict) -> dict:
        o["dropout"] = as_float(self.name, "dropout", o["dropout"], 0.0)
        if o["dropout"] >= 1:
            raise PetlError(f"convpass: option dropout must be in [0, 1), got {o['dropout']}")
        grid = getattr(backbone, "patch_grid", None)
        if o["conv"] is None:
            o["conv"] = "2d" if grid else "1d"
        choice(self.name, "conv", o["conv"], ["1d", "2d"])
        if o["conv"] == "2d" and not grid:
            raise PetlError("convpass: option conv='2d' needs a patch-grid backbone (AST); use conv='1d'")
        return o

    def check_combination(self, options: dict, others: dict[str, dict]) -> None:
        adding = [name for name in others if METHODS[name].changes_sequence]
        if options["conv"] == "2d" and adding:
            raise PetlError(f"convpass with conv='2d' needs the bare patch grid: it cannot be combined with "
                            f"{', '.join(adding)} tuning, which adds tokens (use conv='1d')")

    def make_adapter(self, backbone, o: dict) -> nn.Module:
        return ConvpassAdapter(backbone.hidden_size, o["bottleneck"], o["conv"], o["activation"],
                               getattr(backbone, "patch_grid", None), o["init"], o["dropout"])
