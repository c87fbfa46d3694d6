"""Frame-level outputs: one prediction per backbone frame (or per frame of a target rate).

* :func:`frame_timing` gives each backbone's exact frame rate and the time of its first frame's
  centre, from the backbone's own configuration:

  ==========  =======================================  ==============================================
  backbone    rate                                     centre of frame 0
  ==========  =======================================  ==============================================
  MERT/SSL    ``sample_rate / prod(conv_stride)``      half the conv receptive field (MERT: 75 Hz,
              (MERT-v1: 24000 / 320 = 75 Hz)           199.5 samples = 8.3 ms)
  MusicFM     ``sample_rate / (4 * hop_length)``       0 (centred STFT; the two stride-2 conv blocks
              (24000 / 960 = 25 Hz)                    keep token ``j`` centred on mel frame ``4j``)
  AST         ``100 / time_stride`` (10 Hz)            centre of the first patch: fbank frames 0-15,
                                                       ``(7.5 * 160 + 199.5) / 16000`` = 87.5 ms
  ==========  =======================================  ==============================================

  A target at ``t`` seconds belongs to the frame whose centre is nearest: ``round((t - first) * rate)``
  (:meth:`FrameTiming.frame_of`).
* :func:`frame_tokens`: ``[B, N, D]`` tokens per frame from a :class:`lobes.backbone.BackboneOutput`
  (prompt tokens are already stripped by the backbone; AST's two special tokens are dropped and its
  patch grid is averaged over frequency, after the final LayerNorm).
* :class:`FrameModel`: backbone + per-frame head; with ``target_rate`` the logits are linearly
  interpolated to frames at ``m / target_rate`` seconds (e.g. 100 Hz for madmom's DBN trackers).
* :func:`predict_long`: a long track in overlapping windows, stitched. Window starts are whole
  multiples of the output and of the backbone frame step, so every window's frames lie on the
  track's frame grid; each frame is taken from the window in which it is farthest from an edge
  (the overlap is split at its middle: every window but the first and last loses ``overlap / 2``
  at each side). For a model whose outputs depend only on a neighbourhood shorter than
  ``overlap / 2`` this equals one long forward (tested with the MusicFM and data2vec front ends).
  Recipes use 50 % overlap by default.

Example:
    >>> import torch
    >>> from lobes import build_backbone
    >>> from lobes.heads import LinearHead
    >>> bb = build_backbone("musicfm", config="tiny")
    >>> frame_timing(bb).rate
    25.0
    >>> model = FrameModel(bb, LinearHead(bb.hidden_size, 2), target_rate=100)
    >>> logits, mask = model(torch.randn(1, 24000))
    >>> logits.shape, int(mask.sum())
    (torch.Size([1, 100, 2]), 100)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lobes.ast import ASTBackbone
from lobes.backbone import Backbone, BackboneOutput
from lobes.layer_pooling import build_layer_choice
from lobes.musicfm import MusicFMBackbone
from lobes.speech_ssl import SSLBackbone

#: kaldi fbank of the AST front end: 10 ms shift, 25 ms window (samples at 16 kHz)
_AST_SHIFT, _AST_WINDOW = 160, 400


@dataclass(frozen=True)
class FrameTiming:
    """Frame ``k`` is centred at ``first + k / rate`` seconds."""

    rate: float
    first: float = 0.0

    def times(self, n: int) -> np.ndarray:
        return self.first + np.arange(n) / self.rate

    def frame_of(self, seconds) -> np.ndarray:
        """Index of the frame whose centre is nearest to each time (may be out of range)."""
        return np.round((np.asarray(seconds, dtype=np.float64) - self.first) * self.rate).astype(np.int64)

    def num_frames(self, seconds: float) -> int:
        """Frames whose centre lies inside ``[0, seconds)``."""
        return max(1, int(math.ceil((seconds - self.first) * self.rate - 1e-9)))


def frame_timing(backbone: Backbone) -> FrameTiming:
    """Exact frame rate and first-frame centre of ``backbone.hidden_states`` (see the module table)."""
    sr = backbone.sample_rate
    if isinstance(backbone, SSLBackbone):
        cfg = backbone.model.config
        hop, field, jump = 1, 1, 1
        for kernel, stride in zip(cfg.conv_kernel, cfg.conv_stride):
            field += (kernel - 1) * jump
            jump *= stride
        hop = jump
        return FrameTiming(sr / hop, (field - 1) / 2 / sr)
    if isinstance(backbone, MusicFMBackbone):
        hop = backbone.model.preprocessor_melspec_2048.mel_stft.hop_length
        return FrameTiming(sr / (4 * hop), 0.0)
    if isinstance(backbone, ASTBackbone):
        cfg = backbone.model.config
        centre = ((cfg.patch_size - 1) / 2 * _AST_SHIFT + (_AST_WINDOW - 1) / 2) / sr
        return FrameTiming(sr / (_AST_SHIFT * cfg.time_stride), centre)
    raise TypeError(f"no frame timing known for backbone {type(backbone).__name__}")


def frame_tokens(backbone: Backbone, out: BackboneOutput, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens ``[B, N, D]`` and mask ``[B, N]``, one per frame, of ``hidden_states[layer]``.

    AST: the special tokens are dropped, the final LayerNorm applied (as for pooled heads) and the
    patch grid averaged over frequency; every time patch is marked valid (padding is masked later
    from the clip durations).
    """
    hidden = out.hidden_states[layer]
    if hidden is None:
        raise ValueError(f"hidden_states[{layer}] was not computed (feature cache of a later stage)")
    if backbone.patch_grid is None:
        return hidden, out.mask
    n_special, n_freq = backbone.patch_grid
    grid = backbone.final_norm(hidden)[:, n_special:]
    b, n, d = grid.shape
    tokens = grid.reshape(b, n_freq, n // n_freq, d).mean(1)
    return tokens, torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)


def resample_frames(logits: torch.Tensor, valid: torch.Tensor, source: FrameTiming, rate: float,
                    n_out: int) -> torch.Tensor:
    """Linear interpolation of ``[B, N, C]`` frame values to ``n_out`` frames at ``m / rate`` s.

    ``valid`` (``[B]``) is the number of valid source frames per clip; positions beyond them hold
    the last valid value (never interpolated into padding).
    """
    times = torch.arange(n_out, device=logits.device, dtype=torch.float64) / rate
    pos = ((times - source.first) * source.rate)[None].clamp(min=0.0)
    pos = torch.minimum(pos, (valid.to(pos) - 1).clamp(min=0)[:, None])
    lo = pos.floor().long()
    hi = torch.minimum(lo + 1, (valid.long() - 1).clamp(min=0)[:, None])
    w = (pos - lo).to(logits.dtype)[..., None]
    c = logits.shape[-1]
    at = lambda idx: logits.gather(1, idx[..., None].expand(-1, -1, c))  # noqa: E731
    return at(lo) * (1 - w) + at(hi) * w


class FrameModel(nn.Module):
    """Backbone + per-frame ``head`` on the frame tokens of ``layer`` (default: the last kept layer).

    ``layer`` is any :mod:`lobes.layer_pooling` choice: an index, ``[first, last]`` (the mean of
    those states) or ``"weighted"`` (a learned softmax-weighted sum of every state); each state's
    frame tokens are taken first (:func:`frame_tokens`), which the choices, being linear, commute with.
    ``forward(wav, lengths)`` returns ``(logits [B, M, C], mask [B, M])`` at :attr:`timing`: the
    backbone's frames, or frames at ``m / target_rate`` seconds when ``target_rate`` is set. A
    frame is valid when its centre lies inside the clip. A clip longer than the backbone covers
    (AST: ``max_length`` fbank frames, :attr:`~lobes.ast.ASTBackbone.max_input_samples`) is
    refused: evaluate it with :func:`predict_long`.
    """

    def __init__(self, backbone: Backbone, head: nn.Module, layer=None,
                 target_rate: float | None = None) -> None:
        super().__init__()
        self.layer_choice = build_layer_choice(layer, backbone.num_layers)
        if target_rate is not None and not target_rate > 0:
            raise ValueError(f"target_rate must be a positive frame rate in Hz, got {target_rate!r}")
        self.backbone = backbone
        self.head = head
        self.layer = self.layer_choice.describe()
        self.backbone_timing = frame_timing(backbone)
        self.target_rate = None if target_rate is None else float(target_rate)
        self.timing = self.backbone_timing if target_rate is None else FrameTiming(float(target_rate), 0.0)

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None, sample_rate: int | None = None,
                cache_keys: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        sr = sample_rate or self.backbone.sample_rate
        n = wav.shape[-1]
        longest = getattr(self.backbone, "max_input_samples", None)
        if longest is not None and n / sr > longest / self.backbone.sample_rate + 1e-9:
            raise ValueError(
                f"the {type(self.backbone).__name__} covers at most {longest / self.backbone.sample_rate:.3f} s "
                f"(max_length fbank frames) but got a {n / sr:.3f} s input, whose end it would drop: use "
                "windows no longer than that (crop_seconds / eval_window_seconds), or a larger max_length")
        rel = torch.ones(wav.shape[0], device=wav.device) if lengths is None else lengths.to(wav.device).float()
        seconds = rel * (n / sr)
        out = self.backbone(wav, rel, sample_rate=sample_rate, cache_keys=cache_keys)
        states = [frame_tokens(self.backbone, out, k) for k in self.layer_choice.indices]
        tokens, mask = self.layer_choice(torch.stack([t for t, _ in states], 1)), states[0][1]
        src = self.backbone_timing
        centres = torch.as_tensor(src.times(tokens.shape[1]), device=wav.device)
        mask = mask & (centres[None] < seconds[:, None])
        logits = self.head(tokens)
        if self.target_rate is None:
            return logits, mask
        n_out = self.timing.num_frames(n / sr)
        logits = resample_frames(logits, mask.sum(1), src, self.target_rate, n_out)
        out_times = torch.as_tensor(self.timing.times(n_out), device=wav.device)
        return logits, out_times[None] < seconds[:, None]


@torch.no_grad()
def predict_long(model: FrameModel, wav: torch.Tensor, window_seconds: float, overlap_seconds: float,
                 batch_size: int = 8) -> torch.Tensor:
    """Frame logits ``[M, C]`` of one clip ``wav`` (``[T]``, at the backbone's rate) by stitching.

    Windows of ``window_seconds`` start every ``window_seconds - overlap_seconds`` (rounded down to
    whole output frames); the last one (no longer than the others) ends at the clip's end. Each output
    frame comes from the window whose centre part holds it (see the module docstring).
    """
    sr = model.backbone.sample_rate
    steps = []
    for rate in (model.timing.rate, model.backbone_timing.rate):
        if abs(sr / rate - round(sr / rate)) > 1e-6:
            raise ValueError(f"{sr} Hz audio has no whole number of samples per {rate:g} Hz frame; "
                             "choose a target_rate that divides the sample rate")
        steps.append(int(round(sr / rate)))
    step = steps[0]
    align = math.lcm(*steps)  # window starts on both the output and the backbone frame grids
    if not 0 <= overlap_seconds < window_seconds:
        raise ValueError(f"need 0 <= overlap_seconds < window_seconds, got {overlap_seconds}, {window_seconds}")
    wav = wav.reshape(-1)
    total = wav.shape[0]
    n_out = model.timing.num_frames(total / sr)
    window = int(round(window_seconds * sr))
    if total <= window:
        logits, _ = model(wav[None])
        return logits[0, :n_out]
    hop = max(align, int((window_seconds - overlap_seconds) * sr) // align * align)
    starts = list(range(0, total - window + 1, hop))
    last = -(-(total - window) // align) * align  # the last window ends at the clip's end
    if starts[-1] != last:
        starts.append(last)
    ends = [min(s + window, total) for s in starts]
    # frame ownership: split each overlap at its middle
    cuts = [0] + [int(round((starts[i + 1] + ends[i]) / 2 / step)) for i in range(len(starts) - 1)] + [n_out]
    out, filled = None, 0
    groups = [list(range(len(starts) - 1))[b:b + batch_size] for b in range(0, len(starts) - 1, batch_size)]
    for idx in [g for g in groups if g] + [[len(starts) - 1]]:  # full windows batched; the last one alone
        logits, _ = model(torch.stack([wav[starts[i]:ends[i]] for i in idx]))
        if out is None:
            out = logits.new_zeros(n_out, logits.shape[-1])
        for j, i in enumerate(idx):
            offset = starts[i] // step
            lo, hi = cuts[i], min(cuts[i + 1], offset + logits.shape[1])
            out[lo:hi] = logits[j, lo - offset: hi - offset]
            filled = max(filled, hi)
    return out[:filled]
