"""MusicFM (25 Hz): mel front end, conv subsampling and transformers' conformer layers.

The module tree follows the published ``MusicFM25Hz`` so that ``pretrained_msd.pt`` (a dict with
``state_dict``, keys prefixed ``model.``) loads strictly: every weight of the kept layers must be
present, and the only checkpoint keys left unused are the pre-training ones (random-projection
quantizer, codebook projection ``linear``, ``cls_token``), the unused positional conv and the
layers beyond ``num_layers``.

Front end: torchaudio mel (n_fft 2048, hop 240, 128 HTK mels, power 2, centred) in dB, last frame
dropped, normalised with ``melspec_2048_mean/std`` from the stats json; two residual Conv2d +
BatchNorm blocks (stride 2×2 each) and a Linear to the model width give 25 Hz tokens.

Not built (so that no trainable tensor goes without a gradient): the encoder's positional conv,
which the published model creates but never runs (rotary positions; its 8,389,760 parameters are
in seed 001's FT count, see :attr:`published_unused_parameters`), and, with
``truncated_final_norm=False`` on a truncated model, the encoder's final LayerNorm. With the
default ``truncated_final_norm=True``, ``hidden_states[num_layers]`` includes that LayerNorm for
every ``num_layers``, as the N-layer conformer seed 001 builds (peft-music).

Batch independence: the mel spectrogram is computed on each clip's valid samples, the conv
subsampling sees padded frames as zeros at every convolution, and so does each conformer
layer's depthwise convolution; its BatchNorm, when it trains (FT), takes statistics from valid
tokens only (see :mod:`lobes.backbone`).

Positions: the rotary embedding (which transformers' conformer applies to the hidden states
before the q/k projections) is computed here per forward, keyed on length, prompt count, dtype
and device: audio token ``j`` always has position ``j``, and tokens that sequence edits put in
front (prompts) have position 0 (no rotation), so prompts no token attends to change nothing.

Example:
    >>> import torch
    >>> from lobes.musicfm import MusicFMBackbone
    >>> bb = MusicFMBackbone(config="tiny")
    >>> out = bb(torch.randn(1, 24000))
    >>> out.hidden_states[-1].shape[1]  # 1 s at 25 Hz
    25
"""
from __future__ import annotations

import glob
import json
import logging
import os

import torch
import torchaudio
from torch import nn
from transformers import Wav2Vec2ConformerConfig
from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import Wav2Vec2ConformerEncoder

from lobes.backbone import Backbone, MaskedBatchNorm1d, check_num_layers, per_clip
from lobes.layer_spec import LayerSpec, Sublayer
from lobes.loading import reject_runtime_keys, warn_random_weights

logger = logging.getLogger(__name__)

# facebook/wav2vec2-conformer-rope-large config with MusicFM's depth and width.
MUSICFM_REAL = dict(
    hidden_size=1024, num_hidden_layers=12, num_attention_heads=16, intermediate_size=4096,
    hidden_act="swish", position_embeddings_type="rotary", rotary_embedding_base=10000,
    conv_depthwise_kernel_size=31, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
    layer_norm_eps=1e-5, hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.1,
    conformer_conv_dropout=0.1,
    # front end (MusicFM25Hz arguments)
    n_fft=2048, hop_length=240, n_mels=128, conv_dim=512, codebook_size=4096, codebook_dim=16,
    stats={"melspec_2048_mean": 0.0, "melspec_2048_std": 1.0},
)
TINY_MUSICFM = dict(
    MUSICFM_REAL, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
    conv_depthwise_kernel_size=7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
    n_fft=512, n_mels=32, conv_dim=8, codebook_size=64,
)
FRONTEND_KEYS = ("n_fft", "hop_length", "n_mels", "conv_dim", "codebook_size", "codebook_dim", "stats")


class Res2dBlock(nn.Module):
    """Residual block: conv-BN-ReLU-conv-BN plus a strided conv-BN shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride=(2, 2)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, stride=stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.diff = in_channels != out_channels or stride[0] > 1
        if self.diff:
            self.conv3 = nn.Conv2d(in_channels, out_channels, 3, padding=1, stride=stride)
            self.bn3 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``[B, C, F, T]``; ``lengths``: valid frames per clip (None: all), padded ones read as zeros."""
        x = _zero_padded_frames(x, lengths)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(_zero_padded_frames(out, self.output_lengths(lengths))))
        shortcut = self.bn3(self.conv3(x)) if self.diff else x
        return self.relu(shortcut + out)

    def output_lengths(self, lengths: torch.Tensor | None) -> torch.Tensor | None:
        """Valid output frames of clips with ``lengths`` valid input frames (kernel 3, padding 1)."""
        stride = self.conv1.stride[1]
        return None if lengths is None else torch.div(lengths - 1, stride, rounding_mode="floor") + 1


def _zero_padded_frames(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    if lengths is None:
        return x
    valid = torch.arange(x.shape[-1], device=x.device)[None] < lengths[:, None]
    return x * valid[:, None, None, :].to(x.dtype)


class ConvSubsampling(nn.Module):
    """Mel ``[B, mels, T]`` -> tokens ``[B, T/4, hidden]`` (two Res2d blocks + Linear)."""

    def __init__(self, conv_dim: int, hidden: int, n_mels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(Res2dBlock(1, conv_dim, (2, 2)), Res2dBlock(conv_dim, conv_dim, (2, 2)))
        self.linear = nn.Linear(conv_dim * n_mels // 4, hidden)

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``lengths``: valid mel frames per clip (None: all valid)."""
        x = mel.unsqueeze(1)
        for block in self.conv:
            x, lengths = block(x, lengths), block.output_lengths(lengths)
        b, c, f, t = x.shape  # [B, C, F', T']
        return self.linear(x.permute(0, 3, 1, 2).reshape(b, t, c * f))

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for block in self.conv:
            lengths = block.output_lengths(lengths)
        return lengths


class MelFrontEnd(nn.Module):
    """torchaudio mel spectrogram in dB (module names as MusicFM's ``MelSTFT``)."""

    def __init__(self, n_fft: int, hop_length: int, n_mels: int, sample_rate: int = 24000) -> None:
        super().__init__()
        with torch.device("cpu"):  # the mel filterbank is computed, even when building on "meta"
            self.mel_stft = torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
            )
        self.amplitude_to_db = torchaudio.transforms.AmplitudeToDB()

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.amplitude_to_db(self.mel_stft(wav))


class MusicFM25Hz(nn.Module):
    """The MusicFM network with the published module names.

    ``published=True``: the whole published tree (as ``pretrained_msd.pt``), with the pre-training
    parts and the unused positional conv; False: only the modules the encoder runs.
    """

    def __init__(self, options: dict, published: bool = True) -> None:
        super().__init__()
        options = dict(options)
        front = {k: options.pop(k) for k in FRONTEND_KEYS}
        self.stats = front["stats"]
        self.preprocessor_melspec_2048 = MelFrontEnd(front["n_fft"], front["hop_length"], front["n_mels"])
        self.conv = ConvSubsampling(front["conv_dim"], options["hidden_size"], front["n_mels"])
        self.config = Wav2Vec2ConformerConfig(**options)
        self.conformer = Wav2Vec2ConformerEncoder(self.config)
        for layer in self.conformer.layers:  # batch statistics of the valid tokens only (trained under FT)
            bn = layer.conv_module.batch_norm
            layer.conv_module.batch_norm = MaskedBatchNorm1d(bn.num_features, bn.eps, bn.momentum)
        #: parameters of the published positional conv, which the conformer never runs (rotary positions)
        self.unused_pos_conv_parameters = sum(p.numel() for p in self.conformer.pos_conv_embed.parameters())
        if not published:
            del self.conformer.pos_conv_embed
        if published:
            self.quantizer_melspec_2048_0 = _RandomProjectionBuffers(front["n_mels"] * 4, front["codebook_dim"],
                                                                     front["codebook_size"])
            self.linear = nn.Linear(options["hidden_size"], front["codebook_size"])
            self.cls_token = nn.Parameter(torch.randn(options["hidden_size"]))


class _RandomProjectionBuffers(nn.Module):
    """Buffers of MusicFM's pre-training quantizer (kept only to count/load the full model)."""

    def __init__(self, dim: int, codebook_dim: int, codebook_size: int) -> None:
        super().__init__()
        self.register_buffer("random_projection", torch.zeros(dim, codebook_dim))
        self.register_buffer("codebook", torch.zeros(codebook_size, codebook_dim))


#: checkpoint keys of modules the backbone does not build (pre-training parts, unused positional conv)
PUBLISHED_ONLY_PREFIXES = ("quantizer_", "linear.", "cls_token", "conformer.pos_conv_embed.")


class MusicFMBackbone(Backbone):
    """MusicFM encoder; ``pretrained`` is the folder holding the ``.pt`` checkpoint and stats json.

    ``config`` describes the architecture of that checkpoint (default: the published MusicFM).
    """

    sample_rate = 24000
    family = "musicfm"

    def __init__(
        self,
        pretrained: str | None = None,
        config: str | dict | None = None,
        num_layers: int | None = None,
        layerdrop: float = 0.0,
        attn_implementation: str = "sdpa",
        truncated_final_norm: bool | None = None,
    ) -> None:
        super().__init__()
        if config == "tiny":
            options = dict(TINY_MUSICFM)
        elif config in (None, "real"):
            options = dict(MUSICFM_REAL)
        elif isinstance(config, dict):
            reject_runtime_keys(config)
            options = {**MUSICFM_REAL, **config}
        else:
            raise ValueError(f"config must be 'tiny', 'real', a dict or None, got {config!r}")
        if pretrained:
            checkpoint, options["stats"] = _find_musicfm_files(pretrained)
        self.full_num_layers = options["num_hidden_layers"]
        options["num_hidden_layers"] = check_num_layers(num_layers, self.full_num_layers)
        options["layerdrop"] = layerdrop
        options["mask_time_prob"] = 0.0  # the config says what runs: MusicFM masks no time steps here
        self.model = MusicFM25Hz(options, published=False)
        self.model.config._attn_implementation = attn_implementation
        self.published_unused_parameters = self.model.unused_pos_conv_parameters
        self._set_truncated_final_norm(truncated_final_norm, self.model.conformer, "layer_norm")
        if pretrained:
            load_musicfm_checkpoint(self.model, checkpoint, self.full_num_layers)
        else:
            warn_random_weights("musicfm", config, options["hidden_size"], self.full_num_layers)
        self.hidden_size = options["hidden_size"]
        self.layerdrop = layerdrop
        self._rotary_cache = None
        # a centred STFT needs more than n_fft / 2 samples; BatchNorm needs two tokens (8 mel frames)
        self.min_samples = max(options["n_fft"], 8 * options["hop_length"])

    @property
    def layers(self) -> nn.ModuleList:
        return self.model.conformer.layers

    @property
    def final_norm_for_last(self) -> nn.Module | None:
        return getattr(self.model.conformer, "layer_norm", None)

    def frontend(self, wav: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised mel of each clip's valid samples (padded frames are zeros)."""
        stats = self.model.stats

        def mel(samples: torch.Tensor) -> torch.Tensor:
            m = self.model.preprocessor_melspec_2048(samples.float())[..., :-1]
            return (m - stats["melspec_2048_mean"]) / stats["melspec_2048_std"]

        hop = self.model.preprocessor_melspec_2048.mel_stft.hop_length
        return per_clip(mel, wav, lengths), torch.div(lengths, hop, rounding_mode="floor").clamp(min=1)

    def embedding_modules(self) -> nn.Module:
        return nn.ModuleList([self.model.conv, self.model.conformer.dropout])

    def embed(self, mel: torch.Tensor, n_frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.model.conv(mel, n_frames)  # padded frames read as zeros (no read-back to test for padding)
        n_tokens = self.model.conv.output_lengths(n_frames)
        mask = torch.arange(x.shape[1], device=x.device)[None] < n_tokens[:, None]
        return self.model.conformer.dropout(x), mask

    def call_layer(self, layer: nn.Module, x: torch.Tensor, mask: torch.Tensor | None,
                   num_front: int = 0) -> torch.Tensor:
        if self.training and self.layerdrop > 0 and torch.rand([]) < self.layerdrop:
            return x
        rotary = self.rotary_embedding(x.shape[1] - num_front, num_front, x.dtype, x.device)
        return layer(x, attention_mask=self.attention_mask(x, mask), relative_position_embeddings=rotary)

    def rotary_embedding(self, n_audio: int, num_front: int, dtype: torch.dtype, device) -> torch.Tensor:
        """``[2, N, 1, 1, head_dim]`` cos/sin as transformers' rotary module, for positions
        ``0 (num_front times), 0, 1, ..., n_audio - 1``; cached per (lengths, dtype, device)."""
        key = (n_audio, num_front, dtype, torch.device(device))
        if self._rotary_cache is None or self._rotary_cache[0] != key:
            inv_freq = self.model.conformer.embed_positions.inv_freq
            positions = torch.cat([torch.zeros(num_front), torch.arange(n_audio)]).to(inv_freq.device)
            freqs = positions[:, None] * inv_freq.float()
            angles = torch.cat((freqs, freqs), dim=-1)[:, None, None, :]
            self._rotary_cache = (key, torch.stack([angles.cos(), angles.sin()]).to(device=device, dtype=dtype))
        return self._rotary_cache[1]

    def layer_specs(self) -> list[LayerSpec]:
        linears = {
            "q": "self_attn.linear_q", "k": "self_attn.linear_k", "v": "self_attn.linear_v",
            "o": "self_attn.linear_out",
            "ffn1_in": "ffn1.intermediate_dense", "ffn1_out": "ffn1.output_dense",
            "ffn2_in": "ffn2.intermediate_dense", "ffn2_out": "ffn2.output_dense",
            "conv_pw1": "conv_module.pointwise_conv1", "conv_pw2": "conv_module.pointwise_conv2",
        }
        return [
            LayerSpec(
                index=i, layer=layer, path=f"model.conformer.layers.{i}", linears=dict(linears),
                norms={"ffn1": "ffn1_layer_norm", "mhsa": "self_attn_layer_norm",
                       "ffn2": "ffn2_layer_norm", "final": "final_layer_norm"},
                sublayers=[Sublayer("ffn1", "ffn1_layer_norm", "ffn1.output_dense", scale=0.5),
                           Sublayer("mhsa", "self_attn_layer_norm", "self_attn.linear_out"),
                           Sublayer("ffn2", "ffn2_layer_norm", "ffn2.output_dense", scale=0.5)],
                conv_module="conv_module",
                batchnorms={"conv": "conv_module.batch_norm"},
            )
            for i, layer in enumerate(self.layers)
        ]


def _find_musicfm_files(folder: str) -> tuple[str, dict]:
    """The ``.pt`` checkpoint and the stats of a MusicFM folder."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"{folder}: not a folder; MusicFM's pretrained= is the folder holding pretrained_msd.pt and msd_stats.json"
        )
    checkpoints = sorted(glob.glob(os.path.join(folder, "*.pt")))
    stats_files = sorted(glob.glob(os.path.join(folder, "*stats*.json")))
    if len(checkpoints) != 1 or len(stats_files) != 1:
        raise FileNotFoundError(
            f"{folder}: expected exactly one .pt checkpoint and one *stats*.json "
            f"(found {len(checkpoints)} and {len(stats_files)})"
        )
    with open(stats_files[0], encoding="utf-8") as f:
        stats = json.load(f)
    for key in ("melspec_2048_mean", "melspec_2048_std"):
        if key not in stats:
            raise KeyError(f"{stats_files[0]}: missing {key!r}")
    return checkpoints[0], stats


def load_musicfm_checkpoint(model: MusicFM25Hz, path: str, full_num_layers: int) -> None:
    """Load ``pretrained_msd.pt`` strictly into ``model`` (possibly truncated to fewer layers)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a loadable MusicFM checkpoint ({str(exc).splitlines()[0]})") from None
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path}: expected a dict with a 'state_dict' entry (MusicFM's published format)")
    state = {}
    for key, value in payload["state_dict"].items():
        if not key.startswith("model."):
            raise ValueError(f"{path}: key {key!r} lacks the 'model.' prefix of MusicFM's published checkpoints")
        state[key[len("model."):]] = value
    kept = len(model.conformer.layers)
    dropped = [k for k in state if k.startswith("conformer.layers.") and int(k.split(".")[2]) >= kept]
    not_built = PUBLISHED_ONLY_PREFIXES + (() if hasattr(model.conformer, "layer_norm") else ("conformer.layer_norm.",))
    unused = [k for k in state if k.startswith(not_built)]
    for key in dropped + unused:
        del state[key]
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        detail = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), str(exc))
        raise ValueError(f"{path}: does not match the MusicFM architecture of config ({detail})") from None
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{path}: does not match the MusicFM architecture; missing: {result.missing_keys[:5]}, "
            f"unexpected: {result.unexpected_keys[:5]}"
        )
    logger.info("MusicFM: loaded %s (%d of %d layers kept)", path, kept, full_num_layers)
