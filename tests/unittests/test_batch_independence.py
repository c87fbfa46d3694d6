"""A clip's outputs do not depend on the rest of its batch (issue 10 §1), for every backbone.

Measured as in the review: the valid frames of a 1.0 s clip run alone vs the same clip batched
(zero-padded) with a 1.9 s clip; relative max difference over every ``hidden_states[k]``. Tiny
configs with random non-zero biases, norm weights and BatchNorm statistics (transformers'
initialisation zeroes biases, which hides padding leaks), eval mode.

Run: python -m pytest tests/unittests/test_batch_independence.py
"""
from __future__ import annotations

import copy
import logging

import pytest
import torch
from transformers import HubertConfig, HubertModel

from lobes import BACKBONES, build_backbone
from lobes.speech_ssl import TINY_SSL
from petl_modules import apply_petl

logging.getLogger("lobes").setLevel(logging.ERROR)
torch.set_num_threads(1)

TOLERANCE = 1e-4
# case -> (method, options), tiny sizes; every method is perturbed away from its identity initialisation
METHODS = {
    "lora": ("lora", {"rank": 2, "targets": ["q", "k", "v", "o", "ffn"]}),
    "adapter": ("adapter", {"bottleneck": 4}),
    "adapter_par_before": ("adapter", {"bottleneck": 4, "style": "pfeiffer", "placement": "parallel",
                                       "position": "before"}),
    "adapter_seq_before": ("adapter", {"bottleneck": 4, "position": "before"}),
    "adapter_after_add": ("adapter", {"bottleneck": 4, "position": "after_add", "train_norms": "block"}),
    "prompt": ("prompt", {"num_prompts": 3, "deep": True}),
    "prefix": ("prefix", {"num_prefixes": 3}),
    "ssf": ("ssf", {}),
    "bitfit": ("bitfit", {}),
    "convpass": ("convpass", {"bottleneck": 4}),
    "conformer_adapter": ("conformer_adapter", {"bottleneck": 4, "kernel_size": 5}),
    "adapter+lora+prompt": ("adapter+lora+prompt", {"adapter": {"bottleneck": 4}, "lora": {"rank": 2},
                                                    "prompt": {"num_prompts": 2}}),
}
# the conformer's own convolution module, as seed 001's MusicFM rows
CONFORMER_METHODS = {
    "lora_conv": ("lora", {"rank": 2, "targets": ["q", "k", "v", "o", "ffn", "conv_pw1", "conv_pw2"]}),
    "ssf_conv_scale": ("ssf", {"conv_scale": True}),
    "bitfit_conv_bn": ("bitfit", {"conv_batchnorm_bias": True}),
}
CASES = [(name, case) for name in sorted(BACKBONES) for case in METHODS] + [("musicfm", c) for c in CONFORMER_METHODS]


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-zero biases, non-unit norm weights, non-trivial BatchNorm statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if name.endswith("bias"):
                p.copy_(0.3 * noise)
            elif p.dim() == 1:  # norm weights, SSF scales
                p.add_(0.2 * noise)
            else:
                p.add_(0.05 * noise)
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


def tiny(name: str):
    torch.manual_seed(0)
    if name == "data2vec":  # 5 positional conv layers, as the published data2vec-audio
        return build_backbone(name, config={**TINY_SSL, "num_conv_pos_embeddings": 5})
    return build_backbone(name, config="tiny")


def _clips(sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return torch.randn(int(1.0 * sample_rate), generator=g), torch.randn(int(1.9 * sample_rate), generator=g)


def batch_dependence(bb) -> float:
    """Relative max difference on the short clip's valid frames, alone vs batched with a long clip."""
    short, long = _clips(bb.sample_rate)
    batch = torch.stack([torch.nn.functional.pad(short, (0, long.numel() - short.numel())), long])
    with torch.no_grad():
        alone = bb(short[None])
        batched = bb(batch, lengths=torch.tensor([short.numel() / long.numel(), 1.0]))
    n = int(alone.mask[0].sum())
    assert int(batched.mask[0].sum()) == n, "the padded clip has another number of valid frames"
    worst = 0.0
    for a, b in zip(alone.hidden_states, batched.hidden_states):
        a, b = a[0, :n], b[0, :n]
        worst = max(worst, float((a - b).abs().max() / a.abs().max()))
    return worst


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_is_batch_independent(name):
    bb = tiny(name)
    _randomise(bb)
    assert batch_dependence(bb.eval()) <= TOLERANCE


@pytest.mark.parametrize("name, case", CASES)
def test_backbone_with_petl_is_batch_independent(name, case):
    bb = tiny(name)
    method, options = {**METHODS, **CONFORMER_METHODS}[case]
    apply_petl(bb, method, copy.deepcopy(options))
    _randomise(bb)
    assert batch_dependence(bb.eval()) <= TOLERANCE


def test_the_measure_sees_the_reference_implementations_padding_leak():
    """transformers' HubertModel (GroupNorm conv encoder) on the same pair: clearly batch-dependent."""
    torch.manual_seed(0)
    ref = HubertModel(HubertConfig(**TINY_SSL)).eval()
    _randomise(ref)
    short, long = _clips(16000)
    batch = torch.stack([torch.nn.functional.pad(short, (0, long.numel() - short.numel())), long])
    mask = torch.zeros(batch.shape, dtype=torch.long)
    mask[0, : short.numel()], mask[1] = 1, 1
    with torch.no_grad():
        alone = ref(short[None]).last_hidden_state[0]
        batched = ref(batch, attention_mask=mask).last_hidden_state[0, : alone.shape[0]]
    assert float((alone - batched).abs().max() / alone.abs().max()) > 100 * TOLERANCE


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_classifier_outputs_do_not_change_with_the_evaluation_batch(name):
    """What evaluation sees: pooled logits of a clip alone == in a padded batch (any eval_batch_size)."""
    from lobes.heads import AudioClassifier, LinearHead

    bb = tiny(name)
    model = AudioClassifier(bb, LinearHead(bb.hidden_size, 5))
    _randomise(model)
    model.eval()
    short, long = _clips(bb.sample_rate)
    batch = torch.stack([torch.nn.functional.pad(short, (0, long.numel() - short.numel())), long])
    with torch.no_grad():
        alone = torch.cat([model(short[None]), model(long[None])])
        batched = model(batch, torch.tensor([short.numel() / long.numel(), 1.0]))
    assert float((alone - batched).abs().max() / alone.abs().max()) <= TOLERANCE
