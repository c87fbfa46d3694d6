"""Sharded evaluation under DDP: each rank evaluates its own items, the results are gathered in the
dataset's order, every item exactly once.

* :class:`ShardSampler`: rank ``r`` of ``W`` takes items ``r, r + W, r + 2W, …`` — no padding
  (``torch.utils.data.DistributedSampler`` repeats items to even out the shards, which would count
  them twice in the metrics);
* :func:`gather_shards`: every rank's per-item rows, put back in the dataset's order on every rank.

Without an initialised process group both are the identity (one rank holds everything).

Example:
    >>> list(ShardSampler(5, rank=1, world_size=2))
    [1, 3]
    >>> gather_shards(["a", "b", "c"])  # one process
    ['a', 'b', 'c']
"""
from __future__ import annotations

import torch
from speechbrain.utils.distributed import is_distributed_initialized


def world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed_initialized() else 1


def rank() -> int:
    return torch.distributed.get_rank() if is_distributed_initialized() else 0


class ShardSampler(torch.utils.data.Sampler):
    """Indices ``rank::world_size`` of a dataset of ``length`` items, in order (no padding)."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def gather_shards(local: list) -> list:
    """``local``: a list of per-item values of this rank's shard (in :class:`ShardSampler` order).
    Returns the values of all ranks in the dataset's order (on every rank)."""
    if not is_distributed_initialized():
        return list(local)
    shards = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(shards, list(local))
    merged = [None] * sum(len(s) for s in shards)
    for r, shard in enumerate(shards):
        merged[r::len(shards)] = shard
    return merged
