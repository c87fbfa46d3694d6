"""Trainable BatchNorms take their statistics from valid tokens only (issue 19 §4).

The conformer adapter's BatchNorm (any backbone) and MusicFM's conv-module BatchNorm under full
fine-tuning are :class:`lobes.backbone.MaskedBatchNorm1d`: one training-mode forward of a padded
batch updates the running statistics exactly as ``nn.BatchNorm1d`` on the valid tokens alone
(the reference), and normalises the valid tokens as that reference does: no padded token (and
so no amount of padding) enters the statistics.

Run: python -m pytest tests/unittests/test_masked_batchnorm.py
"""
from __future__ import annotations

import logging

import pytest
import torch

from lobes import build_backbone
from lobes.backbone import MaskedBatchNorm1d
from lobes.musicfm import TINY_MUSICFM
from petl_modules import apply_petl

logging.getLogger("lobes").setLevel(logging.ERROR)
torch.set_num_threads(1)

NO_DROPOUT = {"hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0,
              "conformer_conv_dropout": 0.0, "feat_proj_dropout": 0.0}


def _model(case: str):
    """(backbone in training mode, its first trainable BatchNorm)."""
    torch.manual_seed(0)
    if case == "hubert+conformer_adapter":
        bb = build_backbone("hubert", config="tiny")
        apply_petl(bb, "conformer_adapter", {"bottleneck": 4, "kernel_size": 5})
    else:  # musicfm FT: the conv module's BatchNorm trains
        bb = build_backbone("musicfm", config={**TINY_MUSICFM, **NO_DROPOUT})
        apply_petl(bb, "ft", {})
    bb.train()
    bn = next(m for n, m in bb.named_modules() if isinstance(m, MaskedBatchNorm1d) and "layers.0." in n)
    assert any(p.requires_grad for p in bn.parameters())
    return bb, bn


def _batch(sample_rate: int, extra_seconds: float = 0.0):
    g = torch.Generator().manual_seed(1)
    n = sample_rate
    wav = torch.randn(2, n, generator=g)
    wav[1, int(0.4 * n):] = 0.0
    if extra_seconds:
        wav = torch.nn.functional.pad(wav, (0, int(extra_seconds * sample_rate)))
    return wav, torch.tensor([1.0, 0.4]) * n / wav.shape[1]


@pytest.mark.parametrize("case", ["hubert+conformer_adapter", "musicfm_ft"])
def test_running_statistics_come_from_the_valid_tokens(case):
    """Lengths [1.0, 0.4]: the running mean and variance are nn.BatchNorm1d's on the valid tokens."""
    bb, bn = _model(case)
    seen = []
    bn.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    wav, lengths = _batch(bb.sample_rate)
    out = bb(wav, lengths)
    x, mask = seen[0], out.mask
    assert x.shape[-1] == mask.shape[1] and not mask.all()
    reference = torch.nn.BatchNorm1d(bn.num_features, eps=bn.eps, momentum=bn.momentum).train()
    valid_tokens = torch.cat([x[b, :, mask[b]] for b in range(x.shape[0])], dim=1)[None]
    reference(valid_tokens)
    torch.testing.assert_close(bn.running_mean, reference.running_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, reference.running_var, rtol=1e-5, atol=1e-6)
    padded_mean = 0.1 * x.mean((0, 2))  # what a plain BatchNorm would have stored: clearly different
    assert (padded_mean - bn.running_mean).abs().max() > 1e-3


@pytest.mark.parametrize("case", ["hubert+conformer_adapter", "musicfm_ft"])
def test_training_outputs_on_valid_tokens_are_those_of_the_valid_tokens_alone(case):
    """The valid tokens' BatchNorm outputs equal nn.BatchNorm1d's on the valid tokens alone (no
    padded token enters the normalisation, whatever the padding)."""
    bb, bn = _model(case)
    seen = []
    bn.register_forward_hook(lambda module, args, out: seen.append((args[0].detach(), out.detach())))
    wav, lengths = _batch(bb.sample_rate)
    with torch.no_grad():
        mask = bb(wav, lengths).mask
    (x, y), = seen
    reference = torch.nn.BatchNorm1d(bn.num_features, eps=bn.eps).train()
    reference.load_state_dict({k: v for k, v in bn.state_dict().items() if not k.startswith("running")}, strict=False)
    valid = lambda t: torch.cat([t[b, :, mask[b]] for b in range(t.shape[0])], dim=1)[None]  # noqa: E731
    with torch.no_grad():
        torch.testing.assert_close(valid(y), reference(valid(x)), rtol=1e-4, atol=1e-5)


def test_eval_mode_and_unpadded_batches_are_plain_batchnorm():
    torch.manual_seed(0)
    bn, plain = MaskedBatchNorm1d(3), torch.nn.BatchNorm1d(3)
    x = torch.randn(2, 3, 7)
    torch.testing.assert_close(bn.train()(x), plain.train()(x))
    torch.testing.assert_close(bn.running_var, plain.running_var)
    torch.testing.assert_close(bn.eval()(x), plain.eval()(x))
