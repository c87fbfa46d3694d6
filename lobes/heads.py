"""Task heads and the model that joins a backbone to one.

* ``LinearHead``: Linear(d, C) (seed 002: on the mean of all tokens after AST's final LayerNorm).
* ``MLPHead``: Linear(d, d) → Dropout(0.5) → ReLU → Linear(d, C) (seed 001, on the time mean of
  the chosen layer).
* ``AudioClassifier``: backbone → ``hidden_states[layer]`` → backbone's final norm → masked mean
  over time → head. It returns logits; losses live in the training core.

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


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid time steps: ``[B, N, D]``, ``[B, N]`` → ``[B, D]``."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class AudioClassifier(nn.Module):
    """Backbone + pooled layer ``layer`` (default: the last kept layer) + head."""

    def __init__(self, backbone: Backbone, head: nn.Module, layer: int | None = None) -> None:
        super().__init__()
        if layer is not None and not 0 <= layer <= backbone.num_layers:
            raise ValueError(f"layer must be between 0 and {backbone.num_layers}, got {layer}")
        self.backbone = backbone
        self.head = head
        self.layer = backbone.num_layers if layer is None else layer

    def embed(self, wav: torch.Tensor, lengths: torch.Tensor | None = None,
              cache_keys: list[str] | None = None, **kwargs) -> torch.Tensor:
        """Pooled embedding ``[B, D]`` (the head's input).

        With ``cache_keys`` and the backbone's ``feature_cache`` set: a frozen backbone (probing)
        caches the pooled embedding itself, so later epochs run only the head; otherwise the
        backbone caches the input of its first trainable stage.
        """
        cache = self.backbone.feature_cache
        frozen = not any(p.requires_grad for p in self.backbone.parameters())
        if cache_keys is not None and cache is not None and frozen:
            keys = [f"{key}@pooled{self.layer}" for key in cache_keys]
            hit = cache.lookup(keys, wav.device)
            if hit is not None:
                return hit[0][:, 0]
            with torch.no_grad():
                pooled = self._pool(self.backbone(wav, lengths, **kwargs))
            cache.store(keys, pooled[:, None], torch.ones(pooled.shape[0], 1, dtype=torch.bool))
            return pooled
        return self._pool(self.backbone(wav, lengths, cache_keys=cache_keys, **kwargs))

    def _pool(self, out) -> torch.Tensor:
        tokens = self.backbone.final_norm(out.hidden_states[self.layer])
        return masked_mean(tokens, out.mask)

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        return self.head(self.embed(wav, lengths, **kwargs))
