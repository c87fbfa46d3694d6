"""What differs between processes under DDP (torchrun, one or several nodes).

* :func:`device_for_rank`: ``--device=cuda`` (no index) under torchrun is the GPU of the LOCAL
  rank (``cuda:$LOCAL_RANK``; without it every rank of a node would use GPU 0 and NCCL fails); an
  explicit ``cuda:N`` shared by several processes of a node is refused;
* :func:`on_main_then_broadcast`: data preparation and downloads once per run, by global rank 0,
  the result (or its error) sent to every rank, so no rank waits forever for a rank that failed;
* :func:`all_ranks`: one value from every rank (e.g. which files a rank cannot see: a node that
  does not share the storage rank 0 prepared on is one clear error on every rank, not a hang).

Sharded evaluation: each rank evaluates its own items, the results are gathered in the
dataset's order, every item exactly once.

* :class:`ShardSampler`: rank ``r`` of ``W`` takes items ``r, r + W, r + 2W, …`` — no padding
  (``torch.utils.data.DistributedSampler`` repeats items to even out the shards, which would count
  them twice in the metrics);
* :func:`gather_shards`: every rank's per-item rows, put back in the dataset's order on every rank.

Without an initialised process group both are the identity (one rank holds everything).

Example:
    >>> device_for_rank("cuda", {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    'cuda:1'
    >>> list(ShardSampler(5, rank=1, world_size=2))
    [1, 3]
    >>> gather_shards(["a", "b", "c"])  # one process
    ['a', 'b', 'c']
"""
from __future__ import annotations

import os

import torch
from speechbrain.utils.distributed import ddp_barrier, ddp_broadcast, if_main_process, is_distributed_initialized

from petl_core.errors import ConfigError


def world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed_initialized() else 1


def rank() -> int:
    return torch.distributed.get_rank() if is_distributed_initialized() else 0


def device_for_rank(device: str | None, environ=os.environ) -> str | None:
    """The device of this process (see the module docstring); ``environ``: torchrun's variables."""
    local = environ.get("LOCAL_RANK")
    if device is None or local is None or not str(device).startswith("cuda"):
        return device
    if device == "cuda":
        return f"cuda:{int(local)}"
    per_node = int(environ.get("LOCAL_WORLD_SIZE", "1"))
    index = int(str(device).split(":", 1)[1])
    if per_node > 1 and index != int(local):
        raise ConfigError(f"--device={device}: under torchrun each of the {per_node} processes of a node needs its "
                          f"own GPU (this one is local rank {local}); give --device=cuda, which takes cuda:LOCAL_RANK")
    return device


def on_main_then_broadcast(fn, *args, **kwargs):
    """``fn`` on the main process only; its (picklable) result — or the exception it raised — on
    every rank."""
    outcome = None
    if if_main_process():
        try:
            outcome = ("ok", fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            if not is_distributed_initialized():
                raise
            outcome = ("error", exc)
    if is_distributed_initialized():
        ddp_barrier()
        outcome = ddp_broadcast(outcome, src=0)
    if outcome[0] == "error":
        raise outcome[1]
    return outcome[1]


def all_ranks(value) -> list:
    """``value`` of every rank, in rank order (``[value]`` in one process)."""
    if not is_distributed_initialized():
        return [value]
    values = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(values, value)
    return values


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
