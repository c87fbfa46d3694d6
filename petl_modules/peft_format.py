"""LoRA adapters in peft's format, for the backbones built on a transformers model.

peft's layout: ``adapter_config.json`` (a ``LoraConfig``) and ``adapter_model.safetensors`` with
``base_model.model.<module>.lora_A.weight`` / ``lora_B.weight``, where ``<module>`` is the path in
the plain transformers model (``ASTModel``, ``HubertModel`` for HuBERT and MERT, ``Wav2Vec2Model``,
``Data2VecAudioModel``). Our LoRA maps one to one: ``lora_A`` ``[r, in]``, ``lora_B`` ``[out, r]``,
``lora_alpha = scale · r`` (peft scales by ``lora_alpha / r``), ``target_modules`` the layer-relative
paths of the target roles (``attention.q_proj``...), ``layers_to_transform`` the chosen layers;
when the backbone keeps only its first ``num_layers`` layers, those (LoRA is never on the others),
so the full published model with the adapter computes our ``hidden_states[num_layers]``.

Only plain ``lora`` can be written this way: peft has no bottleneck adapters, prompts or prefixes
for these models, no SSF, Convpass, conformer adapter...; those stay in this toolkit's own format.

Reading accepts what peft writes for these models (also from a ``*ForSequenceClassification``
wrapper: module paths are matched by their end): the same rank and alpha everywhere, no DoRA,
no trained biases, the same target roles in every adapted layer.

Example:
    >>> import warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> bb = build_backbone("hubert", config="tiny"); state = apply_petl(bb, "lora", {"rank": 2, "scale": 2.0})
    >>> from petl_modules.io import live_tensors
    >>> config, tensors = to_peft(bb, state.method, state.options, live_tensors(bb))
    >>> config["lora_alpha"], config["target_modules"]
    (4.0, ['attention.q_proj', 'attention.v_proj'])
    >>> sorted(tensors)[0]
    'base_model.model.encoder.layers.0.attention.q_proj.lora_A.weight'
"""
from __future__ import annotations

import math

import torch

from petl_modules.common import PetlError, resolve_roles

PEFT_PREFIX = "base_model.model."
LORA_SUFFIXES = {"lora_A": ".lora_A.weight", "lora_B": ".lora_B.weight"}
OWN_FORMAT_HINT = ("save it in this toolkit's own format (format=\"petl\", the default; read by "
                   "petl_modules.load_adapter)")


def transformers_model_class(backbone) -> str:
    """Name of the plain transformers model under ``backbone`` (``PetlError`` if there is none)."""
    from transformers import PreTrainedModel

    model = getattr(backbone, "model", None)
    if not isinstance(model, PreTrainedModel):
        raise PetlError(f"format='peft': the {backbone.family} backbone is not a transformers model, so peft cannot "
                        f"load an adapter for it; {OWN_FORMAT_HINT}")
    return type(model).__name__


def module_paths(backbone) -> dict[tuple[int, str], str]:
    """``(layer index, role) -> module path in the transformers model`` for every linear role."""
    transformers_model_class(backbone)
    paths = {}
    for spec in backbone.layer_specs():
        if not spec.path.startswith("model."):
            raise PetlError(f"format='peft': layer path {spec.path!r} is not under the transformers model")
        for role, rel in spec.linears.items():
            paths[(spec.index, role)] = f"{spec.path[len('model.'):]}.{rel}"
    return paths


def to_peft(backbone, method: str, options: dict, tensors: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """``(LoraConfig keyword arguments, peft tensors)`` of a LoRA on ``backbone``.

    ``tensors``: the adapter's tensors in this toolkit's naming (``backbone.<name>`` ...); only the
    LoRA matrices may be among the backbone ones.
    """
    if method != "lora":
        raise PetlError(f"format='peft' writes LoRA only; peft cannot express {method!r} on these backbones: "
                        f"{OWN_FORMAT_HINT}")
    paths = module_paths(backbone)
    spec0 = backbone.layer_specs()[0]
    roles = resolve_roles("lora", spec0, options["targets"])
    layers = options["layers_to_transform"]
    layers = list(range(backbone.num_layers)) if layers is None else sorted({i % backbone.num_layers for i in layers})
    ours_to_peft = {}
    for layer in layers:
        for role in roles:
            ours = f"backbone.model.{paths[(layer, role)]}"
            for part, suffix in LORA_SUFFIXES.items():
                ours_to_peft[f"{ours}.{part}"] = PEFT_PREFIX + paths[(layer, role)] + suffix
    backbone_keys = {k for k in tensors if k.startswith("backbone.")}
    if backbone_keys != set(ours_to_peft):
        odd = sorted(backbone_keys ^ set(ours_to_peft))[:3]
        raise PetlError(f"format='peft': the adapter's tensors are not exactly its LoRA matrices ({odd}); "
                        f"{OWN_FORMAT_HINT}")
    peft_tensors = {ours_to_peft[k]: tensors[k] for k in backbone_keys}
    rank = options["rank"]
    whole = layers == list(range(backbone.full_num_layers))
    config = {
        "r": rank, "lora_alpha": options["scale"] * rank, "lora_dropout": options["dropout"],
        "target_modules": [spec0.linears[r] for r in roles],
        "layers_to_transform": None if whole else layers, "layers_pattern": None if whole else "layers",
        "bias": "none", "base_model_name_or_path": getattr(backbone.model.config, "name_or_path", None) or None,
    }
    return config, peft_tensors


def _refuse_unsupported(folder: str, config: dict) -> None:
    if config.get("peft_type") != "LORA":
        raise PetlError(f"{folder}: a peft {config.get('peft_type')} adapter; this toolkit reads peft LoRA adapters")
    problems = {
        "use_dora": bool(config.get("use_dora")), "bias": config.get("bias", "none") != "none",
        "lora_bias": bool(config.get("lora_bias")), "rank_pattern": bool(config.get("rank_pattern")),
        "alpha_pattern": bool(config.get("alpha_pattern")), "layer_replication": bool(config.get("layer_replication")),
        "target_parameters": bool(config.get("target_parameters")),
        "fan_in_fan_out": bool(config.get("fan_in_fan_out")),
    }
    bad = [k for k, v in problems.items() if v]
    if bad:
        raise PetlError(f"{folder}: adapter_config.json sets {', '.join(bad)}, which this toolkit's LoRA does not have "
                        "(one rank and alpha everywhere, no DoRA, frozen biases)")


def from_peft(folder: str, config: dict, tensors: dict[str, torch.Tensor], backbone,
              strict: bool = True) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(lora options, tensors in this toolkit's naming)`` of a peft LoRA folder for ``backbone``.

    Tensors other than LoRA matrices (a peft ``modules_to_save`` head) are an error with
    ``strict``, else left out.
    """
    _refuse_unsupported(folder, config)
    by_path = {path: key for key, path in module_paths(backbone).items()}
    found: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    others = []
    for key, value in tensors.items():
        part = next((p for p, s in LORA_SUFFIXES.items() if key.endswith(s)), None)
        module = key[:-len(LORA_SUFFIXES[part])].removeprefix(PEFT_PREFIX) if part else None
        match = next((k for p, k in by_path.items() if module == p or (module or "").endswith("." + p)), None)
        if match is None:
            others.append(key)
            continue
        found.setdefault(match, {})[part] = value
    if others and strict:
        raise PetlError(f"{folder}: tensors that are not LoRA matrices of this {backbone.family} backbone's layers "
                        f"({others[:3]}); LoRA on layers beyond the {backbone.num_layers} kept ones, or a peft head "
                        "(modules_to_save)? Pass strict=False to leave them out")
    if not found:
        raise PetlError(f"{folder}: no LoRA matrix matches a layer of this {backbone.family} backbone")
    layers = sorted({layer for layer, _ in found})
    spec0 = backbone.layer_specs()[0]
    roles = [r for r in spec0.linears if any(role == r for _, role in found)]
    if set(found) != {(i, r) for i in layers for r in roles} or any(len(v) != 2 for v in found.values()):
        raise PetlError(f"{folder}: LoRA must adapt the same modules ({', '.join(roles)}) in every adapted layer "
                        f"(layers {layers}), each with lora_A and lora_B")
    rank = int(config["r"])
    scale = float(config["lora_alpha"]) / (math.sqrt(rank) if config.get("use_rslora") else rank)
    options = {"rank": rank, "targets": roles, "scale": scale, "alpha": None,
               "dropout": float(config.get("lora_dropout") or 0.0),
               "layers_to_transform": None if layers == list(range(backbone.num_layers)) else layers}
    paths = module_paths(backbone)
    ours = {f"backbone.model.{paths[key]}.{part}": value for key, pair in found.items() for part, value in pair.items()}
    return options, ours
