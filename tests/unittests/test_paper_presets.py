"""Seed 002's table rows as presets: a placement per sub-layer (HOU mixed, HYDRA FFN) equal to PETL_AST's
formulas; the reference codes' initialisations as options (issue 19 §2, §3).

Run: python -m pytest tests/unittests/test_paper_presets.py
"""
from __future__ import annotations

import copy
import glob
import math
import os
import sys
import warnings

import pytest
import torch
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from lobes import build_backbone  # noqa: E402
from petl_modules import PetlError, apply_petl  # noqa: E402

METHODS_DIR = os.path.join(ROOT, "recipes", "hparams_common", "methods")


def tiny(name="ast", seed=0, **kw):
    torch.manual_seed(seed)
    if name == "ast":
        kw.setdefault("max_length", 36)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone(name, config="tiny", **kw)


def piece(name):
    with open(os.path.join(METHODS_DIR, f"{name}.yaml")) as f:
        p = yaml.safe_load(f)
    return p["name"], p["options"]


def adapted_layer(name, overrides=None):
    """(adapted AST layer 1, plain copy with the adapted layer's frozen and trained tensors, adapters by key)."""
    plain = tiny().eval()
    bb = copy.deepcopy(plain)
    method, options = piece(name)
    options = {**options, "reduction_rate": 8, **(overrides or {})}  # b = 4 on the 32-wide tiny AST
    state = apply_petl(bb, method, options)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, p in state.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
        layer, ref = bb.layers[1], plain.layers[1]
        for (n, p), q in zip(layer.named_parameters(), ref.parameters()):
            if "petl" not in n:
                q.copy_(p)
    return bb.eval(), layer, ref, {k: tap.adapter for k, tap in layer.petl.items()}


def run_layer(layer, x):
    out = layer(x)
    return out[0] if isinstance(out, tuple) else out


X = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(0))


def test_hou_mixed_is_petl_ast_formula():
    """Table V "HOU mixed": parallel before the MHSA, sequential after the FFN (PETL_AST's ablation code)."""
    _, layer, ref, A = adapted_layer("seed002/adapter_hou_mixed")
    assert sorted(A) == ["adapter_ffn", "adapter_mhsa"]
    with torch.no_grad():
        u = ref.layernorm_before(X)
        h = X + ref.attention(u)[0] + A["adapter_mhsa"](u)
        f = ref.mlp(ref.layernorm_after(h))
        want = h + f + A["adapter_ffn"](f)
        torch.testing.assert_close(run_layer(layer, X), want, atol=1e-5, rtol=1e-5)


def test_hydra_ffn_is_petl_ast_formula():
    """Table V "HYDRA FFN": x + f(LN x) + A_s(f(LN x)) + A_p(LN x) at the FFN (PETL_AST's hydra class)."""
    _, layer, ref, A = adapted_layer("seed002/adapter_hydra_ffn")
    assert sorted(A) == ["adapter_ffn", "adapter_ffn_before"]
    with torch.no_grad():
        h = X + ref.attention(ref.layernorm_before(X))[0]
        u = ref.layernorm_after(h)
        f = ref.mlp(u)
        want = h + f + A["adapter_ffn"](f) + A["adapter_ffn_before"](u)
        torch.testing.assert_close(run_layer(layer, X), want, atol=1e-5, rtol=1e-5)
    trained = {n.rpartition(".")[0] for n, p in layer.named_parameters() if p.requires_grad and "petl" not in n}
    assert trained == {"layernorm_after"}


def test_sites_in_either_order_and_normalised_options_rebuild():
    a = apply_petl(tiny(), "adapter", {"bottleneck": 2, "sites": [
        {"sublayer": "ffn", "placement": "parallel", "position": "before"}, {"sublayer": "ffn"}]})
    b = apply_petl(tiny(), "adapter", {"bottleneck": 2, "sites": [
        {"sublayer": "ffn"}, {"sublayer": "ffn", "placement": "parallel", "position": "before"}]})
    assert a.options == b.options and a.options["location"] == ["ffn"]
    again = apply_petl(tiny(), a.method, a.options)
    assert again.options == a.options and again.num_trainable() == a.num_trainable()


@pytest.mark.parametrize("options,match", [
    ({"sites": [{"sublayer": "ffn"}, {"sublayer": "ffn", "placement": "parallel"}]}, "two sites after"),
    ({"sites": [{"sublayer": "both"}]}, "a site is one sub-layer"),
    ({"sites": [{"sublayer": "mhsa", "where": "x"}]}, "a site names its sublayer"),
    ({"sites": "mhsa"}, "sites must be a non-empty list"),
    ({"sites": [{"sublayer": "mhsa"}], "location": "ffn"}, "either location or sites"),
    ({"sites": [{"sublayer": "mhsa", "placement": "parallel", "position": "after_add"}]}, "sequential placement"),
    ({"init": "xavier"}, "init='xavier' is not valid"),
])
def test_site_errors(options, match):
    with pytest.raises(PetlError, match=match):
        apply_petl(tiny(), "adapter", {"bottleneck": 2, **options})


def test_every_seed002_piece_applies_on_a_tiny_ast():
    """Every PETL_AST row is a valid configuration (on the tiny AST, RR scaled to its width)."""
    for path in sorted(glob.glob(os.path.join(METHODS_DIR, "seed002", "*.yaml"))):
        method, options = piece(os.path.relpath(path, METHODS_DIR)[:-5])
        for sub in (options.values() if "+" in method else [options]):
            if "reduction_rate" in sub:
                sub["reduction_rate"] = max(1, sub["reduction_rate"] // 24)
            if "num_prompts" in sub:
                sub["num_prompts"] = 3
        assert apply_petl(tiny(), method, options).num_trainable() > 0, path


# ------------------------------------------------------------------ initialisations of the reference codes
def test_lora_init_petl_ast_swaps_the_zero_matrix():
    bb = tiny()
    apply_petl(bb, "lora", {"rank": 2, "init": "petl_ast"})
    q = bb.layer_specs()[0].get("q")
    assert not q.lora_A.any() and q.lora_B.abs().sum() > 0  # PETL_AST: A (down) zero, B Kaiming-uniform
    bound = 1 / math.sqrt(2)  # kaiming_uniform(a=sqrt(5)) on a [32, 2] tensor: U(-1/sqrt(fan_in), ...)
    assert q.lora_B.abs().max() <= bound
    bb = tiny()
    apply_petl(bb, "lora", {"rank": 2})
    q = bb.layer_specs()[0].get("q")
    assert q.lora_A.abs().sum() > 0 and not q.lora_B.any()  # default: Hu et al. / peft


def test_lora_reduction_rate_and_table_iv_scale():
    state = apply_petl(tiny(), "lora", {"reduction_rate": 8, "targets": ["q"], "scale": 0.125})
    assert state.options["rank"] == 4 and state.options["reduction_rate"] is None
    with pytest.raises(PetlError, match="either rank or reduction_rate"):
        apply_petl(tiny(), "lora", {"rank": 2, "reduction_rate": 8})


@pytest.mark.parametrize("method,extra", [("prompt", {"num_prompts": 400}), ("prefix", {"num_prefixes": 200})])
def test_tokens_uniform_like_petl_ast(method, extra):
    """PETL_AST draws prompts and prefixes U(-0.0625, 0.0625) (sqrt(6 / (3·16·16 + 768)))."""
    state = apply_petl(tiny(), method, {**extra, "init_range": 0.0625})
    values = torch.cat([p.detach().flatten() for _, p in state.trainable_parameters()])
    assert values.abs().max() <= 0.0625 and values.abs().max() > 0.06
    assert abs(values.std().item() - 0.0625 / math.sqrt(3)) < 0.002  # uniform, not normal
    with pytest.raises(PetlError, match="either init_std .* or init_range"):
        apply_petl(tiny(), method, {"init_range": 0.1, "init_std": 0.02})


def test_seed001_prefix_and_ssf_inits_are_peft_music():
    _, prefix = piece("seed001/prefix")
    bb = tiny("mert")
    prefix = {k: v for k, v in prefix.items() if k != "by_backbone"}
    state = apply_petl(bb, "prefix", {**prefix, "num_prefixes": 300, "mlp_hidden": 8})
    emb = [p for n, p in state.trainable_parameters() if n.endswith("embedding")][0]
    assert abs(emb.std().item() - 1.0) < 0.05  # N(0, 1)
    _, ssf = piece("seed001/ssf")
    state = apply_petl(tiny("mert"), "ssf", ssf)
    scales = torch.cat([p.flatten() for n, p in state.trainable_parameters() if n.endswith(".scale")])
    shifts = torch.cat([p.flatten() for n, p in state.trainable_parameters() if n.endswith(".shift")])
    assert abs(scales.mean().item() - 1) < 0.01 and abs(scales.std().item() - 0.02) < 0.005
    assert abs(shifts.mean().item()) < 0.01 and abs(shifts.std().item() - 0.02) < 0.005


def test_adapter_and_convpass_inits_and_dropout():
    bb = tiny()
    apply_petl(bb, "adapter", {"bottleneck": 4, "init": "petl_ast"})
    taps = list(bb.layers[0].petl.values())
    assert all(not t.adapter.down.bias.any() and t.adapter.down.weight.abs().sum() > 0 for t in taps)
    bb = tiny()
    apply_petl(bb, "adapter", {"bottleneck": 4})
    assert all(t.adapter.down.bias.abs().sum() > 0 for t in bb.layers[0].petl.values())  # PyTorch default
    _, conv_opts = piece("seed002/convpass_pf_par")
    bb = tiny()
    apply_petl(bb, "convpass", {**conv_opts, "reduction_rate": 8})
    adapter = next(iter(bb.layers[0].petl.values())).adapter
    assert isinstance(adapter.dropout, torch.nn.Dropout) and adapter.dropout.p == 0.1
    assert not adapter.down.bias.any() and not adapter.conv.bias.any()
    xavier = math.sqrt(6 / (32 + 4))
    assert adapter.down.weight.abs().max() <= xavier and adapter.down.weight.abs().max() > 0.8 * xavier
    with pytest.raises(PetlError, match="init='petl_ast' is not valid"):
        apply_petl(tiny(), "conformer_adapter", {"bottleneck": 4, "init": "petl_ast"})
