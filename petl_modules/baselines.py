"""Baselines: full fine-tuning (``ft``), linear probe (``linear``) and MLP probe (``mlp``).

``ft`` trains every backbone tensor (BatchNorm included: it then runs in training mode). The
probes freeze the whole backbone; the head (outside the backbone) is what trains. ``linear``
also trains the final LayerNorm where the backbone has one (AST, as seed 002 Table I:
d·C + C + 2d); ``final_norm`` switches that (default True for ``linear``, False for ``mlp``).

Example:
    >>> import warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> apply_petl(build_backbone("ast", config="tiny"), "linear").num_trainable()
    64
"""
from __future__ import annotations

from petl_modules.common import as_bool, check_options
from petl_modules.base import Method, register_method


@register_method
class FullFineTuning(Method):
    name = "ft"
    combinable = False
    defaults: dict = {}

    def validate(self, backbone, options: dict) -> dict:
        return check_options(self.name, options, self.defaults)

    def apply(self, backbone, o: dict) -> None:
        for p in backbone.parameters():
            p.requires_grad_(True)


@register_method
class LinearProbe(Method):
    name = "linear"
    combinable = False
    defaults = {"final_norm": True}

    def validate(self, backbone, options: dict) -> dict:
        o = check_options(self.name, options, self.defaults)
        as_bool(self.name, "final_norm", o["final_norm"])
        return o

    def apply(self, backbone, o: dict) -> None:
        final = getattr(backbone, "final_norm", None)
        if o["final_norm"] and final is not None:
            final.requires_grad_(True)


@register_method
class MLPProbe(LinearProbe):
    name = "mlp"
    defaults = {"final_norm": False}
