"""The base of every PETL method: :class:`Method`, the method table, the state of an adapted backbone.

This module imports no method. Each method module defines a :class:`Method` subclass and
registers it (as peft's ``register_peft_method``)::

    @register_method
    class BitFit(Method):
        name = "bitfit"
        ...

``petl_modules/__init__.py`` imports every method module once, so ``METHODS`` is complete for
anyone who imports ``petl_modules``. A method that cannot work together with another one says so
in its own :meth:`Method.check_combination`; the generic code knows no pair of methods.

Example:
    >>> class Nothing(Method):
    ...     name = "nothing_example"
    ...     def validate(self, backbone, options): return {}
    ...     def apply(self, backbone, options): pass
    >>> _ = register_method(Nothing); "nothing_example" in METHODS
    True
    >>> del METHODS["nothing_example"]
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from petl_modules.common import PetlError


class Method:
    """Base class of a PETL method: ``validate`` options, then ``apply`` them to a backbone."""

    name: str = ""
    defaults: dict = {}
    #: methods whose trained tensors can be folded into the frozen weights (LoRA, SSF, BitFit)
    mergeable: bool = False
    #: baselines cannot be combined with other methods
    combinable: bool = True
    #: methods that add tokens to the sequence the layers see (prompts)
    changes_sequence: bool = False
    #: options that only choose the initial values: trained tensors loaded later make them moot
    initialisation_options: tuple = ()

    def trained_options(self, options: dict) -> dict:
        """``options`` without :attr:`initialisation_options`: what must agree to load trained tensors."""
        return {k: v for k, v in options.items() if k not in self.initialisation_options}

    def validate(self, backbone, options: dict) -> dict:
        """Plain, complete options (defaults filled); raise :class:`PetlError` on bad ones."""
        raise NotImplementedError

    def apply(self, backbone, options: dict) -> None:
        """Inject modules / unfreeze tensors (the backbone is already frozen)."""
        raise NotImplementedError

    def check_combination(self, options: dict, others: dict[str, dict]) -> None:
        """Raise :class:`PetlError` if this method (with its validated ``options``) cannot be applied
        together with ``others`` (method name -> validated options). Default: any combination."""


#: every registered method by name (filled by :func:`register_method`)
METHODS: dict[str, Method] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: add one instance of ``cls`` to :data:`METHODS` under ``cls.name``."""
    if not cls.name or not isinstance(cls.name, str) or "+" in cls.name:
        raise ValueError(f"{cls.__name__}: a method needs a name without '+'")
    if cls.name in METHODS and type(METHODS[cls.name]).__qualname__ != cls.__qualname__:
        raise ValueError(f"two methods are named {cls.name!r}: {type(METHODS[cls.name]).__name__} and {cls.__name__}")
    METHODS[cls.name] = cls()
    return cls


@dataclass
class PetlState:
    """What :func:`petl_modules.apply_petl` did to a backbone (also ``backbone.petl_state``)."""

    backbone: nn.Module = field(repr=False)
    method: str
    options: dict
    #: named adapters: tensors of the inactive ones (the active one lives in the modules)
    adapters: dict[str, dict[str, torch.Tensor] | None] = field(default_factory=dict, repr=False)
    active: str = "default"

    @property
    def methods(self) -> list[str]:
        return self.method.split("+")

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(name, parameter)`` of every backbone tensor that trains (the head is separate)."""
        return trainable_parameters(self.backbone)

    def num_trainable(self) -> int:
        return sum(p.numel() for _, p in self.trainable_parameters())

    def config(self) -> dict:
        return {"method": self.method, "options": copy.deepcopy(self.options)}


def get_state(backbone: nn.Module) -> PetlState | None:
    """The :class:`PetlState` of ``backbone`` (None when no method was applied)."""
    return backbone.__dict__.get("petl_state")


def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of everything in ``model`` that trains."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def to_like(module: nn.Module, ref: torch.Tensor) -> nn.Module:
    """Move a freshly built module to ``ref``'s device (and floating dtype)."""
    return module.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else None)


def mergeable_methods() -> list[str]:
    return [n for n, m in METHODS.items() if m.mergeable]


__all__ = ["METHODS", "Method", "PetlError", "PetlState", "get_state", "mergeable_methods", "register_method",
           "to_like", "trainable_parameters"]
