"""Folding reparameterisable methods into the frozen weights (and back).

``merge(model)`` folds every LoRA / SSF wrapper into its base ``nn.Linear`` / ``nn.Conv1d``
and puts the base module back in its place, so the merged backbone has exactly the plain
backbone's module types and tensors (its state loads strictly into a plain backbone) and costs
nothing at inference. A wrapper that would need a new tensor (an SSF shift on a module without
bias) makes ``merge`` refuse, before anything is folded. BitFit trains the existing biases in
place: nothing to fold. ``unmerge(model)`` restores the wrappers (and the original weights).
``model`` is the backbone or any module containing it (e.g. ``lobes.heads.AudioClassifier``): the
guards (a PETL method applied, every method mergeable) and the merged flag are the backbone's,
so ``save_adapter`` / ``set_active_adapter`` / ``load_adapter`` refuse a merged model either way.

Example:
    >>> import torch, warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> bb = build_backbone("hubert", config="tiny").eval()
    >>> _ = apply_petl(bb, "lora", {"rank": 2})
    >>> merge(bb); type(bb.layers[0].attention.q_proj).__name__
    'Linear'
    >>> unmerge(bb); type(bb.layers[0].attention.q_proj).__name__
    'LoRA'
"""
from __future__ import annotations

import torch
from torch import nn

from petl_modules.base import METHODS, get_state, mergeable_methods
from petl_modules.common import PetlError, find_backbone, replace_module


class MergeableWrapper(nn.Module):
    """A module around ``base`` whose effect can be folded into ``base``'s weights."""

    petl_added = True
    base: nn.Module

    def fold_problem(self) -> str | None:
        """Why this wrapper cannot fold into ``base`` without changing its structure (None: it can)."""
        return None

    def fold(self) -> None:
        raise NotImplementedError

    def unfold(self) -> None:
        raise NotImplementedError


def _merged_list(backbone: nn.Module) -> list:
    return backbone.__dict__.setdefault("_petl_merged", [])


def is_merged(model: nn.Module) -> bool:
    """Whether the backbone of ``model`` (the backbone itself or a module containing it) is merged."""
    return bool(find_backbone(model)[1].__dict__.get("_petl_is_merged"))


@torch.no_grad()
def merge(model: nn.Module) -> None:
    """Fold LoRA / SSF into the frozen weights; refuse non-mergeable methods (adapters, prompts...)."""
    _, backbone = find_backbone(model)
    if is_merged(backbone):
        raise PetlError("this backbone is already merged (call unmerge first)")
    state = get_state(backbone)
    if state is None:
        raise PetlError("merge: this backbone has no PETL method applied (call apply_petl or load_adapter first)")
    not_mergeable = [m for m in state.methods if not METHODS[m].mergeable]
    if not_mergeable:
        raise PetlError(
            f"cannot merge {', '.join(not_mergeable)}: only {', '.join(mergeable_methods())} fold into the frozen "
            "weights"
        )
    problems = [(name, module.fold_problem()) for name, module in backbone.named_modules()
                if isinstance(module, MergeableWrapper) and module.fold_problem()]
    if problems:
        more = f" and {len(problems) - 1} more module(s)" if len(problems) > 1 else ""
        raise PetlError(f"cannot merge {problems[0][0]}{more}: {problems[0][1]}")
    done = _merged_list(backbone)
    backbone.__dict__["_petl_is_merged"] = True
    while True:
        for name, module in backbone.named_modules():
            if isinstance(module, MergeableWrapper) and not isinstance(module.base, MergeableWrapper):
                break
        else:
            return
        module.fold()
        replace_module(backbone, name, module.base, old=module)
        done.append((name, module))


@torch.no_grad()
def unmerge(model: nn.Module) -> None:
    """Undo :func:`merge` (the wrappers come back, the frozen weights are restored)."""
    _, backbone = find_backbone(model)
    if not is_merged(backbone):
        raise PetlError("this backbone is not merged")
    backbone.__dict__["_petl_is_merged"] = False
    done = _merged_list(backbone)
    while done:
        name, module = done.pop()
        module.unfold()
        replace_module(backbone, name, module, old=module.base)
