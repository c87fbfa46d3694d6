"""Prompt tuning (Lester et al. 2021; VPT, Jia et al. 2022) as a backbone ``sequence_edits`` module.

* shallow (``deep=False``): ``num_prompts`` learned tokens prepended before the first layer and
  carried through every layer;
* deep (``deep=True``): fresh prompts before every selected layer, replacing the previous ones.

Prompts start N(0, ``init_std`` = 0.02), or U(-``init_range``, ``init_range``) (PETL_AST: 0.0625).
Prompt tokens are stripped from the recorded hidden states (the backbone drops the extra front
tokens each edit reports), and the padding mask is extended with valid positions.

Example:
    >>> import torch, warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> bb = build_backbone("ast", config="tiny")
    >>> n = bb(torch.randn(1, 16000)).hidden_states[-1].shape[1]
    >>> _ = apply_petl(bb, "prompt", {"num_prompts": 5, "deep": True})
    >>> bb(torch.randn(1, 16000)).hidden_states[-1].shape[1] == n
    True
"""
from __future__ import annotations

import torch
from torch import nn

from petl_modules.common import (
    PetlError, as_bool, check_options, init_tokens, positive_int, select_layers, token_init,
)
from petl_modules.base import Method, register_method


class PromptEdit(nn.Module):
    """``before_layer`` inserts / replaces prompts, ``after_layer`` reports them as extra tokens."""

    petl_added = True

    def __init__(self, dim: int, num_prompts: int, layers: list[int], deep: bool, init_std: float | None = 0.02,
                 init_range: float | None = None) -> None:
        super().__init__()
        self.num_prompts, self.deep = num_prompts, deep
        self.layers = list(layers)
        self.slot = {layer: k for k, layer in enumerate(self.layers)}
        self.prompts = nn.Parameter(init_tokens(torch.empty(len(self.layers), num_prompts, dim), init_std, init_range))

    def before_layer(self, i: int, x: torch.Tensor, mask: torch.Tensor):
        if i not in self.slot:
            return x, mask
        p = self.prompts[self.slot[i]].to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
        if i == self.layers[0]:
            x = torch.cat([p, x], dim=1)
            mask = torch.cat([mask.new_ones(mask.shape[0], self.num_prompts), mask], dim=1)
        else:
            x = torch.cat([p, x[:, self.num_prompts:]], dim=1)
        return x, mask

    def after_layer(self, i: int, x: torch.Tensor, mask: torch.Tensor, num_layers: int):
        return x, mask, self.num_prompts if i >= self.layers[0] else 0

    def extra_repr(self) -> str:
        return f"num_prompts={self.num_prompts}, deep={self.deep}, layers={self.layers}"


@register_method
class PromptTuning(Method):
    name = "prompt"
    changes_sequence = True
    initialisation_options = ("init_std", "init_range")
    defaults = {"num_prompts": 64, "deep": False, "init_std": None, "init_range": None, "layers_to_transform": None}

    def validate(self, backbone, options: dict) -> dict:
        o = check_options(self.name, options, self.defaults)
        if not isinstance(getattr(backbone, "sequence_edits", None), nn.ModuleList):
            raise PetlError(f"prompt: {type(backbone).__name__} has no sequence_edits: it cannot take prompts")
        if any(isinstance(e, PromptEdit) for e in backbone.sequence_edits):
            raise PetlError("prompt: this backbone already has prompts")
        positive_int(self.name, "num_prompts", o["num_prompts"])
        as_bool(self.name, "deep", o["deep"])
        token_init(self.name, o)
        if not o["deep"] and o["layers_to_transform"] is not None:
            raise PetlError("prompt: layers_to_transform only applies to deep prompts (deep: true)")
        select_layers(self.name, backbone.layer_specs(), o["layers_to_transform"])
        return o

    def apply(self, backbone, o: dict) -> None:
        specs = select_layers(self.name, backbone.layer_specs(), o["layers_to_transform"])
        layers = [s.index for s in specs] if o["deep"] else [0]
        ref = next(backbone.layers.parameters())
        edit = PromptEdit(backbone.hidden_size, o["num_prompts"], layers, o["deep"], o["init_std"], o["init_range"])
        backbone.sequence_edits.append(edit.to(device=ref.device, dtype=ref.dtype))
