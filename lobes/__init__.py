"""Backbones (lobes) behind one interface: ``build_backbone(name, ...)``.

Example:
    >>> from lobes import build_backbone, BACKBONES
    >>> sorted(BACKBONES)
    ['ast', 'data2vec', 'hubert', 'mert', 'musicfm', 'wav2vec2']
    >>> build_backbone("musicfm", config="tiny").hidden_size
    32
"""
from __future__ import annotations

import functools

from lobes.ast import ASTBackbone
from lobes.backbone import Backbone, BackboneOutput
from lobes.musicfm import MusicFMBackbone
from lobes.speech_ssl import SSLBackbone

BACKBONES = {
    "ast": ASTBackbone,
    "mert": functools.partial(SSLBackbone, "mert"),
    "hubert": functools.partial(SSLBackbone, "hubert"),
    "wav2vec2": functools.partial(SSLBackbone, "wav2vec2"),
    "data2vec": functools.partial(SSLBackbone, "data2vec"),
    "musicfm": MusicFMBackbone,
}


def build_backbone(name: str, gradient_checkpointing: bool = False, pooling: str = "mean", **options) -> Backbone:
    """Build a backbone by name; ``options``: pretrained, config ('tiny'/'real'/dict), num_layers, ...

    ``gradient_checkpointing`` and ``pooling`` are run options of every backbone
    (:meth:`lobes.backbone.Backbone.configure`).
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(sorted(BACKBONES))}")
    try:
        backbone = BACKBONES[name](**options)
    except TypeError as exc:
        raise TypeError(f"invalid option for backbone {name!r}: {exc}") from None
    return backbone.configure(gradient_checkpointing=gradient_checkpointing, pooling=pooling)


__all__ = ["BACKBONES", "Backbone", "BackboneOutput", "build_backbone"]
