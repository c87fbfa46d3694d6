"""Audio Spectrogram Transformer through ``transformers.ASTModel``.

Front end: Kaldi fbank (25 ms Hann window, 10 ms shift, 128 mels) at 16 kHz, padded or cropped to
``max_length`` frames per clip, normalised ``(x - mean) / (2 * std)`` with the AudioSet statistics,
exactly as ``transformers.ASTFeatureExtractor``. A ``max_length`` other than the checkpoint's keeps
the pretrained positional embeddings: centre-cropped along time when shorter, bilinearly
interpolated when longer (as the original AST does), never re-initialised.

Example:
    >>> import torch
    >>> from lobes.ast import ASTBackbone
    >>> bb = ASTBackbone(config="tiny")
    >>> bb(torch.randn(1, 16000)).hidden_states[-1].shape[-1] == bb.hidden_size
    True
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi
from torch import nn
from transformers import ASTConfig, ASTModel

from lobes.backbone import Backbone, check_num_layers
from lobes.layer_spec import LayerSpec, Sublayer
from lobes.loading import resolve_config, warn_random_weights

logger = logging.getLogger(__name__)

AST_HUB_ID = "MIT/ast-finetuned-audioset-10-10-0.4593"
AUDIOSET_MEAN = -4.2677393
AUDIOSET_STD = 4.5689974

TINY_AST = dict(
    hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64,
    max_length=128, num_mel_bins=128,
)


class ASTBackbone(Backbone):
    """AST encoder; ``hidden_states[k]`` are the layer outputs before the final LayerNorm.

    ``final_norm`` (the model's last LayerNorm) is applied by heads to pooled tokens, as in
    PETL_AST (mean of all tokens after the final LayerNorm).
    """

    sample_rate = 16000
    family = "ast"

    def __init__(
        self,
        pretrained: str | None = None,
        config: str | dict | None = None,
        num_layers: int | None = None,
        max_length: int | None = None,
        mean: float = AUDIOSET_MEAN,
        std: float = AUDIOSET_STD,
        attn_implementation: str = "sdpa",
    ) -> None:
        super().__init__()
        cfg = resolve_config(ASTConfig, pretrained, config, TINY_AST)
        self.full_num_layers = cfg.num_hidden_layers
        cfg.num_hidden_layers = check_num_layers(num_layers, self.full_num_layers)
        cfg._attn_implementation = attn_implementation
        if pretrained:
            self.model = ASTModel.from_pretrained(pretrained, config=cfg)
        else:
            warn_random_weights("ast", config, cfg.hidden_size, self.full_num_layers)
            self.model = ASTModel(cfg)
        if max_length is not None and max_length != cfg.max_length:
            resize_position_embeddings(self.model, max_length)
        self.hidden_size = cfg.hidden_size
        self.mean, self.std = mean, std
        freq, time = _patch_grid(self.model.config)
        self.patch_grid = (2, freq)
        self._mel_banks: dict = {}  # (device, dtype) -> the fbank's mel matrix, built once per device

    @property
    def layers(self) -> nn.ModuleList:
        return self.model.layers

    @property
    def final_norm(self) -> nn.Module:
        return self.model.layernorm

    @property
    def max_length(self) -> int:
        return self.model.config.max_length

    @property
    def max_input_samples(self) -> int:
        """Longest input in samples: exactly ``max_length`` fbank frames (25 ms window, 10 ms hop);
        longer input is cut. Consecutive windows starting every ``max_length`` hops tile the frames."""
        return 400 + (self.max_length - 1) * 160

    def frontend(self, wav: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fbank ``[B, max_length, mels]`` of each clip, identical to ``ASTFeatureExtractor``.

        The whole batch at once (:func:`kaldi_fbank`); frames past a clip's own end are zeros
        before normalisation, as the extractor's padding.
        """
        cfg = self.model.config
        fb = kaldi_fbank(wav[:, : _AST_WINDOW + (cfg.max_length - 1) * _AST_SHIFT], cfg.num_mel_bins,
                         self.sample_rate, self._mel_banks)
        n_frames = (torch.div(lengths.clamp(min=_AST_WINDOW) - _AST_WINDOW, _AST_SHIFT, rounding_mode="floor") + 1)
        n_frames = n_frames.to(fb.device).clamp(max=cfg.max_length)
        fb = fb * (torch.arange(fb.shape[1], device=fb.device)[None] < n_frames[:, None])[..., None]
        fb = F.pad(fb, (0, 0, 0, cfg.max_length - fb.shape[1]))
        return (fb - self.mean) / (self.std * 2), n_frames

    def embedding_modules(self) -> nn.Module:
        return self.model.embeddings

    def embed(self, features: torch.Tensor, n_frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.model.embeddings(features)
        # AST attends to every patch (padding is part of each fixed-length clip), as the original.
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return x, mask

    def call_layer(self, layer: nn.Module, x: torch.Tensor, mask: torch.Tensor | None,
                   num_front: int = 0) -> torch.Tensor:
        return layer(x, self.attention_mask(x, mask))

    def layer_specs(self) -> list[LayerSpec]:
        return [
            LayerSpec(
                index=i, layer=layer, path=f"model.layers.{i}",
                linears={"q": "attention.q_proj", "k": "attention.k_proj", "v": "attention.v_proj",
                         "o": "attention.o_proj", "ffn_in": "mlp.fc1", "ffn_out": "mlp.fc2"},
                norms={"mhsa": "layernorm_before", "ffn": "layernorm_after"},
                sublayers=[Sublayer("mhsa", "layernorm_before", "attention.o_proj"),
                           Sublayer("ffn", "layernorm_after", "mlp.fc2")],
            )
            for i, layer in enumerate(self.layers)
        ]


#: kaldi fbank of AST's front end at 16 kHz: 25 ms window, 10 ms shift, FFT size 512
_AST_WINDOW, _AST_SHIFT, _AST_FFT = 400, 160, 512
_EPSILON = torch.finfo(torch.float).eps


def kaldi_fbank(wav: torch.Tensor, num_mel_bins: int, sample_rate: int = 16000,
                mel_banks: dict | None = None) -> torch.Tensor:
    """``torchaudio.compliance.kaldi.fbank`` with AST's settings on a batch ``[B, T]`` (T >= 400).

    Hann ("hanning") window, no dither, DC offset removed, pre-emphasis 0.97, power spectrum,
    log mel energies without the energy term; frames at every 10 ms that fit (snip_edges).
    ``mel_banks`` (a dict) caches the mel matrix per device and dtype.

    Example:
        >>> import torch, torchaudio.compliance.kaldi as kaldi
        >>> wav = torch.randn(2, 16000)
        >>> ref = kaldi.fbank(wav[1:], sample_frequency=16000, window_type="hanning", num_mel_bins=128,
        ...                   htk_compat=True, use_energy=False, dither=0.0, frame_shift=10)
        >>> torch.allclose(kaldi_fbank(wav, 128)[1], ref, atol=1e-4)
        True
    """
    key = (wav.device, wav.dtype, num_mel_bins, sample_rate)
    banks = None if mel_banks is None else mel_banks.get(key)
    if banks is None:
        banks, _ = kaldi.get_mel_banks(num_mel_bins, _AST_FFT, float(sample_rate), 20.0, 0.0, 100.0, -500.0, 1.0)
        banks = F.pad(banks, (0, 1)).T.to(device=wav.device, dtype=wav.dtype).contiguous()
        if mel_banks is not None:
            mel_banks[key] = banks
    frames = wav.unfold(1, _AST_WINDOW, _AST_SHIFT)  # [B, M, 400]
    frames = frames - frames.mean(-1, keepdim=True)
    frames = frames - 0.97 * torch.cat([frames[..., :1], frames[..., :-1]], -1)
    window = torch.hann_window(_AST_WINDOW, periodic=False, device=wav.device, dtype=wav.dtype)
    spectrum = torch.fft.rfft(F.pad(frames * window, (0, _AST_FFT - _AST_WINDOW))).abs().pow(2.0)
    return torch.matmul(spectrum, banks).clamp(min=_EPSILON).log()


def _patch_grid(cfg: ASTConfig) -> tuple[int, int]:
    freq = (cfg.num_mel_bins - cfg.patch_size) // cfg.frequency_stride + 1
    time = (cfg.max_length - cfg.patch_size) // cfg.time_stride + 1
    return freq, time


@torch.no_grad()
def resize_position_embeddings(model: ASTModel, max_length: int) -> None:
    """Adapt the positional embeddings of ``model`` to ``max_length`` frames (in place)."""
    cfg = model.config
    freq, old_t = _patch_grid(cfg)
    cfg.max_length = max_length
    _, new_t = _patch_grid(cfg)
    if new_t < 1:
        raise ValueError(f"max_length={max_length} is shorter than one patch ({cfg.patch_size} frames)")
    pos = model.embeddings.position_embeddings
    special, grid = pos[:, :2], pos[:, 2:]
    grid = grid.reshape(1, freq, old_t, -1).permute(0, 3, 1, 2)
    if new_t <= old_t:
        start = old_t // 2 - new_t // 2
        grid = grid[:, :, :, start : start + new_t]
    else:
        grid = F.interpolate(grid, size=(freq, new_t), mode="bilinear", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, freq * new_t, -1)
    model.embeddings.position_embeddings = nn.Parameter(torch.cat([special, grid], dim=1).contiguous())
    logger.info("AST positional embeddings resized from %d to %d time patches", old_t, new_t)
