"""Prefix tuning (Li & Liang 2021): learned key/value prefixes in every selected layer's attention.

``num_prefixes`` P gives P key and P value tokens per layer (seed 002's "Prefix-24" is P=12).

* ``reparam="none"``: the prefixes are parameters ``[2, P, d]`` (2·P·d per layer);
* ``reparam="mlp"``: Li & Liang's reparameterisation, per layer a ``P × d`` embedding through
  ``Linear(d, mlp_hidden) -> tanh -> Linear(mlp_hidden, 2d)`` (seed 001's count; ``mlp_hidden``
  default 512, an error with ``reparam="none"``).

The prefixes (or the MLP's input embedding) start N(0, ``init_std`` = 0.02; peft-music's embedding:
1.0) or U(-``init_range``, ``init_range``) (PETL_AST: 0.0625).

No attention code is rewritten: the backbone's attention implementation ``X`` (``sdpa`` or
``eager``) is switched to ``petl_prefix_X``, registered with transformers' ``AttentionInterface``
(and its mask with ``AttentionMaskInterface``). It concatenates the prefixes of the attention
module (``module.petl_prefix``) in front of the keys and values, extends the mask with valid
positions, and falls back to plain ``X`` for attention modules without prefixes.

Example:
    >>> import torch, warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> bb = build_backbone("mert", config="tiny")
    >>> apply_petl(bb, "prefix", {"num_prefixes": 3}).num_trainable() == 2 * 2 * 3 * 32
    True
    >>> bb.model.config._attn_implementation
    'petl_prefix_sdpa'
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from petl_modules.common import (
    PetlError, check_options, choice, init_tokens, positive_int, select_layers, token_init,
)
from petl_modules.base import Method, register_method, to_like

PREFIX = "petl_prefix_"


class PrefixKV(nn.Module):
    """Key/value prefixes of one attention module: ``forward(batch) -> (k, v)`` each ``[B, H, P, hd]``."""

    petl_added = True

    def __init__(self, dim: int, num_heads: int, num_prefixes: int, reparam: str = "none",
                 mlp_hidden: int = 512, init_std: float | None = 0.02, init_range: float | None = None) -> None:
        super().__init__()
        self.dim, self.num_heads, self.num_prefixes, self.reparam = dim, num_heads, num_prefixes, reparam
        if reparam == "mlp":
            self.embedding = nn.Parameter(init_tokens(torch.empty(num_prefixes, dim), init_std, init_range))
            self.mlp = nn.Sequential(nn.Linear(dim, mlp_hidden), nn.Tanh(), nn.Linear(mlp_hidden, 2 * dim))
        else:
            self.prefix = nn.Parameter(init_tokens(torch.empty(2, num_prefixes, dim), init_std, init_range))

    def forward(self, batch: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        if self.reparam == "mlp":
            kv = self.mlp(self.embedding).view(self.num_prefixes, 2, self.dim).transpose(0, 1)
        else:
            kv = self.prefix
        kv = kv.view(2, self.num_prefixes, self.num_heads, -1).transpose(1, 2).to(dtype)  # [2, H, P, hd]
        k, v = kv[0], kv[1]
        return k.unsqueeze(0).expand(batch, -1, -1, -1), v.unsqueeze(0).expand(batch, -1, -1, -1)


def eager_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                    position_bias=None, **kwargs):
    """Plain softmax attention (float additive or boolean masks), for ``eager`` backbones."""
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if position_bias is not None:
        weights = weights + position_bias
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
        else:
            weights = weights + attention_mask
    weights = F.dropout(F.softmax(weights, dim=-1), p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def _base_function(base: str):
    return eager_attention if base == "eager" else ALL_ATTENTION_FUNCTIONS[base]


def _pad_front(t: torch.Tensor, n: int, fill) -> torch.Tensor:
    t = t.expand(*t.shape[:-1], t.shape[-1])
    return torch.cat([t.new_full((*t.shape[:-1], n), fill), t], dim=-1)


def make_prefix_attention(base: str):
    def prefix_attention(module, query, key, value, attention_mask, **kwargs):
        prefix = module._modules.get("petl_prefix")
        fn = _base_function(base)
        if prefix is None:
            return fn(module, query, key, value, attention_mask, **kwargs)
        pk, pv = prefix(query.shape[0], key.dtype)
        n = pk.shape[2]
        key, value = torch.cat([pk, key], dim=2), torch.cat([pv, value], dim=2)
        if attention_mask is not None:
            if attention_mask.dim() == 4 and attention_mask.shape[-2] == 1 and query.shape[2] > 1:
                attention_mask = attention_mask.expand(-1, -1, query.shape[2], -1)
            attention_mask = _pad_front(attention_mask, n, True if attention_mask.dtype == torch.bool else 0.0)
        if kwargs.get("position_bias") is not None:
            kwargs["position_bias"] = _pad_front(kwargs["position_bias"], n, 0.0)
        return fn(module, query, key, value, attention_mask, **kwargs)

    prefix_attention.__name__ = f"{PREFIX}{base}"
    return prefix_attention


def register(base: str) -> str:
    """Register ``petl_prefix_<base>`` (attention + mask functions); return its name."""
    if base.startswith(PREFIX):
        return base
    if base != "eager" and base not in ALL_ATTENTION_FUNCTIONS:
        raise PetlError(f"prefix: cannot wrap the attention implementation {base!r}; use 'sdpa' or 'eager'")
    name = PREFIX + base
    if name not in ALL_ATTENTION_FUNCTIONS:
        AttentionInterface.register(name, make_prefix_attention(base))
        AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[base])
    return name


def attention_module(spec) -> nn.Module:
    path = spec.linears["q"].rpartition(".")[0]
    return spec.get(path) if path else spec.layer


def _configs(backbone) -> list:
    seen = {}
    for module in backbone.modules():
        cfg = getattr(module, "config", None)
        if cfg is not None and hasattr(cfg, "_attn_implementation"):
            seen[id(cfg)] = cfg
    return list(seen.values())


@register_method
class PrefixTuning(Method):
    name = "prefix"
    initialisation_options = ("init_std", "init_range")
    defaults = {"num_prefixes": 16, "reparam": "none", "mlp_hidden": None, "init_std": None, "init_range": None,
                "layers_to_transform": None}

    def validate(self, backbone, options: dict) -> dict:
        o = check_options(self.name, options, self.defaults)
        positive_int(self.name, "num_prefixes", o["num_prefixes"])
        choice(self.name, "reparam", o["reparam"], ["none", "mlp"])
        if o["reparam"] == "mlp":
            o["mlp_hidden"] = positive_int(self.name, "mlp_hidden", 512 if o["mlp_hidden"] is None else o["mlp_hidden"])
        elif o["mlp_hidden"] is not None:
            raise PetlError("prefix: option mlp_hidden only applies to reparam='mlp' (with reparam='none' the prefixes "
                            "are plain parameters); remove mlp_hidden or set reparam: mlp")
        token_init(self.name, o)
        specs = backbone.layer_specs()
        attn = attention_module(specs[0])
        if not hasattr(getattr(attn, "config", None), "_attn_implementation") or not _configs(backbone):
            raise PetlError(f"prefix: the attention of {type(backbone).__name__} does not go through transformers' "
                            "attention interface; it cannot take prefixes")
        if not hasattr(attn, "num_heads") and not hasattr(attn, "config"):
            raise PetlError("prefix: cannot find the number of attention heads")
        select_layers(self.name, specs, o["layers_to_transform"])
        return o

    def apply(self, backbone, o: dict) -> None:
        for cfg in _configs(backbone):
            cfg._attn_implementation = register(cfg._attn_implementation or "sdpa")
        for spec in select_layers(self.name, backbone.layer_specs(), o["layers_to_transform"]):
            attn = attention_module(spec)
            heads = getattr(attn, "num_heads", None) or attn.config.num_attention_heads
            prefix = PrefixKV(backbone.hidden_size, heads, o["num_prefixes"], o["reparam"], o["mlp_hidden"],
                              o["init_std"], o["init_range"])
            attn.petl_prefix = to_like(prefix, next(spec.layer.parameters()))
