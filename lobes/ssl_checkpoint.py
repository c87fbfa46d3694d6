"""Published speech-SSL checkpoint folders (HF format): music2vec, musicHuBERT, HuBERT, wav2vec 2.0, data2vec.

Seed 003's music models are published in transformers' format: **music2vec**
(``m-a-p/music2vec-v1``) is a ``Data2VecAudioModel`` (``model_type: data2vec-audio``, backbone
``data2vec``), **musicHuBERT** a ``HubertModel`` (``model_type: hubert``, backbone ``hubert``);
both take 16 kHz audio. A local folder holds ``config.json``, the weights
(``model.safetensors`` or ``pytorch_model.bin``) and optionally ``preprocessor_config.json``
(``do_normalize``, ``sampling_rate``; music2vec normalises, as data2vec does).

``checked_config(family, folder)`` reads ``config.json`` and refuses, with one message naming the
file and the field:

* a ``model_type`` other than the family's (:data:`MODEL_TYPES`; e.g. a MERT folder given to
  ``hubert``: use the ``mert`` backbone);
* ``auto_map`` (remote code, never run here);
* a missing architecture field (:data:`REQUIRED_FIELDS`): transformers would silently fill in
  its default, and the weights would then load into another architecture.

``load_checked(model_cls, folder, config)`` loads the weights and refuses a checkpoint that lacks
any weight of the kept architecture (transformers only warns and initialises it randomly); unused
weights (dropped layers, pre-training heads) are ignored.

Example:
    >>> sorted(MODEL_TYPES)
    ['data2vec', 'hubert', 'wav2vec2']
"""
from __future__ import annotations

import json
import os

MODEL_TYPES = {"hubert": "hubert", "data2vec": "data2vec-audio", "wav2vec2": "wav2vec2"}
_COMMON = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
           "layer_norm_eps", "conv_dim", "conv_kernel", "conv_stride", "conv_bias", "num_conv_pos_embeddings",
           "num_conv_pos_embedding_groups")
#: fields config.json must hold, per backbone family
REQUIRED_FIELDS = {
    "hubert": _COMMON + ("feat_extract_norm", "feat_proj_layer_norm", "do_stable_layer_norm"),
    "wav2vec2": _COMMON + ("feat_extract_norm", "do_stable_layer_norm"),
    "data2vec": _COMMON + ("conv_pos_kernel_size", "num_conv_pos_embeddings"),
}


def checked_config(family: str, folder: str, config_cls):
    """The ``config_cls`` of a local checkpoint ``folder`` after the checks of the module docstring."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder}: no config.json (expected a transformers checkpoint folder of a "
                                f"{MODEL_TYPES[family]!r} model)")
    with open(path, encoding="utf-8") as f:
        try:
            raw = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid json ({exc})") from None
    model_type = raw.get("model_type")
    if model_type != MODEL_TYPES[family]:
        other = {v: k for k, v in MODEL_TYPES.items()}.get(model_type)
        other = other or ("mert" if model_type == "mert_model" else None)
        hint = f"; use backbone {other!r}" if other else ""
        raise ValueError(f"{path}: model_type {model_type!r} is not a {family} checkpoint (expected "
                         f"{MODEL_TYPES[family]!r}){hint}")
    if "auto_map" in raw:
        raise ValueError(f"{path}: auto_map asks for remote code, which this toolkit never runs")
    missing = [k for k in REQUIRED_FIELDS[family] if k not in raw]
    if missing:
        raise ValueError(f"{path}: missing architecture field(s) {', '.join(missing)}; a {family} checkpoint "
                         f"must state {', '.join(REQUIRED_FIELDS[family])} (transformers' defaults may not match "
                         "the weights)")
    return config_cls.from_pretrained(folder)


def load_checked(model_cls, folder: str, config):
    """``model_cls.from_pretrained`` that fails on a missing weight of the kept architecture."""
    model, info = model_cls.from_pretrained(folder, config=config, output_loading_info=True)
    missing = [k for k in info.get("missing_keys", ()) if "masked_spec_embed" not in k]
    if missing:
        raise ValueError(f"{folder}: the checkpoint lacks {len(missing)} weight(s) of this architecture, e.g. "
                         f"{sorted(missing)[:4]} (transformers would initialise them randomly); is it a "
                         f"{config.model_type} checkpoint of this size?")
    return model
