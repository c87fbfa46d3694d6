"""The uniform backbone interface every lobe implements.

A backbone turns a batch of waveforms into the hidden states of its transformer layers:

    waveform [B, T] at any rate  ->  front end (frozen features)  ->  embeddings  ->  layers

``forward`` returns ``hidden_states`` with the meaning of the reference implementations'
``hidden_states[K]``: index 0 is the embeddings entering the first layer, index K the output of
layer K (the encoder's final LayerNorm applied only when K is the last layer of the full model and
the encoder has one, as transformers did). PETL methods attach through :meth:`layer_specs` and,
for methods that change the token sequence (prompts), through :attr:`sequence_edits`.

Example:
    >>> import torch
    >>> from lobes import build_backbone
    >>> bb = build_backbone("hubert", config="tiny")
    >>> out = bb(torch.randn(2, 16000), lengths=torch.tensor([1.0, 0.5]))
    >>> len(out.hidden_states) == bb.num_layers + 1
    True
    >>> out.mask.shape == out.hidden_states[-1].shape[:2]
    True
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch
import torchaudio
from torch import nn
from transformers.masking_utils import create_bidirectional_mask

from lobes.layer_spec import LayerSpec

logger = logging.getLogger(__name__)


@dataclass
class BackboneOutput:
    """``hidden_states[k]``: ``[B, N, D]`` (k = 0 … num_layers); ``mask``: ``[B, N]`` True = valid."""

    hidden_states: tuple[torch.Tensor, ...]
    mask: torch.Tensor

    @property
    def last(self) -> torch.Tensor:
        return self.hidden_states[-1]


class Backbone(nn.Module):
    """Base class: subclasses implement the front end, the embeddings and the layer call.

    Subclass contract:
      * ``sample_rate`` (int), ``hidden_size`` (int), ``family`` (str), ``model`` (the
        transformers module, so that state dicts follow the official format);
      * ``layers`` (``nn.ModuleList`` of the kept layers) and ``full_num_layers``;
      * ``frontend(wav, lengths_samples) -> (features, feature_lengths)``: no trainable weights;
      * ``embed(features, feature_lengths) -> (tokens, mask)``;
      * ``call_layer(layer, x, mask) -> x``;
      * ``layer_specs() -> list[LayerSpec]``.
    """

    sample_rate: int
    hidden_size: int
    #: shortest input (samples at ``sample_rate``) the front end can take; shorter clips are zero-padded
    min_samples: int = 400
    family: str = "transformer"
    #: modules whose output tokens carry a 2-D patch grid (AST): (n_special_tokens, freq_patches)
    patch_grid: tuple[int, int] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.sequence_edits = nn.ModuleList()
        #: optional :class:`lobes.cache.FeatureCache` used when ``forward`` gets ``cache_keys``
        self.feature_cache = None

    @property
    def final_norm(self) -> nn.Module:
        """Norm that heads apply to tokens before pooling (AST's final LayerNorm; else identity)."""
        return nn.Identity()

    @property
    def final_norm_for_last(self) -> nn.Module | None:
        """The encoder's final norm, part of ``hidden_states[full_num_layers]`` (None if absent)."""
        return None

    # ----------------------------------------------------------------------------- properties
    @property
    def num_layers(self) -> int:
        return len(self.layers)

    # ------------------------------------------------------------------------------ input side
    def prepare_waveform(
        self, wav: torch.Tensor, sample_rate: int | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Downmix ``[B, C, T]`` to mono, resample to the model's rate; return samples and lengths.

        ``lengths`` are relative (SpeechBrain convention, 1.0 = full length) or None.
        """
        if wav.dim() == 1:
            wav = wav.unsqueeze(0)
        if wav.dim() == 3:
            wav = wav.mean(dim=1)
        if wav.dim() != 2:
            raise ValueError(f"expected a waveform [batch, time] or [batch, channels, time], got {tuple(wav.shape)}")
        if not torch.isfinite(wav).all():
            raise ValueError("the waveform contains NaN or inf samples")
        wav = wav.float()
        if sample_rate is not None and sample_rate != self.sample_rate:
            wav = torchaudio.functional.resample(wav, sample_rate, self.sample_rate)
        n = wav.shape[1]
        if n < self.min_samples:
            logger.info("padding a %d-sample input to the front end's minimum of %d samples", n, self.min_samples)
            wav = torch.nn.functional.pad(wav, (0, self.min_samples - n))
        if lengths is None:
            abs_len = torch.full((wav.shape[0],), n, dtype=torch.long, device=wav.device)
        else:
            abs_len = torch.round(lengths.to(wav.device).float() * n).long().clamp(1, n)
        return wav, abs_len

    # --------------------------------------------------------------------------------- forward
    def forward(
        self,
        wav: torch.Tensor,
        lengths: torch.Tensor | None = None,
        sample_rate: int | None = None,
        cache_keys: list[str] | None = None,
    ) -> BackboneOutput:
        """Run the backbone on ``wav``; see the module docstring for ``hidden_states``.

        With ``cache_keys`` (one per clip) and a :attr:`feature_cache`, the input of the first
        stage that needs gradients is cached, and the frozen stages below it are skipped on later
        calls; their ``hidden_states`` entries are then None.
        """
        grad_from = self._first_trainable_stage()
        stage = min(grad_from, self.num_layers + 1)
        use_cache = cache_keys is not None and self.feature_cache is not None and stage >= 1
        if use_cache:
            cache_keys = [f"{key}@stage{stage}" for key in cache_keys]
        cached = self.feature_cache.lookup(cache_keys, wav.device) if use_cache else None
        if cached is not None:
            x, mask = cached
            hidden = [None] * (stage - 1) + [self._record(stage - 1, x)]
        else:
            wav, abs_len = self.prepare_waveform(wav, sample_rate, lengths)
            with torch.no_grad():
                features = self.frontend(wav, abs_len)
            with _grad_if(grad_from <= 0):
                x, mask = self.embed(*features)
            hidden = [x]
        for i in range(len(hidden) - 1, self.num_layers):
            if use_cache and cached is None and i + 1 == stage:
                self.feature_cache.store(cache_keys, x, mask)
            with _grad_if(grad_from <= i + 1):
                for edit in self.sequence_edits:
                    x, mask = edit.before_layer(i, x, mask)
                x = self.call_layer(self.layers[i], x, mask)
                n_extra = 0
                for edit in self.sequence_edits:
                    x, mask, extra = edit.after_layer(i, x, mask, self.num_layers)
                    n_extra += extra
                hidden.append(self._record(i + 1, x[:, n_extra:]))
        if use_cache and cached is None and stage == self.num_layers + 1:
            self.feature_cache.store(cache_keys, x, mask)
        return BackboneOutput(tuple(hidden), mask[:, mask.shape[1] - hidden[-1].shape[1]:])

    def _record(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """``hidden_states[k]`` from the running state after ``k`` layers."""
        if k == self.full_num_layers and self.final_norm_for_last is not None:
            return self.final_norm_for_last(x)
        return x

    def attention_mask(self, x: torch.Tensor, mask: torch.Tensor):
        """The attention mask transformers' layers expect, for the current token sequence."""
        return create_bidirectional_mask(
            config=self.model.config, inputs_embeds=x, attention_mask=None if bool(mask.all()) else mask
        )

    # ------------------------------------------------------------------------ frozen handling
    def _first_trainable_stage(self) -> int:
        """0 = embeddings need gradients, k = layer k (1-based) is the first to need them.

        Stages below it run without autograd: no graph for frozen parts below the lowest
        trainable module.
        """
        if not torch.is_grad_enabled():
            return self.num_layers + 1
        if any(p.requires_grad for p in self.embedding_modules().parameters()) or any(
            p.requires_grad for p in self.sequence_edits.parameters()
        ):
            return 0
        for i, layer in enumerate(self.layers):
            if any(p.requires_grad for p in layer.parameters()):
                return i + 1
        return self.num_layers + 1

    def embedding_modules(self) -> nn.Module:
        """Modules run by :meth:`embed` (overridden by subclasses)."""
        raise NotImplementedError

    def train(self, mode: bool = True):
        """One rule for every method: the pretrained network runs in train mode (dropout, layerdrop,
        BatchNorm statistics) only when all of its weights train (full fine-tuning). Otherwise (any
        PETL method, probing) it is a fixed function in eval mode, and only the modules a PETL method
        added (``petl_added = True``: adapters, LoRA/SSF wrappers, prompts, prefixes) follow ``mode``.
        """
        super().train(mode)
        if mode and not all(p.requires_grad for p in self.parameters()):
            super().train(False)
            for module in self.modules():
                if getattr(module, "petl_added", False):
                    module.train(True)
        return self

    def extra_repr(self) -> str:
        return f"layers={self.num_layers}/{self.full_num_layers}, hidden={self.hidden_size}, sr={self.sample_rate}"

    def layer_specs(self) -> list[LayerSpec]:
        raise NotImplementedError


@contextlib.contextmanager
def _grad_if(enabled: bool):
    if enabled:
        yield
    else:
        with torch.no_grad():
            yield


def check_num_layers(num_layers: int | None, full: int) -> int:
    """How many layers to build: ``num_layers`` (validated) or all ``full`` of them."""
    if num_layers is None:
        return full
    if not isinstance(num_layers, int) or not 1 <= num_layers <= full:
        raise ValueError(f"num_layers must be an integer between 1 and {full}, got {num_layers!r}")
    return num_layers
