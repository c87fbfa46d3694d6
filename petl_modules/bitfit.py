"""BitFit (Ben Zaken et al. 2022): train only bias terms.

Biases of the target linears (default q, k, v, o and every FFN linear) and of the block
LayerNorms; ``final_norm`` (default True) also the backbone's final LayerNorm bias where it has
one (AST); ``conv_batchnorm_bias`` (conformers) the conv module's BatchNorm bias, as seed 001's
MusicFM count: its running statistics never change (the frozen network runs in eval mode, see
:meth:`lobes.backbone.Backbone.train`). The biases train in place, so a BitFit backbone is already
"merged".

Example:
    >>> import warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> apply_petl(build_backbone("ast", config="tiny"), "bitfit").num_trainable()  # 4*(4*32+64+32+2*32)+32
    1184
"""
from __future__ import annotations

from petl_modules.common import PetlError, as_bool, check_options, resolve_roles, select_layers
from petl_modules.base import Method, register_method


@register_method
class BitFit(Method):
    name = "bitfit"
    mergeable = True
    defaults = {"targets": ["q", "k", "v", "o", "ffn"], "norms": True, "final_norm": True,
                "conv_batchnorm_bias": False, "layers_to_transform": None}

    def validate(self, backbone, options: dict) -> dict:
        o = check_options(self.name, options, self.defaults)
        specs = backbone.layer_specs()
        resolve_roles(self.name, specs[0], o["targets"])
        o["targets"] = [o["targets"]] if isinstance(o["targets"], str) else list(o["targets"])
        for key in ("norms", "final_norm", "conv_batchnorm_bias"):
            as_bool(self.name, key, o[key])
        if o["conv_batchnorm_bias"] and "conv" not in specs[0].batchnorms:
            raise PetlError("bitfit: option conv_batchnorm_bias needs a conformer backbone (conv-module BatchNorm)")
        select_layers(self.name, specs, o["layers_to_transform"])
        return o

    def apply(self, backbone, o: dict) -> None:
        for spec in select_layers(self.name, backbone.layer_specs(), o["layers_to_transform"]):
            for role in resolve_roles(self.name, spec, o["targets"]):
                bias = getattr(spec.get(role), "bias", None)
                if bias is not None:
                    bias.requires_grad_(True)
            if o["norms"]:
                for role in spec.norms:
                    if spec.norm(role).bias is not None:
                        spec.norm(role).bias.requires_grad_(True)
            if o["conv_batchnorm_bias"]:
                spec.get(spec.batchnorms["conv"]).bias.requires_grad_(True)
        final = getattr(backbone, "final_norm", None)
        if o["final_norm"] and getattr(final, "bias", None) is not None:
            final.bias.requires_grad_(True)
