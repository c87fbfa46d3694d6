"""Mixture of adapters (``moa``): equal to formulas transcribed from PETL_AST's ``src/MoA.py``, counted,
trainable on every backbone with both variants, batch independent (issue 19 §3).

Run: python -m pytest tests/unittests/test_moa.py
"""
from __future__ import annotations

import copy
import os
import sys
import warnings

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from lobes import BACKBONES, build_backbone  # noqa: E402
from petl_modules import PetlError, apply_petl  # noqa: E402

torch.set_num_threads(1)


def tiny(name="ast", seed=0):
    torch.manual_seed(seed)
    kw = {"max_length": 36} if name == "ast" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone(name, config="tiny", **kw)


def perturb(state, std=0.3, seed=3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in state.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)


def bottleneck(expert, u):
    """PETL_AST's Bottleneck_adapter: linear_upsample(GELU(linear_downsample(u)))."""
    h = torch.nn.functional.gelu(u @ expert.down.weight.T + expert.down.bias)
    return h @ expert.up.weight.T + expert.up.bias


def dense_moa(moa, u):
    """PETL_AST ASTLayer_MoA: router_probs = softmax(ff(u)) [B,L,N]; MoA stacks the adapters' outputs on
    the last axis [B,L,H,N]; output = (router_probs[:, :, None, :] * moa_output).sum(-1)."""
    probs = torch.softmax(u @ moa.router.weight.T + moa.router.bias, dim=-1)
    outputs = torch.stack([bottleneck(e, u) for e in moa.experts], dim=-1)
    return (probs[:, :, None, :] * outputs).sum(-1)


def soft_moa(moa, X, normalize_axis=None):
    """PETL_AST SoftMoA.forward: logits = einsum('bmd,dnp->bmnp', X, Phi); D = softmax over m (dim 1);
    C = softmax over the n*p slots of each token; X~ = einsum('bmd,bmnp->bnpd', X, D); Y~_i = adapter_i(X~_i);
    Y = einsum('bnpd,bmnp->bmd', Y~, C). With normalisation: X and Phi L2-normalised (eps 1e-6) and Phi
    times a learned scale; PETL_AST normalises Phi over axis 1 (the adapters), Soft MoE over d (axis 0)."""
    b, m, d = X.shape
    phi = moa.slots
    if normalize_axis is not None:
        X = X * torch.reciprocal(torch.sqrt(torch.square(X).sum(-1, keepdim=True)) + 1e-6)
        phi = phi * torch.reciprocal(torch.sqrt(torch.square(phi).sum(normalize_axis, keepdim=True)) + 1e-6)
        phi = phi * moa.logit_scale
    n, p = phi.shape[1:]
    logits = torch.einsum("bmd,dnp->bmnp", X, phi)
    D = torch.softmax(logits, dim=1)
    C = torch.softmax(logits.reshape(b, m, -1), dim=2).reshape(b, m, n, p)
    X_tilde = torch.einsum("bmd,bmnp->bnpd", X, D)
    Y_tilde = torch.stack([bottleneck(e, X_tilde[:, i]) for i, e in enumerate(moa.experts)], dim=1)
    return torch.einsum("bnpd,bmnp->bmd", Y_tilde, C)


def layer_case(options):
    plain = tiny().eval()
    bb = copy.deepcopy(plain)
    state = apply_petl(bb, "moa", options)
    perturb(state)
    layer, ref = bb.eval().layers[1], plain.layers[1]
    with torch.no_grad():
        for (n, p), q in zip(layer.named_parameters(), ref.parameters()):
            if "petl" not in n:
                q.copy_(p)
    return layer, ref, {k: tap.adapter for k, tap in layer.petl.items()}


X = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("location", ["mhsa", "ffn"])
def test_dense_moa_is_petl_ast_formula(location):
    """PETL_AST (Pfeiffer, parallel): MHSA: x + attn(LN1 x) + MoA(LN1 x); FFN: h + mlp(LN2 h) + MoA(LN2 h)."""
    layer, ref, moas = layer_case({"num_adapters": 3, "bottleneck": 4, "location": location})
    moa = moas[f"moa_{location}"]
    with torch.no_grad():
        u = ref.layernorm_before(X)
        h = X + ref.attention(u)[0] + (dense_moa(moa, u) if location == "mhsa" else 0)
        v = ref.layernorm_after(h)
        want = h + ref.mlp(v) + (dense_moa(moa, v) if location == "ffn" else 0)
        got = layer(X)
    torch.testing.assert_close(got[0] if isinstance(got, tuple) else got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("normalize", [False, True])
def test_soft_moa_is_petl_ast_formula(normalize):
    """Houlsby Soft-MoA: a mixture at both sub-layers, parallel before each (PETL_AST's ASTLayer_SoftMoA)."""
    layer, ref, moas = layer_case({"variant": "soft", "num_adapters": 2, "num_slots": 3, "bottleneck": 4,
                                   "style": "houlsby", "normalize": normalize})
    axis = 0 if normalize else None  # the Soft MoE normalisation (over d); PETL_AST's axis 1 differs
    with torch.no_grad():
        u = ref.layernorm_before(X)
        h = X + ref.attention(u)[0] + soft_moa(moas["moa_mhsa"], u, axis)
        v = ref.layernorm_after(h)
        want = h + ref.mlp(v) + soft_moa(moas["moa_ffn"], v, axis)
        got = layer(X)
    torch.testing.assert_close(got[0] if isinstance(got, tuple) else got, want, atol=1e-5, rtol=1e-5)


def test_counts_are_the_formula():
    d, b, n, p, layers = 32, 4, 3, 2, 4
    experts = n * (2 * d * b + b + d)
    dense = apply_petl(tiny(), "moa", {"num_adapters": n, "bottleneck": b}).num_trainable()
    assert dense == layers * (experts + d * n + n + 2 * d)  # + layernorm_after
    soft = apply_petl(tiny(), "moa", {"variant": "soft", "num_adapters": n, "num_slots": p, "bottleneck": b,
                                      "normalize": True, "style": "houlsby"}).num_trainable()
    assert soft == layers * 2 * (experts + d * n * p + 1 + 2 * d)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize("variant", ["dense", "soft"])
def test_moa_trains_on_every_backbone(backbone, variant):
    plain = tiny(backbone).eval()
    bb = copy.deepcopy(plain)
    state = apply_petl(bb, "moa", {"variant": variant, "num_adapters": 2, "bottleneck": 4})
    wav = torch.randn(2, bb.sample_rate // 10, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([1.0, 0.7])
    with torch.no_grad():  # identity at init (zero up projections)
        torch.testing.assert_close(bb(wav, lengths).hidden_states[-1], plain(wav, lengths).hidden_states[-1])
    perturb(state, std=0.1)
    bb.train()
    bb(wav, lengths).hidden_states[-1].square().mean().backward()
    for name, p in state.trainable_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_soft_moa_is_batch_independent():
    """Soft-MoA mixes tokens: padded frames must get no dispatch weight (else a clip depends on its batch)."""
    bb = tiny("hubert").eval()
    perturb(apply_petl(bb, "moa", {"variant": "soft", "num_adapters": 2, "num_slots": 2, "bottleneck": 4}))
    wav = torch.randn(2, 3200, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        both = bb(wav, torch.tensor([1.0, 0.5]))
        alone = bb(wav[1:, :1600])
    t = alone.hidden_states[-1].shape[1]
    assert both.mask[1].sum() == t
    torch.testing.assert_close(both.hidden_states[-1][1, :t], alone.hidden_states[-1][0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("options,match", [
    ({"variant": "sparse"}, "variant='sparse'"),
    ({"num_slots": 2}, "Soft-MoA options"),
    ({"num_adapters": 0}, "num_adapters must be a positive integer"),
])
def test_moa_option_errors(options, match):
    with pytest.raises(PetlError, match=match):
        apply_petl(tiny(), "moa", options)
