"""Speech-SSL family and MERT through transformers: HuBERT, wav2vec 2.0, data2vec-audio, MERT-v1.

MERT-v1-95M is exactly ``HubertModel``: its published ``config.json`` says ``model_type:
mert_model`` with an ``auto_map`` to remote code, which we never run. We read the json ourselves,
refuse the options that need MERT's remote code (CQT front end, deepnorm, attention relaxation)
and build a ``HubertConfig``. ``preprocessor_config.json`` (``do_normalize``, ``sampling_rate``)
is honoured when present.

Example:
    >>> import torch
    >>> from lobes.speech_ssl import SSLBackbone
    >>> bb = SSLBackbone("mert", config="tiny", num_layers=1)
    >>> bb.sample_rate, bb.num_layers
    (24000, 1)
"""
from __future__ import annotations

import json
import logging
import os

import torch
from torch import nn
from transformers import (
    Data2VecAudioConfig,
    Data2VecAudioModel,
    HubertConfig,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2Model,
)

from lobes.backbone import Backbone, check_num_layers, per_clip
from lobes.layer_spec import LayerSpec, Sublayer
from lobes.loading import reject_runtime_keys, resolve_config, warn_random_weights
from lobes.ssl_checkpoint import checked_config, load_checked

logger = logging.getLogger(__name__)

# The published MERT-v1-95M config.json, as the HubertConfig fields it maps to.
MERT_V1_95M = dict(
    hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.1,
    feat_proj_dropout=0.0, feat_proj_layer_norm=True, feat_extract_norm="group",
    feat_extract_activation="gelu", conv_dim=[512] * 7, conv_kernel=[10, 3, 3, 3, 3, 2, 2],
    conv_stride=[5, 2, 2, 2, 2, 2, 2], conv_bias=False, num_conv_pos_embeddings=128,
    num_conv_pos_embedding_groups=16, do_stable_layer_norm=False, layer_norm_eps=1e-5,
    mask_time_length=10,
)  # its layerdrop 0.05 and mask_time_prob 0.05 are the run-time options layerdrop / mask_time_prob
# Keys of MERT's config that only its remote code implements.
MERT_REMOTE_ONLY = {"feature_extractor_cqt": False, "deepnorm": False, "attention_relax": -1.0}

TINY_SSL = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
    conv_dim=[32, 32, 32], conv_kernel=[10, 3, 3], conv_stride=[5, 2, 2], conv_bias=False,
    num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, num_feat_extract_layers=3,
)

FAMILIES = {
    # name: (config class, model class, sample rate, real config, default do_normalize)
    "hubert": (HubertConfig, HubertModel, 16000, {}, False),
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model, 16000, {}, True),
    "data2vec": (Data2VecAudioConfig, Data2VecAudioModel, 16000, {}, True),
    "mert": (HubertConfig, HubertModel, 24000, MERT_V1_95M, False),
}


class SSLBackbone(Backbone):
    """A transformers speech-SSL encoder (raw waveform in, conv feature encoder + transformer)."""

    def __init__(
        self,
        family: str = "hubert",
        pretrained: str | None = None,
        config: str | dict | None = None,
        num_layers: int | None = None,
        layerdrop: float = 0.0,
        mask_time_prob: float = 0.0,
        do_normalize: bool | None = None,
        attn_implementation: str = "sdpa",
        truncated_final_norm: bool | None = None,
    ) -> None:
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"unknown speech-SSL family {family!r}; valid: {', '.join(FAMILIES)}")
        config_cls, model_cls, sample_rate, real, normalize_default = FAMILIES[family]
        self.family = family
        reject_runtime_keys(config)
        if family == "mert" and pretrained:
            cfg = mert_config(pretrained)
        elif pretrained and os.path.isdir(pretrained):  # music2vec / musicHuBERT / ... folders: checked
            cfg = checked_config(family, pretrained, config_cls)
        else:
            cfg = resolve_config(config_cls, pretrained, config, TINY_SSL, real)
        self.full_num_layers = cfg.num_hidden_layers
        cfg.num_hidden_layers = check_num_layers(num_layers, self.full_num_layers)
        cfg.layerdrop = layerdrop
        cfg.mask_time_prob = mask_time_prob
        cfg.mask_feature_prob = 0.0
        cfg._attn_implementation = attn_implementation
        if pretrained:
            self.model = load_checked(model_cls, pretrained, cfg)
        else:
            warn_random_weights(family, config, cfg.hidden_size, self.full_num_layers)
            self.model = model_cls(cfg)
        preproc = read_preprocessor_config(pretrained)
        self.sample_rate = int(preproc.get("sampling_rate", getattr(cfg, "sample_rate", sample_rate)))
        self.do_normalize = preproc.get("do_normalize", normalize_default) if do_normalize is None else do_normalize
        self.hidden_size = cfg.hidden_size
        self.layerdrop = layerdrop
        self.stable_layer_norm = bool(getattr(cfg, "do_stable_layer_norm", False))
        #: GroupNorm conv encoders normalise over time: run them on each clip's valid samples
        self.per_clip_conv_encoder = getattr(cfg, "feat_extract_norm", "layer") == "group"
        self.min_samples = _min_samples_for_two_frames(self.model)
        self._set_truncated_final_norm(truncated_final_norm, self.model.encoder if self.stable_layer_norm else None,
                                       "layer_norm")

    @property
    def layers(self) -> nn.ModuleList:
        return self.model.encoder.layers

    @property
    def final_norm_for_last(self) -> nn.Module | None:
        return getattr(self.model.encoder, "layer_norm", None) if self.stable_layer_norm else None

    def time_conv_scopes(self) -> list[nn.Module]:
        return [self.model.encoder.pos_conv_embed, *self.layers]

    def frontend(self, wav: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero-mean unit-variance per clip when ``do_normalize`` (as Wav2Vec2FeatureExtractor)."""
        valid = torch.arange(wav.shape[1], device=wav.device)[None] < lengths[:, None]
        if self.do_normalize:
            n = lengths[:, None].float()
            mean = (wav * valid).sum(1, keepdim=True) / n
            var = (((wav - mean) * valid) ** 2).sum(1, keepdim=True) / n
            wav = (wav - mean) / torch.sqrt(var + 1e-7)
        return wav * valid, lengths

    def embedding_modules(self) -> nn.Module:
        encoder = self.model.encoder
        norm = [] if self.stable_layer_norm else [encoder.layer_norm]
        return nn.ModuleList([self.model.feature_extractor, self.model.feature_projection,
                              encoder.pos_conv_embed, *norm, encoder.dropout])

    def embed(self, wav: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoder = self.model.encoder
        feature_encoder = self.model.feature_extractor
        # transformers forces requires_grad on the conv input in training mode; only do so when
        # the conv front end actually trains (otherwise it costs a full autograd graph).
        feature_encoder._requires_grad = any(p.requires_grad for p in feature_encoder.parameters())
        features = (per_clip(feature_encoder, wav, lengths) if self.per_clip_conv_encoder
                    else feature_encoder(wav)).transpose(1, 2)
        n_frames = self.model._get_feat_extract_output_lengths(lengths).clamp(min=1)
        mask = torch.arange(features.shape[1], device=wav.device)[None] < n_frames[:, None]
        hidden = self.model.feature_projection(features)
        if isinstance(hidden, tuple):  # wav2vec2 / data2vec also return the normed features
            hidden = hidden[0]
        if self.training and self.model.config.mask_time_prob > 0:
            hidden = self.model._mask_hidden_states(hidden, attention_mask=mask)
        hidden = hidden.masked_fill(~mask[..., None], 0.0)
        with self.padded_time_convs.masking(mask):  # data2vec stacks several convolutions
            hidden = hidden + encoder.pos_conv_embed(hidden)
        if not self.stable_layer_norm:
            hidden = encoder.layer_norm(hidden)
        return encoder.dropout(hidden), mask

    def call_layer(self, layer: nn.Module, x: torch.Tensor, mask: torch.Tensor | None,
                   num_front: int = 0) -> torch.Tensor:
        if self.training and self.layerdrop > 0 and torch.rand([]) < self.layerdrop:
            return x
        return layer(x, attention_mask=self.attention_mask(x, mask))

    def layer_specs(self) -> list[LayerSpec]:
        pre = self.stable_layer_norm
        return [
            LayerSpec(
                index=i, layer=layer, path=f"model.encoder.layers.{i}",
                linears={"q": "attention.q_proj", "k": "attention.k_proj", "v": "attention.v_proj",
                         "o": "attention.out_proj", "ffn_in": "feed_forward.intermediate_dense",
                         "ffn_out": "feed_forward.output_dense"},
                norms={"mhsa": "layer_norm", "ffn": "final_layer_norm"},
                sublayers=[
                    Sublayer("mhsa", "layer_norm" if pre else "attention", "attention.out_proj", pre_norm=pre),
                    Sublayer("ffn", "final_layer_norm" if pre else "feed_forward", "feed_forward.output_dense",
                             pre_norm=pre),
                ],
            )
            for i, layer in enumerate(self.layers)
        ]


def _min_samples_for_two_frames(model) -> int:
    """Shortest waveform giving two output frames (one frame breaks the conv GroupNorm)."""
    samples = 1
    while int(model._get_feat_extract_output_lengths(samples)) < 2:
        samples += 1
    return samples


def _read_json(pretrained: str, filename: str) -> dict | None:
    """A json file of a local folder or of a hub repository (None if it does not exist)."""
    if os.path.isdir(pretrained):
        path = os.path.join(pretrained, filename)
        if not os.path.exists(path):
            return None
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            path = hf_hub_download(pretrained, filename)
        except EntryNotFoundError:
            return None
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid json ({exc})") from None


def read_preprocessor_config(pretrained: str | None) -> dict:
    return (_read_json(pretrained, "preprocessor_config.json") or {}) if pretrained else {}


def mert_config(pretrained: str) -> HubertConfig:
    """A ``HubertConfig`` from a published MERT ``config.json``, refusing remote-code-only options."""
    raw = _read_json(pretrained, "config.json")
    if raw is None:
        raise FileNotFoundError(f"{pretrained}: no config.json (expected a MERT checkpoint folder)")
    for key, plain in MERT_REMOTE_ONLY.items():
        if key in raw and raw[key] != plain:
            raise ValueError(
                f"{pretrained}/config.json sets {key}={raw[key]!r}: this MERT variant needs MERT's remote "
                "code (CQT front end / deepnorm / attention relaxation), which this toolkit never runs "
                "(no trust_remote_code). Use MERT-v1-95M or MERT-v1-330M style checkpoints."
            )
    skipped = ("model_type", "auto_map", "architectures", "transformers_version")
    fields = {k: v for k, v in raw.items() if k not in skipped}
    return HubertConfig(**fields)
