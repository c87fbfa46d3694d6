"""Activation (gradient) checkpointing, a run option of every backbone (issue 22, Memory).

``build_backbone(name, ..., gradient_checkpointing=True)`` (the yaml's encoder piece, or
``--encoder="{gradient_checkpointing: true}"``) recomputes each layer in the backward pass. Tested
on tiny configs, FT in training mode (dropout on) and the PETL methods: identical gradients and
outputs as without it, each layer really recomputed, BatchNorm statistics updated once, and a
clip's outputs still independent of its batch.

Run: python -m pytest tests/unittests/test_gradient_checkpointing.py
"""
from __future__ import annotations

import logging

import pytest
import torch

from lobes import build_backbone
from petl_modules import apply_petl

logging.getLogger("lobes").setLevel(logging.ERROR)
torch.set_num_threads(1)

METHODS = {
    "ft": {},
    "lora": {"rank": 2, "targets": ["q", "v", "ffn"]},
    "adapter": {"bottleneck": 4},
    "prompt": {"num_prompts": 3, "deep": True},
    "prefix": {"num_prefixes": 3},
    "conformer_adapter": {"bottleneck": 4, "kernel_size": 5},
    "ssf": {},
}
CASES = [("musicfm", m) for m in METHODS] + [("ast", m) for m in ("ft", "lora", "prompt", "prefix")] + [
    ("hubert", m) for m in ("ft", "adapter", "prompt", "conformer_adapter")]


def _build(name: str, method: str, checkpointing: bool):
    torch.manual_seed(0)
    bb = build_backbone(name, config="tiny", gradient_checkpointing=checkpointing)
    apply_petl(bb, method, dict(METHODS[method]))
    return bb.train()


def _step(bb, layer_calls: list):
    bb.layers[0].register_forward_pre_hook(lambda *args: layer_calls.append(1))
    torch.manual_seed(1)  # the same dropout masks in both runs
    g = torch.Generator().manual_seed(2)
    out = bb(torch.randn(2, bb.sample_rate, generator=g), torch.tensor([1.0, 0.6]))
    loss = sum((h[out.mask] ** 2).mean() for h in out.hidden_states if h is not None)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in bb.named_parameters() if p.grad is not None}
    return out.last.detach(), grads


@pytest.mark.parametrize("name, method", CASES)
def test_checkpointing_gives_the_same_outputs_and_gradients(name, method):
    plain_calls, ckpt_calls = [], []
    plain_out, plain_grads = _step(_build(name, method, False), plain_calls)
    ckpt, out_ckpt_calls = _build(name, method, True), ckpt_calls
    ckpt_out, ckpt_grads = _step(ckpt, out_ckpt_calls)
    assert len(plain_calls) == 1 and len(ckpt_calls) == 2  # layer 0 ran again in the backward pass
    torch.testing.assert_close(ckpt_out, plain_out, rtol=0, atol=0)
    assert plain_grads.keys() == ckpt_grads.keys() and plain_grads
    for n, g in plain_grads.items():
        torch.testing.assert_close(ckpt_grads[n], g, rtol=1e-6, atol=1e-7, msg=n)
    assert any(g.abs().sum() > 0 for g in plain_grads.values())


@pytest.mark.parametrize("method", ["ft", "lora"])
def test_checkpointing_stores_less_for_the_backward_pass(method):
    """Bytes of tensors autograd keeps for the backward pass, 4-layer tiny MusicFM: under half."""
    from lobes.musicfm import TINY_MUSICFM

    saved = {}
    for checkpointing in (False, True):
        torch.manual_seed(0)
        bb = build_backbone("musicfm", config={**TINY_MUSICFM, "num_hidden_layers": 4},
                            gradient_checkpointing=checkpointing)
        apply_petl(bb, method, {})
        total = []

        def pack(t: torch.Tensor) -> torch.Tensor:
            total.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            bb.train()(torch.randn(2, 2 * bb.sample_rate))
        saved[checkpointing] = sum(total)
    assert saved[True] < 0.5 * saved[False], saved


def test_batchnorm_statistics_are_updated_once():
    """MusicFM FT (its conv-module BatchNorms train): the same running statistics with checkpointing."""
    buffers = []
    for checkpointing in (False, True):
        bb = _build("musicfm", "ft", checkpointing)
        _step(bb, [])
        buffers.append({n: b.clone() for n, b in bb.named_buffers() if "batch_norm" in n})
    assert buffers[0] and buffers[0].keys() == buffers[1].keys()
    for n, b in buffers[0].items():
        torch.testing.assert_close(buffers[1][n], b, rtol=0, atol=0, msg=n)


@pytest.mark.parametrize("name, method", [("musicfm", "conformer_adapter"), ("hubert", "prompt"), ("ast", "lora")])
def test_checkpointed_outputs_stay_batch_independent(name, method):
    """Eval mode, gradients on (checkpointed): a clip alone == the same clip padded in a batch."""
    bb = _build(name, method, True).eval()
    for p in bb.parameters():
        if p.requires_grad:
            p.data.add_(0.1 * torch.randn_like(p))  # away from the identity initialisation
    g = torch.Generator().manual_seed(3)
    short, long = torch.randn(bb.sample_rate, generator=g), torch.randn(2 * bb.sample_rate, generator=g)
    alone = bb(short[None])
    batched = bb(torch.stack([torch.nn.functional.pad(short, (0, bb.sample_rate)), long]), torch.tensor([0.5, 1.0]))
    n = int(alone.mask[0].sum())
    torch.testing.assert_close(batched.last[0, :n], alone.last[0, :n], rtol=1e-4, atol=1e-5)


def test_a_cache_folder_is_shared_with_and_without_checkpointing(tmp_path):
    """The option changes no cached value: the folder's identity leaves it out (pooling too)."""
    from lobes.cache import FeatureCache

    identity = {"name": "hubert", "config": "tiny"}
    FeatureCache(str(tmp_path), identity={**identity, "gradient_checkpointing": True, "pooling": "mean"})
    FeatureCache(str(tmp_path), identity={**identity, "gradient_checkpointing": False, "pooling": "all"})
    with pytest.raises(ValueError, match="config differ"):
        FeatureCache(str(tmp_path), identity={**identity, "config": "real"})


def test_the_option_is_checked():
    with pytest.raises(ValueError, match="gradient_checkpointing must be true or false"):
        build_backbone("hubert", config="tiny", gradient_checkpointing="yes")
