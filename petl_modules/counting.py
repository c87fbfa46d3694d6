"""Parameter counts, computed from the instantiated modules (works on the ``meta`` device).

Example:
    >>> import torch, warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> bb = build_backbone("ast", config="tiny"); _ = apply_petl(bb, "linear")
    >>> c = count_parameters(bb, head=torch.nn.Linear(32, 10))
    >>> c["trainable"], c["head"]
    (64, 330)
    >>> format_counts(c).split(" || ")[0]
    'trainable params: 64'
"""
from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module, head: nn.Module | None = None) -> dict:
    """``trainable`` / ``total``: parameters of ``model`` outside the head; ``head``: the head's.

    ``head`` defaults to ``model.head`` when the model has one. Shared tensors count once.
    """
    if head is None and isinstance(getattr(model, "head", None), nn.Module):
        head = model.head
    head_params = {id(p): p for p in head.parameters()} if head is not None else {}
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen or id(p) in head_params:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return {"trainable": trainable, "total": total, "head": sum(p.numel() for p in head_params.values())}


def format_counts(counts: dict) -> str:
    """peft-style line; the head is reported separately."""
    pct = 100.0 * counts["trainable"] / counts["total"] if counts["total"] else 0.0
    line = f"trainable params: {counts['trainable']:,} || all params: {counts['total']:,} || trainable%: {pct:.4f}"
    if counts.get("head"):
        line += f" || head params: {counts['head']:,}"
    return line


def print_trainable_parameters(model: nn.Module, head: nn.Module | None = None) -> None:
    print(format_counts(count_parameters(model, head)))
