"""Which hidden states a head reads: one layer, the mean of a layer range, or a learned weighted sum.

A backbone with ``num_layers`` kept layers has ``num_layers + 1`` hidden states (index 0: the
embeddings entering the first layer). A *layer choice* combines some of them, stacked along
dim 1 (``[B, S, ...]``, S = ``len(choice.indices)``) into one ``[B, ...]`` tensor:

* ``SingleLayer(k)``: ``hidden_states[k]`` (seed 001: layer 6; seed 002: the last layer);
* ``LayerMean(first, last)``: the mean of layers ``first … last`` (inclusive);
* ``WeightedLayerSum(num_states)``: ``sum_k softmax(w)_k · hidden_states[k]`` over every kept
  state, with ``w`` learned (SUPERB / s3prl's featurizer; initialised to zeros = uniform). Its
  ``extra_results()`` gives the learned softmax weights, which runs save in ``results.json``.

Every choice is linear in the states, so it commutes with time pooling: a head may combine
pooled per-layer embeddings (``[B, S, D]``, what :class:`lobes.heads.AudioClassifier` caches for
probing) or per-frame tokens (``[B, S, N, D]``) alike.

``build_layer_choice(spec, num_layers)`` reads the hparams value: ``None`` (the last kept layer),
an int, ``"weighted"``, or ``[first, last]``.

Example:
    >>> import torch
    >>> choice = build_layer_choice("weighted", num_layers=2)
    >>> choice.indices, choice(torch.ones(4, 3, 8)).shape
    ([0, 1, 2], torch.Size([4, 8]))
    >>> build_layer_choice([1, 2], num_layers=2).indices
    [1, 2]
"""
from __future__ import annotations

import torch
from torch import nn

WEIGHTED = "weighted"


class LayerChoice(nn.Module):
    """Base: ``indices`` are the hidden-state indices read, in the order they are stacked."""

    indices: list[int]

    def describe(self):
        """The hparams value that rebuilds this choice."""
        raise NotImplementedError

    def extra_results(self) -> dict:
        """What a run records about this choice in ``results.json`` (nothing by default)."""
        return {}


class SingleLayer(LayerChoice):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.indices = [int(index)]

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        return stacked[:, 0]

    def describe(self):
        return self.indices[0]


class LayerMean(LayerChoice):
    def __init__(self, first: int, last: int) -> None:
        super().__init__()
        self.indices = list(range(int(first), int(last) + 1))

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        return stacked.mean(1)

    def describe(self):
        return [self.indices[0], self.indices[-1]]


class WeightedLayerSum(LayerChoice):
    """``sum_k softmax(weights)_k · state_k`` over ``num_states`` states (indices 0 … S-1)."""

    def __init__(self, num_states: int) -> None:
        super().__init__()
        self.indices = list(range(int(num_states)))
        self.weights = nn.Parameter(torch.zeros(int(num_states)))

    def normalized_weights(self) -> torch.Tensor:
        return torch.softmax(self.weights.float(), 0)

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        if stacked.shape[1] != len(self.indices):
            raise ValueError(f"weighted layer sum over {len(self.indices)} states got {stacked.shape[1]}")
        w = self.normalized_weights().to(stacked.dtype)
        return torch.einsum("bs...,s->b...", stacked, w)

    def describe(self):
        return WEIGHTED

    def extra_results(self) -> dict:
        return {"layer_weights": self.normalized_weights().detach().cpu().tolist()}


def build_layer_choice(spec, num_layers: int) -> LayerChoice:
    """A :class:`LayerChoice` from an hparams value (see the module docstring); clear errors otherwise."""
    valid = (f"null (last layer), an int 0..{num_layers}, '{WEIGHTED}', or [first, last] with "
             f"0 <= first <= last <= {num_layers}")
    if isinstance(spec, LayerChoice):
        return spec
    if spec is None:
        return SingleLayer(num_layers)
    if isinstance(spec, bool):
        raise ValueError(f"layer: got {spec!r}; valid: {valid}")
    if isinstance(spec, int):
        if not 0 <= spec <= num_layers:
            raise ValueError(f"layer must be between 0 and {num_layers}, got {spec}")
        return SingleLayer(spec)
    if isinstance(spec, str):
        if spec == WEIGHTED:
            return WeightedLayerSum(num_layers + 1)
        raise ValueError(f"layer: unknown choice {spec!r}; valid: {valid}")
    if isinstance(spec, (list, tuple)) and len(spec) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                   for v in spec):
        first, last = spec
        if not 0 <= first <= last <= num_layers:
            raise ValueError(f"layer range {list(spec)} is outside 0..{num_layers} or reversed")
        return LayerMean(first, last)
    raise ValueError(f"layer: got {spec!r}; valid: {valid}")
