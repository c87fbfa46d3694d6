"""Layer specs: the named places inside a backbone layer where PETL methods attach.

A backbone describes each of its transformer layers once, by module paths relative to that
layer, so that ``petl_modules`` can inject adapters, LoRA, SSF... without per-backbone code.

Roles used across backbones:

* ``linears``: ``q``, ``k``, ``v``, ``o`` (attention projections); ``ffn_in``/``ffn_out``
  (``ffn1_in``, ``ffn1_out``, ``ffn2_in``, ``ffn2_out`` for the two macaron FFNs of a conformer);
  ``conv_pw1``/``conv_pw2`` (conformer pointwise convolutions, ``nn.Conv1d`` with kernel 1).
* ``norms``: the LayerNorms of the block (``mhsa``, ``ffn``; conformer: ``ffn1``, ``mhsa``,
  ``ffn2``, ``final``). The conv module's own LayerNorm is part of the conv module.
* ``sublayers``: residual branches ``x + scale · f(·)``, each with the module whose first input is
  the branch input ``x`` (pre-LN: the sub-layer's norm, whose output ``f`` reads; post-LN: ``f``'s
  first module) and the module whose output, times ``scale`` (0.5 for a conformer's macaron FFNs),
  is the branch output added to ``x``. A sub-layer's own norm is ``norms[<sub-layer name>]``.
* ``conv_module`` / ``batchnorms``: conformer convolution module and its BatchNorm.

Example:
    >>> from lobes import build_backbone
    >>> bb = build_backbone("ast", config="tiny")
    >>> spec = bb.layer_specs()[0]
    >>> sorted(spec.linears)
    ['ffn_in', 'ffn_out', 'k', 'o', 'q', 'v']
    >>> spec.get("q").out_features == bb.hidden_size
    True
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn


@dataclass(frozen=True)
class Sublayer:
    """One residual branch ``x + scale · f(·)`` of a layer (paths relative to the layer).

    ``pre_norm``: f reads ``norm(x)`` and ``input`` is that norm (pre-LN); False: f reads ``x``,
    ``input`` is f's first module and the norm follows the residual add (post-LN).
    """

    name: str
    input: str
    output: str
    pre_norm: bool = True
    scale: float = 1.0


@dataclass
class LayerSpec:
    """Where PETL methods can attach inside one transformer layer."""

    index: int
    layer: nn.Module
    path: str
    linears: dict[str, str]
    norms: dict[str, str]
    sublayers: list[Sublayer]
    conv_module: str | None = None
    batchnorms: dict[str, str] = field(default_factory=dict)

    def get(self, role_or_path: str) -> nn.Module:
        """The module for a role (``q``, ``ffn_out``, a norm role) or a relative path."""
        path = self.linears.get(role_or_path) or role_or_path
        return self.layer.get_submodule(path)

    def norm(self, role: str) -> nn.Module:
        return self.layer.get_submodule(self.norms[role])

    def set(self, path: str, module: nn.Module) -> None:
        """Replace the submodule at ``path`` (relative to the layer)."""
        parent_path, _, name = path.rpartition(".")
        parent = self.layer.get_submodule(parent_path) if parent_path else self.layer
        setattr(parent, name, module)

    def sublayer(self, name: str) -> Sublayer:
        for sub in self.sublayers:
            if sub.name == name:
                return sub
        valid = ", ".join(s.name for s in self.sublayers)
        raise ValueError(f"this backbone's layers have no sub-layer {name!r}; valid: {valid}")
