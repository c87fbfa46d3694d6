"""The uniform backbone interface every lobe implements.

A backbone turns a batch of waveforms into the hidden states of its transformer layers:

    waveform [B, T] at any rate  ->  front end (frozen features)  ->  embeddings  ->  layers

``forward`` returns ``hidden_states`` with the meaning of the reference implementations'
``hidden_states[K]``: index 0 is the embeddings entering the first layer, index K the output of
layer K. Where the encoder has a final LayerNorm, it is part of the last entry: after the last
*kept* layer with ``truncated_final_norm=True`` (the default: what a model built with that many
layers computes, as seed 001's 6-layer MusicFM), or only at the full depth with False (the unused
norm is then not built). PETL methods attach through :meth:`layer_specs` and, for methods that
change the token sequence (prompts), through :attr:`sequence_edits`.

Batch independence: a clip's valid outputs do not depend on the rest of its batch. Front ends
that normalise or convolve over time run on each clip's valid samples (:func:`per_clip`), every
time convolution inside the layers (and any that PETL methods add) sees padded positions as zeros
(:class:`PaddedTimeConvs`), exactly as the clip's own zero padding when run alone, and a
training-mode BatchNorm inside the layers takes its statistics from valid positions only
(:class:`MaskedBatchNorm1d`).

Precision: resampling and the front end (mel / fbank / waveform normalisation) always run in
float32, outside any autocast (fp16 overflows a power spectrum; CUDA's rfft refuses bf16).

Run options of every backbone (:meth:`Backbone.configure`, given to ``build_backbone``):
``gradient_checkpointing`` recomputes each layer's activations in the backward pass instead of
storing them (same gradients, same dropout masks, BatchNorm statistics updated once), and
``pooling`` says which tokens a pooled head averages (:data:`POOLINGS`).

Host synchronisation: the per-layer path reads nothing back from the device; whether the batch
is padded is read once per forward.

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

from lobes.cache import cache_entry_keys
from lobes.layer_spec import LayerSpec

logger = logging.getLogger(__name__)

#: what :meth:`Backbone.pool` averages (PETL_AST's ``FINAL_OUTPUT`` in brackets): ``mean`` every
#: token of the layer but the prompts (the default; AST: CLS, distillation and patch tokens);
#: ``cls`` the CLS token (CLS); ``all`` every token, prompts included (ALL); ``prompts`` the
#: prompt tokens (PROMPTS); ``audio`` the audio tokens only, no special token and no prompt
#: (SPEECH); ``prompts+audio`` prompts and audio tokens, no special token (PROMPTS+SPEECH).
POOLINGS = ("mean", "cls", "all", "prompts", "audio", "prompts+audio")


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid time steps: ``[B, N, D]``, ``[B, N]`` → ``[B, D]``."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def full_precision(device: torch.device):
    """A context without autocast on ``device`` (front ends run in float32 whatever the precision)."""
    if torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


@dataclass
class BackboneOutput:
    """``hidden_states[k]``: ``[B, N, D]`` (k = 0 … num_layers); ``mask``: ``[B, N]`` True = valid."""

    hidden_states: tuple[torch.Tensor, ...]
    mask: torch.Tensor
    #: ``prompt_states[k]``: ``[B, P_k, D]`` the prompt tokens that ``hidden_states[k]`` leaves out
    #: (``P_k = 0`` where a state has none); None when nothing was recorded
    prompt_states: tuple[torch.Tensor | None, ...] | None = None

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
      * ``call_layer(layer, x, mask, num_front=0) -> x``: ``mask`` is the token mask, or None
        when no token is padded; ``num_front`` tokens at the front were added by sequence edits
        (prompts), the rest are the audio tokens in order;
      * ``layer_specs() -> list[LayerSpec]``.
    """

    sample_rate: int
    hidden_size: int
    #: shortest input (samples at ``sample_rate``) the front end can take; shorter clips are zero-padded
    min_samples: int = 400
    family: str = "transformer"
    #: modules whose output tokens carry a 2-D patch grid (AST): (n_special_tokens, freq_patches)
    patch_grid: tuple[int, int] | None = None

    #: parameters the published model builds but never uses, which the papers' counts include
    #: (MusicFM: its positional conv; see ``tools/count_params.py``); they are not built here
    published_unused_parameters: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.sequence_edits = nn.ModuleList()
        #: optional :class:`lobes.cache.FeatureCache` used when ``forward`` gets ``cache_keys``
        self.feature_cache = None
        self.padded_time_convs = PaddedTimeConvs()
        self.truncated_final_norm = True
        self.gradient_checkpointing = False
        self.pooling = "mean"

    #: tokens before the audio tokens in every hidden state (AST: CLS and distillation tokens)
    @property
    def num_special_tokens(self) -> int:
        return 0 if self.patch_grid is None else self.patch_grid[0]

    def configure(self, gradient_checkpointing: bool = False, pooling: str = "mean") -> Backbone:
        """Set the run options (see the module docstring); returns the backbone.

        Example:
            >>> from lobes import build_backbone
            >>> build_backbone("ast", config="tiny", pooling="cls", gradient_checkpointing=True).pooling
            'cls'
        """
        if not isinstance(gradient_checkpointing, bool):
            raise ValueError(f"gradient_checkpointing must be true or false, got {gradient_checkpointing!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: unknown choice {pooling!r}; valid: {', '.join(POOLINGS)}")
        if pooling == "cls" and not self.num_special_tokens:
            raise ValueError(f"pooling: 'cls' needs a CLS token, which the {self.family} backbone does not have; "
                             f"valid here: {', '.join(p for p in POOLINGS if p != 'cls')}")
        self.gradient_checkpointing = gradient_checkpointing
        self.pooling = pooling
        return self

    def pool(self, out: BackboneOutput, k: int) -> torch.Tensor:
        """``[B, D]``: the tokens of ``hidden_states[k]`` chosen by :attr:`pooling`, after
        :attr:`final_norm`, averaged over the valid ones (see :data:`POOLINGS`)."""
        if out.hidden_states[k] is None:
            raise ValueError(f"hidden state {k} is not available: the feature cache starts the backbone at "
                             "its first trainable stage; choose a later layer or turn feature_cache off")
        norm, tokens, mask = self.final_norm, out.hidden_states[k], out.mask
        if self.pooling == "cls":
            return norm(tokens[:, 0])
        if self.pooling == "mean":
            return masked_mean(norm(tokens), mask)
        prompts = out.prompt_states[k] if out.prompt_states is not None else None
        if prompts is None or prompts.shape[1] == 0:
            if self.pooling.startswith("prompts"):
                raise ValueError(f"pooling: {self.pooling!r} pools prompt tokens, but hidden state {k} has none "
                                 "(use the prompt method, or pooling 'mean' / 'cls' / 'all' / 'audio')")
            prompts = tokens[:, :0]
        n_special = self.num_special_tokens
        if self.pooling == "audio":
            tokens, mask = tokens[:, n_special:], mask[:, n_special:]
        elif self.pooling == "prompts":
            tokens, mask = prompts, mask.new_ones(prompts.shape[:2])
        else:  # "all" / "prompts+audio"
            skip = 0 if self.pooling == "all" else n_special
            tokens = torch.cat([prompts, tokens[:, skip:]], 1)
            mask = torch.cat([mask.new_ones(prompts.shape[:2]), mask[:, skip:]], 1)
        return masked_mean(norm(tokens), mask)

    @property
    def final_norm(self) -> nn.Module:
        """Norm that heads apply to tokens before pooling (AST's final LayerNorm; else identity)."""
        return nn.Identity()

    @property
    def final_norm_for_last(self) -> nn.Module | None:
        """The encoder's final norm, part of the last ``hidden_states`` entry (None if absent)."""
        return None

    def time_conv_scopes(self) -> list[nn.Module]:
        """Modules whose time convolutions run on the token sequence (see :class:`PaddedTimeConvs`)."""
        return list(self.layers)

    def _set_truncated_final_norm(self, value: bool | None, norm_owner: nn.Module | None, attr: str) -> None:
        """Apply the option; when the final norm ``norm_owner.<attr>`` would be unused, do not keep it."""
        if value is not None and norm_owner is None:
            raise ValueError(
                f"truncated_final_norm: this {self.family} backbone's encoder has no final LayerNorm "
                "(post-LN layers); remove the option"
            )
        self.truncated_final_norm = True if value is None else bool(value)
        if norm_owner is not None and not self.truncated_final_norm and self.num_layers < self.full_num_layers:
            delattr(norm_owner, attr)  # never applied: a trainable tensor without gradient breaks DDP

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
        # a clip shorter than the minimum is zero-padded to it, batched or alone
        return wav, abs_len.clamp(min=self.min_samples)

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
        self.padded_time_convs.attach(self.time_conv_scopes())
        grad_from = self._first_trainable_stage()
        stage = min(grad_from, self.num_layers + 1)
        use_cache = cache_keys is not None and self.feature_cache is not None and stage >= 1
        if use_cache:
            cache_keys = cache_entry_keys(cache_keys, f"stage{stage}", self, wav.device)
        cached = self.feature_cache.lookup(cache_keys, wav.device) if use_cache else None
        if cached is not None:
            x, mask = cached
            hidden = [None] * (stage - 1) + [self._record(stage - 1, x)]
        else:
            with torch.no_grad(), full_precision(wav.device):
                wav, abs_len = self.prepare_waveform(wav, sample_rate, lengths)
                features = self.frontend(wav, abs_len)
            with _grad_if(grad_from <= 0):
                x, mask = self.embed(*features)
            hidden = [x]
        checked, padded = mask, not bool(mask.all())  # read back once (again only if an edit changes the mask)
        n_audio = x.shape[1]
        prompts = [x[:, :0]] * len(hidden)
        for i in range(len(hidden) - 1, self.num_layers):
            if use_cache and cached is None and i + 1 == stage:
                self.feature_cache.store(cache_keys, x, mask)
            with _grad_if(grad_from <= i + 1):
                for edit in self.sequence_edits:
                    x, mask = edit.before_layer(i, x, mask)
                if mask is not checked:
                    checked, padded = mask, not bool(mask.all())
                x = self._run_layer(i, x, mask if padded else None, x.shape[1] - n_audio)
                n_extra = 0
                for edit in self.sequence_edits:
                    x, mask, extra = edit.after_layer(i, x, mask, self.num_layers)
                    n_extra += extra
                hidden.append(self._record(i + 1, x[:, n_extra:]))
                prompts.append(x[:, :n_extra])
        if use_cache and cached is None and stage == self.num_layers + 1:
            self.feature_cache.store(cache_keys, x, mask)
        return BackboneOutput(tuple(hidden), mask[:, mask.shape[1] - hidden[-1].shape[1]:], tuple(prompts))

    def _run_layer(self, i: int, x: torch.Tensor, mask: torch.Tensor | None, num_front: int) -> torch.Tensor:
        """Layer ``i`` (its time convolutions and BatchNorms see ``mask``), checkpointed if asked."""

        def run(x: torch.Tensor) -> torch.Tensor:
            with self.padded_time_convs.masking(mask):
                return self.call_layer(self.layers[i], x, mask, num_front)

        if not (self.gradient_checkpointing and torch.is_grad_enabled()):
            return run(x)
        calls = []

        def run_once_for_statistics(x: torch.Tensor) -> torch.Tensor:
            # the recomputation in the backward pass must not update BatchNorm statistics again
            with frozen_batchnorm_statistics(self.layers[i]) if calls else contextlib.nullcontext():
                calls.append(True)
                return run(x)

        return torch.utils.checkpoint.checkpoint(run_once_for_statistics, x, use_reentrant=False,
                                                 preserve_rng_state=True)

    def _record(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """``hidden_states[k]`` from the running state after ``k`` layers."""
        last = self.num_layers if self.truncated_final_norm else self.full_num_layers
        if k == last and self.final_norm_for_last is not None:
            return self.final_norm_for_last(x)
        return x

    def attention_mask(self, x: torch.Tensor, mask: torch.Tensor | None):
        """The attention mask transformers' layers expect (``mask`` None: no padded token)."""
        return create_bidirectional_mask(config=self.model.config, inputs_embeds=x, attention_mask=mask,
                                         allow_is_bidirectional_skip=mask is None)

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
        final = self.final_norm_for_last
        if final is not None and any(p.requires_grad for p in final.parameters()):
            return self.num_layers  # the last entry applies it
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
        options = "".join([", gradient_checkpointing=True" if self.gradient_checkpointing else "",
                           f", pooling={self.pooling}" if self.pooling != "mean" else ""])
        sizes = f"layers={self.num_layers}/{self.full_num_layers}, hidden={self.hidden_size}"
        return f"{sizes}, sr={self.sample_rate}{options}"

    def layer_specs(self) -> list[LayerSpec]:
        raise NotImplementedError


class PaddedTimeConvs:
    """Forward pre-hook zeroing padded positions at the input of time convolutions.

    :meth:`attach` hooks every ``Conv1d``/``Conv2d`` with a kernel wider than 1 under the given
    modules (again on each forward, so that convolutions injected later, e.g. Convpass or a
    conformer adapter, are covered), and gives every :class:`MaskedBatchNorm1d` there this
    object as its source of the token mask. Inside :meth:`masking`, a hooked convolution's input
    ``[B, C, N]`` is multiplied by the token mask ``[B, N]`` (None: nothing is padded): padded
    positions look like the zero padding of a clip run alone. The hook is an object (not a
    closure) so that ``deepcopy`` of a backbone gives hooks that read the copy's mask.

    Example:
        >>> import torch
        >>> conv, guard = torch.nn.Conv1d(1, 1, 3, padding=1, bias=False), PaddedTimeConvs()
        >>> _ = torch.nn.init.ones_(conv.weight); guard.attach([conv])
        >>> with guard.masking(torch.tensor([[True, True, False]])):
        ...     conv(torch.ones(1, 1, 3)).tolist()
        [[[2.0, 2.0, 1.0]]]
    """

    def __init__(self) -> None:
        self.mask: torch.Tensor | None = None

    def attach(self, modules: list[nn.Module]) -> None:
        for scope in modules:
            for m in scope.modules():
                if isinstance(m, MaskedBatchNorm1d):
                    m.padding = self
                wide = isinstance(m, (nn.Conv1d, nn.Conv2d)) and max(m.kernel_size) > 1
                if wide and not any(isinstance(h, PaddedTimeConvs) for h in m._forward_pre_hooks.values()):
                    m.register_forward_pre_hook(self)

    @contextlib.contextmanager
    def masking(self, mask: torch.Tensor | None):
        self.mask = mask
        try:
            yield
        finally:
            self.mask = None

    def __call__(self, module: nn.Module, args: tuple):
        if self.mask is None:
            return None
        x = args[0]
        if x.dim() != 3 or x.shape[0] != self.mask.shape[0] or x.shape[2] != self.mask.shape[1]:
            raise RuntimeError(
                f"{type(module).__name__} input {tuple(x.shape)} is not [batch, channels, tokens] for the "
                f"padding mask {tuple(self.mask.shape)}: padded batches need time convolutions over the tokens"
            )
        return (x * self.mask[:, None, :].to(x.dtype), *args[1:])


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` over ``[B, C, N]`` tokens whose training statistics skip padded tokens.

    Inside a backbone (:class:`PaddedTimeConvs` sets :attr:`padding`), a training-mode forward
    normalises with the mean and variance of the valid tokens only and updates the running
    statistics with them, as ``nn.BatchNorm1d`` would on the valid tokens alone; padded outputs
    are unspecified (masked downstream). Without a mask, or in eval mode: ``nn.BatchNorm1d``.
    The state dict is the plain BatchNorm's.

    Example:
        >>> import torch
        >>> bn, guard = MaskedBatchNorm1d(1, momentum=1.0), PaddedTimeConvs()
        >>> guard.attach([bn])
        >>> with guard.masking(torch.tensor([[True, True, False]])):
        ...     _ = bn(torch.tensor([[[1.0, 3.0, 100.0]]]))
        >>> bn.running_mean.tolist(), bn.running_var.tolist()
        ([2.0], [2.0])
    """

    #: the :class:`PaddedTimeConvs` whose mask applies (None: every token is valid)
    padding: PaddedTimeConvs | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = None if self.padding is None else self.padding.mask
        if mask is None or not self.training or x.dim() != 3:
            return super().forward(x)
        valid = mask[:, None, :].to(torch.float32)  # [B, 1, N]
        xf = x.float()
        n = valid.sum()
        mean = (xf * valid).sum((0, 2)) / n
        var = (((xf - mean[:, None]) ** 2) * valid).sum((0, 2)) / n
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
            with torch.no_grad():
                unbiased = var * n / (n - 1).clamp(min=1.0)
                self.running_mean.mul_(1 - factor).add_(factor * mean.to(self.running_mean.dtype))
                self.running_var.mul_(1 - factor).add_(factor * unbiased.to(self.running_var.dtype))
        y = (xf - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps)
        if self.affine:
            y = y * self.weight.float()[:, None] + self.bias.float()[:, None]
        return y.to(x.dtype)


@contextlib.contextmanager
def frozen_batchnorm_statistics(module: nn.Module):
    """Training-mode BatchNorms under ``module`` normalise as usual but leave their running
    statistics (and batch counters) unchanged (a checkpointed layer's recomputation)."""
    saved = []
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats:
            saved.append((m, m.momentum, m.num_batches_tracked.clone()))
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, count in saved:
            m.momentum = momentum
            m.num_batches_tracked.copy_(count)


def per_clip(fn, wav: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``fn`` on each group of equally long clips' valid samples; outputs zero-padded in time.

    ``fn`` maps ``[b, n]`` samples to ``[b, ..., T(n)]``; the result is ``[B, ..., max T]``. A batch
    of full-length clips is one call.

    Example:
        >>> import torch
        >>> per_clip(lambda w: w.cumsum(1), torch.ones(2, 3), torch.tensor([3, 2])).tolist()
        [[1.0, 2.0, 3.0], [1.0, 2.0, 0.0]]
    """
    sizes = lengths.unique().tolist()  # one read-back
    if sizes == [wav.shape[1]]:
        return fn(wav)
    outs, order = [], []
    for n in sizes:
        idx = (lengths == n).nonzero().squeeze(1)
        outs.append(fn(wav[idx, :n]))
        order.append(idx)
    t = max(o.shape[-1] for o in outs)
    out = torch.cat([torch.nn.functional.pad(o, (0, t - o.shape[-1])) for o in outs])
    return out[torch.argsort(torch.cat(order))]


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
