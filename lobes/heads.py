"""Task heads and the model that joins a backbone to one.

* ``LinearHead``: Linear(d, C) (seed 002: on the mean of all tokens after AST's final LayerNorm).
* ``MLPHead``: Linear(d, d) → Dropout(0.5) → ReLU → Linear(d, C) (seed 001, on the time mean of
  the chosen layer).
* ``AudioClassifier``: backbone → ``hidden_states[layer]`` → backbone's final norm → masked mean
  over time of the tokens the backbone's ``pooling`` option chooses
  (:meth:`lobes.backbone.Backbone.pool`: every token, AST's CLS token, prompts and/or audio) → head.
  It returns logits; losses live in the training core. ``layer`` is any
  :mod:`lobes.layer_pooling` choice: one layer, the mean of ``[first, last]``, or ``"weighted"``
  (a learned softmax-weighted sum of every kept state, SUPERB); each state is normed and pooled
  first (the choices are linear, so this equals pooling the combined tokens).

Example:
    >>> import torch
    >>> from lobes import build_backbone
    >>> bb = build_backbone("ast", config="tiny")
    >>> model = AudioClassifier(bb, MLPHead(bb.hidden_size, 24))
    >>> model(torch.randn(2, 16000)).shape
    torch.Size([2, 24])
"""
from __future__ import annotations

import torch
from torch import nn

from lobes.backbone import Backbone
from lobes.cache import cache_entry_keys
from lobes.layer_pooling import build_layer_choice


class LinearHead(nn.Linear):
    """Linear(d, C)."""

    def __init__(self, hidden_size: int, num_outputs: int) -> None:
        super().__init__(hidden_size, num_outputs)


class MLPHead(nn.Sequential):
    """Linear(d, d) → Dropout → ReLU → Linear(d, C)."""

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float = 0.5) -> None:
        super().__init__(
            nn.Linear(hidden_size, hidden_size), nn.Dropout(dropout), nn.ReLU(), nn.Linear(hidden_size, num_outputs)
        )


HEADS = {"linear": LinearHead, "mlp": MLPHead}


def build_head(kind: str, hidden_size: int, num_outputs: int) -> nn.Module:
    if kind not in HEADS:
        raise ValueError(f"unknown head {kind!r}; valid: {', '.join(HEADS)}")
    if num_outputs < 1:
        raise ValueError(f"a head needs at least one output, got {num_outputs}")
    return HEADS[kind](hidden_size, num_outputs)


class AudioClassifier(nn.Module):
    """Backbone + pooled layer choice ``layer`` (default: the last kept layer) + head."""

    def __init__(self, backbone: Backbone, head: nn.Module, layer=None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.layer_choice = build_layer_choice(layer, backbone.num_layers)
        self.layer = self.layer_choice.describe()

    def embed(self, wav: torch.Tensor, lengths: torch.Tensor | None = None,
              cache_keys: list[str] | None = None, **kwargs) -> torch.Tensor:
        """Pooled embedding ``[B, D]`` (the head's input).

        With ``cache_keys`` and the backbone's ``feature_cache`` set: a frozen backbone (probing)
        caches the pooled embeddings of ALL its hidden states (``[num_layers + 1, D]`` per clip),
        so later epochs — and runs with another layer choice on the same cache — run only the
        head; otherwise the backbone caches the input of its first trainable stage.
        """
        cache = self.backbone.feature_cache
        frozen = not any(p.requires_grad for p in self.backbone.parameters())
        choice = self.layer_choice
        if cache_keys is not None and cache is not None and frozen:
            keys = cache_entry_keys(cache_keys, f"pooled_{self.backbone.pooling}", self.backbone, wav.device)
            hit = cache.lookup(keys, wav.device)
            if hit is None:
                with torch.no_grad():
                    states = self._pool(self.backbone(wav, lengths, **kwargs), range(self.backbone.num_layers + 1))
                cache.store(keys, states, torch.ones(states.shape[:2], dtype=torch.bool))
            else:
                states = hit[0]
            return choice(states[:, choice.indices])
        return choice(self._pool(self.backbone(wav, lengths, cache_keys=cache_keys, **kwargs), choice.indices))

    def _pool(self, out, indices) -> torch.Tensor:
        """Normed, time-pooled hidden states ``indices``: ``[B, len(indices), D]``."""
        return torch.stack([self.backbone.pool(out, k) for k in indices], 1)

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        return self.head(self.embed(wav, lengths, **kwargs))
