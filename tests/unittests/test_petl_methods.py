"""PETL methods on tiny backbones: identity at init, gradients, frozen weights, merge, save/load.

Run: python -m pytest tests/unittests/test_petl_methods.py
"""
from __future__ import annotations

import copy
import logging
import os
import sys
import warnings

import pytest
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from lobes import build_backbone  # noqa: E402
from petl_modules import (  # noqa: E402
    METHODS, PetlError, active_adapter, add_adapter, apply_petl, count_parameters, format_counts, is_merged,
    list_adapters, load_adapter, merge, save_adapter, set_active_adapter, trainable_parameters, unmerge,
)
from petl_modules.io import live_tensors  # noqa: E402
from petl_modules.lora import LoRA  # noqa: E402
from petl_modules.merge import MergeableWrapper  # noqa: E402

warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
logging.getLogger("lobes").setLevel(logging.ERROR)

torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a shared machine
MAIN = ["ast", "mert", "musicfm"]
SPEECH = ["hubert", "wav2vec2", "data2vec"]


def fresh(name: str, seed: int = 0, **kw):
    torch.manual_seed(seed)
    if name == "ast":
        kw.setdefault("max_length", 36)  # 2 special tokens + a 12 x 3 patch grid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone(name, config="tiny", **kw)


_INPUTS = {}


def inputs(bb):
    key = bb.sample_rate
    if key not in _INPUTS:
        g = torch.Generator().manual_seed(1)
        _INPUTS[key] = (torch.randn(2, int(0.05 * bb.sample_rate), generator=g), torch.tensor([1.0, 0.75]))
    return _INPUTS[key]


def run(bb):
    wav, lengths = inputs(bb)
    return bb(wav, lengths)


def assert_same(a, b, atol=1e-5):
    assert len(a.hidden_states) == len(b.hidden_states)
    for x, y in zip(a.hidden_states, b.hidden_states):
        assert x.shape == y.shape
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-5)
    assert torch.equal(a.mask, b.mask)


def perturb(params, std=0.1, seed=3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in params:
            p.add_(torch.randn(p.shape, generator=g) * std)


# name -> (method, options, identity at init?)
CASES = {
    "adapter_houlsby": ("adapter", {"bottleneck": 4}, True),
    "adapter_pfeiffer_parallel_block_norms": ("adapter", {"style": "pfeiffer", "placement": "parallel",
                                                          "bottleneck": 4, "train_norms": "block"}, True),
    "adapter_par_after_residual": ("adapter", {"placement": "parallel", "residual": True, "bottleneck": 4}, False),
    "adapter_seq_before_mhsa": ("adapter", {"style": "pfeiffer", "position": "before", "location": "mhsa",
                                            "reduction_rate": 8}, False),
    "adapter_after_add": ("adapter", {"position": "after_add", "bottleneck": 4, "train_norms": "block"}, True),
    "convpass": ("convpass", {"bottleneck": 4}, True),
    "convpass_1d_parallel": ("convpass", {"bottleneck": 4, "conv": "1d", "placement": "parallel",
                                          "position": "before"}, True),
    "conformer_adapter": ("conformer_adapter", {"bottleneck": 4, "kernel_size": 5}, True),
    "lora": ("lora", {"rank": 2, "targets": ["q", "k", "v", "o", "ffn"], "scale": 2.0}, True),
    "lora_alpha_layers": ("lora", {"rank": 2, "alpha": 4, "layers_to_transform": [0]}, True),
    "ssf": ("ssf", {}, True),
    "bitfit": ("bitfit", {}, True),
    "prompt_shallow": ("prompt", {"num_prompts": 3}, False),
    "prompt_deep": ("prompt", {"num_prompts": 3, "deep": True}, False),
    "prefix": ("prefix", {"num_prefixes": 3}, False),
    "prefix_mlp": ("prefix", {"num_prefixes": 3, "reparam": "mlp", "mlp_hidden": 8}, False),
    "adapter+lora": ("adapter+lora", {"adapter": {"bottleneck": 4}, "lora": {"rank": 2}}, True),
    "adapter+prompt": ("adapter+prompt", {"adapter": {"bottleneck": 4}, "prompt": {"num_prompts": 2, "deep": True}},
                       False),
    "adapter+lora+prompt": ("adapter+lora+prompt", {"adapter": {"style": "pfeiffer", "bottleneck": 4},
                                                    "lora": {"rank": 2, "targets": ["q", "v", "o"]},
                                                    "prompt": {"num_prompts": 2}}, False),
    "lora+ssf+bitfit": ("lora+ssf+bitfit", {"lora": {"rank": 2}, "ssf": {"targets": ["q", "ffn_out"]}}, True),
    "ft": ("ft", {}, True),
    "linear": ("linear", {}, True),
}
CONFORMER_CASES = {
    "lora_conv": ("lora", {"rank": 2, "targets": ["q", "k", "v", "o", "ffn", "conv_pw1", "conv_pw2"]}, True),
    "ssf_conv_scale": ("ssf", {"conv_scale": True}, True),
    "bitfit_bn": ("bitfit", {"conv_batchnorm_bias": True}, True),
}
EVERYWHERE = ["adapter_houlsby", "lora", "prefix", "prompt_deep", "bitfit"]
GRID = [(b, c) for b in MAIN for c in CASES]
GRID += [("musicfm", c) for c in CONFORMER_CASES]
GRID += [(b, c) for b in SPEECH for c in EVERYWHERE]
ALL_CASES = {**CASES, **CONFORMER_CASES}


@pytest.mark.parametrize("backbone,case", GRID, ids=[f"{b}-{c}" for b, c in GRID])
def test_method(backbone, case):
    """Identity at init (where defined), hidden states without prompts, gradients, frozen weights."""
    method, options, identity = ALL_CASES[case]
    plain = fresh(backbone).eval()
    with torch.no_grad():
        ref = run(plain)
    bb = copy.deepcopy(plain)
    state = apply_petl(bb, method, copy.deepcopy(options))
    assert state.method == method
    bb.eval()
    with torch.no_grad():
        out = run(bb)
    # prompts never show up in the recorded hidden states; the mask keeps its shape
    assert [h.shape for h in out.hidden_states] == [h.shape for h in ref.hidden_states]
    assert out.mask.shape == ref.mask.shape
    if identity:
        assert_same(ref, out, atol=1e-6)

    trainable = state.trainable_parameters()
    if method in ("linear", "mlp") and backbone != "ast":
        assert not trainable  # probes: only the head (outside the backbone) trains
        return
    assert trainable, "no trainable tensor"
    assert sum(p.numel() for _, p in trainable) == count_parameters(bb)["trainable"]
    if method == "ft":
        assert all(p.requires_grad for p in bb.parameters())
    # frozen tensors: snapshot everything the adapter checkpoint would not hold
    saved = set(live_tensors(bb))
    frozen = {k: v.clone() for k, v in bb.state_dict().items() if f"backbone.{k}" not in saved}
    bb.train()
    opt = torch.optim.AdamW([p for _, p in trainable], lr=1e-2, weight_decay=0.1)
    g = torch.Generator().manual_seed(5)
    weights = None
    for step in range(2):
        opt.zero_grad()
        out = run(bb)
        h = bb.final_norm(out.last)
        if weights is None:
            weights = torch.randn(h.shape, generator=g)
        (h * weights).sum().backward()
        if step == 1:
            # every trainable tensor gets a gradient once the zero-initialised up projections
            # have moved (PETL_AST zeroed both projections: the down one never trained)
            check = trainable if method != "ft" else [(n, p) for n, p in trainable if ".layers." in n]
            dead = [n for n, p in check if p.grad is None or not p.grad.abs().sum() > 0]
            assert not dead, f"no gradient for {dead}"
        opt.step()
    after = bb.state_dict()
    changed = [k for k, v in frozen.items() if not torch.equal(v, after[k])]
    assert not changed, f"frozen tensors changed: {changed[:5]}"


@pytest.mark.parametrize("backbone", ["ast", "mert"])
def test_deepcopy_keeps_injected_modules(backbone):
    bb = fresh(backbone)
    state = apply_petl(bb, "adapter+convpass+lora+prefix", {"adapter": {"placement": "parallel", "bottleneck": 4},
                                                           "convpass": {"bottleneck": 2, "position": "before"},
                                                           "prefix": {"num_prefixes": 2}})
    perturb(state.trainable_parameters())
    bb.eval()
    twin = copy.deepcopy(bb)
    with torch.no_grad():
        ref = run(bb)
        assert_same(ref, run(twin), atol=0)
        for p in twin.parameters():  # the copy's hooks use the copy's tensors, not the original's
            p.zero_()
        assert_same(ref, run(bb), atol=0)


@pytest.mark.parametrize("case", list(ALL_CASES) + ["pfeiffer_rr"])
def test_normalised_options_are_idempotent(case):
    """The options kept in the state (and saved with an adapter) rebuild the same method."""
    method, options, _ = ALL_CASES.get(case, ("adapter", {"style": "pfeiffer", "reduction_rate": 8}, True))
    name = "musicfm" if case in CONFORMER_CASES else "ast"
    state = apply_petl(fresh(name), method, copy.deepcopy(options))
    again = apply_petl(fresh(name), state.method, state.options)
    assert again.options == state.options
    assert again.num_trainable() == state.num_trainable()


def test_adapter_down_projection_not_zero():
    bb = fresh("ast")
    apply_petl(bb, "adapter", {"bottleneck": 4})
    tap = bb.layers[0].petl["adapter_ffn"].adapter
    assert tap.down.weight.abs().sum() > 0 and tap.up.weight.abs().sum() == 0


def test_layers_to_transform_and_counts():
    bb = fresh("ast")
    state = apply_petl(bb, "lora", {"rank": 2, "targets": ["q"], "layers_to_transform": [0, -1]})
    wrapped = [i for i, layer in enumerate(bb.layers) if isinstance(layer.attention.q_proj, LoRA)]
    assert wrapped == [0, bb.num_layers - 1]
    assert state.num_trainable() == 2 * 2 * (32 + 32)
    line = format_counts(count_parameters(bb, head=nn.Linear(32, 5)))
    assert line.startswith("trainable params: 256 || all params: ") and "head params: 165" in line


def test_probes_freeze_backbone():
    for name in ("linear", "mlp"):
        bb = fresh("mert")
        apply_petl(bb, name)
        assert not any(p.requires_grad for p in bb.parameters())
    ast = fresh("ast")
    apply_petl(ast, "linear")
    assert {n for n, _ in trainable_parameters(ast)} == {"model.layernorm.weight", "model.layernorm.bias"}


MERGE_CASES = [
    ("ast", "lora", {"rank": 2, "targets": ["q", "k", "v", "o", "ffn"], "dropout": 0.1}),
    ("mert", "ssf", {}),
    ("musicfm", "lora", {"rank": 2, "targets": ["q", "ffn", "conv_pw1", "conv_pw2"]}),
    ("musicfm", "ssf", {"conv_scale": True, "targets": ["q", "k", "v", "o", "ffn", ]}),
    ("musicfm", "lora+ssf+bitfit", {"lora": {"rank": 3, "targets": ["q", "v", "ffn_in", "conv_pw1"]},
                                    "ssf": {"targets": ["q", "ffn_in", "ffn_out"], "conv_scale": True},
                                    "bitfit": {"conv_batchnorm_bias": True}}),
    ("hubert", "ssf+lora", {"ssf": {}, "lora": {"rank": 2, "targets": ["attn", "ffn"]}}),
    ("ast", "bitfit", {}),
]


@pytest.mark.parametrize("backbone,method,options", MERGE_CASES, ids=[f"{b}-{m}" for b, m, _ in MERGE_CASES])
def test_merge_unmerge(backbone, method, options):
    plain = fresh(backbone).eval()
    bb = copy.deepcopy(plain)
    state = apply_petl(bb, method, options)
    perturb(state.trainable_parameters())
    bb.eval()
    with torch.no_grad():
        before = run(bb)
    merge(bb)
    # exactly the plain backbone's module types and tensors: no inference overhead
    assert [(n, type(m)) for n, m in bb.named_modules()] == [(n, type(m)) for n, m in plain.named_modules()]
    assert list(bb.state_dict()) == list(plain.state_dict())
    assert not any(isinstance(m, MergeableWrapper) for m in bb.modules())
    with torch.no_grad():
        merged = run(bb)
    assert_same(before, merged, atol=1e-5)
    unmerge(bb)
    with torch.no_grad():
        again = run(bb)
    assert_same(before, again, atol=1e-5)
    if "lora" in method or "ssf" in method:
        assert any(isinstance(m, MergeableWrapper) for m in bb.modules())
    with pytest.raises(PetlError, match="not merged"):
        unmerge(bb)


def test_merge_refuses_adapters():
    bb = fresh("ast")
    apply_petl(bb, "adapter+lora", {"lora": {"rank": 2}})
    with pytest.raises(PetlError, match="cannot merge adapter"):
        merge(bb)


class Classifier(nn.Module):
    def __init__(self, backbone, classes=3):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.hidden_size, classes)

    def forward(self, wav, lengths):
        out = self.backbone(wav, lengths)
        return self.head(self.backbone.final_norm(out.last).mean(1))


SAVE_CASES = [
    ("ast", "adapter", {"style": "pfeiffer", "bottleneck": 4, "train_norms": "block"}),
    ("ast", "convpass", {"bottleneck": 4}),
    ("musicfm", "conformer_adapter", {"bottleneck": 4, "kernel_size": 3}),
    ("musicfm", "bitfit", {"conv_batchnorm_bias": True}),
    ("mert", "prompt", {"num_prompts": 2, "deep": True}),
    ("mert", "prefix", {"num_prefixes": 2, "reparam": "mlp", "mlp_hidden": 8}),
    ("hubert", "adapter+lora+prompt", {"lora": {"rank": 2}, "prompt": {"num_prompts": 2}}),
    ("musicfm", "ssf", {"conv_scale": True}),
    ("ast", "ft", {}),
]


@pytest.mark.parametrize("backbone,method,options", SAVE_CASES, ids=[f"{b}-{m}" for b, m, _ in SAVE_CASES])
def test_save_load_roundtrip(tmp_path, backbone, method, options):
    bb = fresh(backbone)
    state = apply_petl(bb, method, copy.deepcopy(options))
    perturb(state.trainable_parameters())
    bb.train()
    run(bb)  # training-mode pass: BatchNorms that train update their running statistics
    bb.eval()
    with torch.no_grad():
        ref = run(bb)
    save_adapter(str(tmp_path), bb, extra_config={"task": "unit"})
    files = sorted(os.listdir(tmp_path))
    assert files == ["README.md", "adapter_config.json", "adapter_model.safetensors"]  # + the model card
    other = fresh(backbone)  # same seed: the "pretrained" weights
    loaded = load_adapter(str(tmp_path), other)
    assert loaded.method == method
    other.eval()
    with torch.no_grad():
        assert_same(ref, run(other), atol=1e-6)
    if method != "ft":
        size = os.path.getsize(tmp_path / "adapter_model.safetensors")
        assert size < 0.5 * sum(p.numel() * 4 for p in other.parameters())


def test_save_load_with_head(tmp_path):
    model = Classifier(fresh("ast"))
    apply_petl(model.backbone, "lora", {"rank": 2})
    perturb(trainable_parameters(model))
    model.eval()
    wav, lengths = inputs(model.backbone)
    with torch.no_grad():
        ref = model(wav, lengths)
    save_adapter(str(tmp_path), model)
    other = Classifier(fresh("ast"))
    load_adapter(str(tmp_path), other)
    other.eval()
    with torch.no_grad():
        torch.testing.assert_close(other(wav, lengths), ref)
    # a bare backbone takes the backbone part of the same checkpoint
    bare = fresh("ast")
    assert load_adapter(str(tmp_path), bare).method == "lora"


def test_load_errors(tmp_path):
    bb = fresh("ast")
    apply_petl(bb, "lora", {"rank": 2})
    save_adapter(str(tmp_path), bb)
    with pytest.raises(PetlError, match="trained for backbone 'ast'"):
        load_adapter(str(tmp_path), fresh("mert"))
    with pytest.raises(PetlError, match="trained for backbone"):
        load_adapter(str(tmp_path), fresh("ast", num_layers=2))
    other = fresh("ast")
    apply_petl(other, "bitfit")
    with pytest.raises(PetlError, match="method 'lora'"):
        load_adapter(str(tmp_path), other)
    with pytest.raises(FileNotFoundError):
        load_adapter(str(tmp_path / "nowhere"), fresh("ast"))
    import json

    config = json.loads((tmp_path / "adapter_config.json").read_text())
    (tmp_path / "adapter_config.json").write_text(json.dumps({**config, "format_version": 1}))
    with pytest.raises(PetlError, match="format version 1.*retrain"):
        load_adapter(str(tmp_path), fresh("ast"))


def test_named_adapters_switch(tmp_path):
    outs = {}
    for name, seed in (("a", 10), ("b", 11)):
        bb = fresh("mert")
        state = apply_petl(bb, "adapter", {"bottleneck": 4})
        perturb(state.trainable_parameters(), seed=seed)
        bb.eval()
        with torch.no_grad():
            outs[name] = run(bb)
        save_adapter(str(tmp_path / name), bb)
    model = fresh("mert").eval()
    load_adapter(str(tmp_path / "a"), model, name="a")
    load_adapter(str(tmp_path / "b"), model, name="b")
    assert list_adapters(model) == ["a", "b"] and active_adapter(model) == "a"
    with torch.no_grad():
        assert_same(outs["a"], run(model), atol=1e-6)
        set_active_adapter(model, "b")
        assert active_adapter(model) == "b"
        assert_same(outs["b"], run(model), atol=1e-6)
        set_active_adapter(model, "a")
        assert_same(outs["a"], run(model), atol=1e-6)
    save_adapter(str(tmp_path / "b_again"), model, name="b")  # an inactive adapter saves from its stored tensors
    again = fresh("mert").eval()
    load_adapter(str(tmp_path / "b_again"), again)
    with torch.no_grad():
        assert_same(outs["b"], run(again), atol=1e-6)
    with pytest.raises(PetlError, match="no adapter named 'c'"):
        set_active_adapter(model, "c")


def test_prefix_sdpa_equals_eager():
    outs = []
    for impl in ("sdpa", "eager"):
        bb = fresh("hubert", attn_implementation=impl)
        state = apply_petl(bb, "prefix", {"num_prefixes": 3})
        perturb(state.trainable_parameters(), std=0.5)
        bb.eval()
        assert bb.model.config._attn_implementation == f"petl_prefix_{impl}"
        with torch.no_grad():
            outs.append(run(bb))
    assert_same(outs[0], outs[1], atol=1e-5)
    # a backbone without prefixes on the same (registered) implementation is unaffected
    plain = fresh("hubert").eval()
    with torch.no_grad():
        ref = run(plain)
        plain.model.config._attn_implementation = "petl_prefix_sdpa"
        assert_same(ref, run(plain), atol=1e-6)


def test_prefix_changes_attention_output():
    bb = fresh("musicfm").eval()
    with torch.no_grad():
        ref = run(bb)
    state = apply_petl(bb, "prefix", {"num_prefixes": 2})
    perturb(state.trainable_parameters(), std=1.0)
    with torch.no_grad():
        out = run(bb)
    assert not torch.allclose(ref.last, out.last)


@pytest.mark.parametrize("method,options,match", [
    ("lorax", {}, "unknown PETL method 'lorax'; valid: adapter"),
    ("lora", {"rank": 0}, "rank must be a positive integer"),
    ("lora", {"rank": 2, "targets": ["q", "qq"]}, "unknown target role 'qq'.*valid: q, k, v, o"),
    ("lora", {"rank": 2, "scale": 1.0, "alpha": 4}, "either scale or alpha"),
    ("lora", {"rnak": 2}, "unknown option.*'rnak'.*valid options: alpha"),
    ("adapter", {"bottleneck": 64}, "bottleneck=64 is larger than the hidden size"),
    ("adapter", {"placement": "serial"}, "placement='serial' is not valid; valid values: 'sequential', 'parallel'"),
    ("adapter", {"location": "ffn3"}, "location='ffn3' is not valid"),
    ("convpass", {"conv": "3d"}, "conv='3d' is not valid"),
    ("prompt", {"num_prompts": 0}, "num_prompts must be a positive integer"),
    ("prompt", {"layers_to_transform": [0]}, "only applies to deep prompts"),
    ("prefix", {"reparam": "lstm"}, "reparam='lstm'"),
    ("bitfit", {"conv_batchnorm_bias": True}, "needs a conformer"),
    ("ssf", {"conv_scale": True}, "needs a conformer"),
    ("ft+lora", {}, "baseline and cannot be combined"),
    ("adapter+lora", {"adapter": {}, "prefix": {}}, "unknown key.*'prefix'"),
    ("lora", {"layers_to_transform": [7]}, "layers_to_transform entry 7"),
    ("convpass+prompt", {}, "cannot be combined with prompt"),
])
def test_option_errors(method, options, match):
    bb = fresh("ast")
    with pytest.raises(PetlError, match=match):
        apply_petl(bb, method, options)
    assert not any(isinstance(m, MergeableWrapper) for m in bb.modules())  # nothing half-applied


def test_more_errors():
    mert = fresh("mert")
    with pytest.raises(PetlError, match="conv='2d' needs a patch-grid"):
        apply_petl(mert, "convpass", {"conv": "2d"})
    apply_petl(mert, "lora")
    with pytest.raises(PetlError, match="already has a PETL method"):
        apply_petl(mert, "bitfit")
    bb = fresh("ast")
    bb.sequence_edits = None
    with pytest.raises(PetlError, match="cannot take prompts"):
        apply_petl(bb, "prompt")
    with pytest.raises(PetlError, match="lobes backbone"):
        apply_petl(nn.Linear(3, 3), "lora")


def test_registry_is_complete():
    assert set(METHODS) == {"adapter", "convpass", "conformer_adapter", "prompt", "prefix", "bitfit", "ssf", "lora",
                            "ft", "linear", "mlp", "moa"}


def test_lora_matches_peft():
    import peft  # a test extra (setup.py): its absence is a failure, not a skip
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 8))
    ours_model = copy.deepcopy(base)
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["0", "2"], lora_dropout=0.0)
    theirs = peft.get_peft_model(copy.deepcopy(base), cfg)
    mods = dict(theirs.named_modules())
    for idx in ("0", "2"):
        ours = LoRA(ours_model[int(idx)], rank=4, scale=8 / 4)
        lin = mods[f"base_model.model.{idx}"]
        with torch.no_grad():
            lin.lora_B["default"].weight.normal_()
            ours.lora_A.copy_(lin.lora_A["default"].weight)
            ours.lora_B.copy_(lin.lora_B["default"].weight)
        ours_model[int(idx)] = ours
    x = torch.randn(5, 16)
    torch.testing.assert_close(ours_model(x), theirs(x))


@pytest.mark.parametrize("backbone, targets", [("ast", ["q", "v"]), ("musicfm", ["q", "v", "conv_pw1", "conv_pw2"])])
def test_lora_alpha_is_peft_lora_alpha(backbone, targets):
    """``alpha`` is peft's ``lora_alpha`` (scale = alpha / rank): a backbone adapted with ``apply_petl``
    and the same backbone with peft's LoRA injected (same A and B) give the same hidden states, on
    Linear and on kernel-1 Conv1d targets (the conformer's pointwise convolutions)."""
    import peft
    ours, theirs = fresh(backbone), fresh(backbone)
    apply_petl(ours, "lora", {"rank": 4, "alpha": 12, "targets": targets})
    paths = [f"{spec.path}.{spec.linears[role]}" for spec in theirs.layer_specs() for role in targets]
    peft.inject_adapter_in_model(peft.LoraConfig(r=4, lora_alpha=12, target_modules=paths, lora_dropout=0.0), theirs)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for path in paths:
            mine, peft_layer = ours.get_submodule(path), theirs.get_submodule(path)
            assert isinstance(mine, LoRA)
            peft_layer.lora_B["default"].weight.normal_(generator=g)
            mine.lora_A.copy_(peft_layer.lora_A["default"].weight.reshape(mine.lora_A.shape))
            mine.lora_B.copy_(peft_layer.lora_B["default"].weight.reshape(mine.lora_B.shape))
    ours.eval(), theirs.eval()
    with torch.no_grad():
        assert_same(run(ours), run(theirs))


def _quick_gelu(t):
    return t * torch.sigmoid(1.702 * t)


def _original_convpass(m, x, n_special, n_freq):
    """Convpass's forward as Jie & Deng's code writes it (down, QuickGELU, 3×3 conv on the patch grid
    and on each special token as a 1×1 grid, QuickGELU, up), with AST's grid: ``n_freq`` rows,
    tokens frequency-major (transformers' ASTPatchEmbeddings flattens ``[B, C, F', T']``)."""
    conv2d = torch.nn.functional.conv2d
    b, n, _ = x.shape
    d = _quick_gelu(x @ m.down.weight.T + m.down.bias)
    c = d.shape[-1]
    patches = d[:, n_special:].reshape(b, n_freq, (n - n_special) // n_freq, c).permute(0, 3, 1, 2)
    patches = conv2d(patches, m.conv.weight, m.conv.bias, padding=1).flatten(2).transpose(1, 2)
    special = d[:, :n_special].reshape(b * n_special, c, 1, 1)
    special = conv2d(special, m.conv.weight, m.conv.bias, padding=1).reshape(b, n_special, c)
    return _quick_gelu(torch.cat([special, patches], 1)) @ m.up.weight.T + m.up.bias


def _original_convpass_1d(m, x):
    """The 1-D variant: the same with a kernel-3 convolution over the token sequence."""
    d = _quick_gelu(x @ m.down.weight.T + m.down.bias)
    conv = torch.nn.functional.conv1d(d.transpose(1, 2), m.conv.weight, m.conv.bias, padding=1).transpose(1, 2)
    return _quick_gelu(conv) @ m.up.weight.T + m.up.bias


def test_convpass_is_the_original_convpass():
    """The 2-D Convpass on AST's patch grid and the 1-D variant equal their formulas written out here,
    on random weights (the up projection is zero at init)."""
    from petl_modules.convpass import ConvpassAdapter
    bb = fresh("ast")
    n_freq = bb.model.embeddings.get_shape(bb.model.config)[0]
    assert bb.patch_grid == (2, n_freq)  # cls and distillation tokens, then the frequency-major grid
    torch.manual_seed(0)
    two_d = ConvpassAdapter(16, 4, "2d", "quick_gelu", bb.patch_grid)
    one_d = ConvpassAdapter(16, 4, "1d", "quick_gelu")
    for m in (two_d, one_d):
        perturb(m.named_parameters(), std=0.5)
    x = torch.randn(2, 2 + n_freq * 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(two_d(x), _original_convpass(two_d, x, 2, n_freq))
        torch.testing.assert_close(one_d(x), _original_convpass_1d(one_d, x))


def test_conformer_adapter_is_its_formula():
    """LayerNorm, pointwise conv d→2b, GLU over channels, depthwise conv, BatchNorm, SiLU, pointwise
    conv b→d, written out with torch.nn.functional on the module's weights (random, BatchNorm in eval
    mode with non-trivial statistics)."""
    from petl_modules.conformer_adapter import ConformerAdapter
    fn = torch.nn.functional
    torch.manual_seed(0)
    m = ConformerAdapter(16, 4, kernel_size=5)
    perturb(m.named_parameters(), std=0.5)
    with torch.no_grad():
        m.batch_norm.running_mean.uniform_(-0.5, 0.5)
        m.batch_norm.running_var.uniform_(0.5, 2.0)
    m.eval()
    x = torch.randn(2, 9, 16)
    with torch.no_grad():
        h = fn.layer_norm(x, (16,), m.norm.weight, m.norm.bias).transpose(1, 2)
        h = fn.conv1d(h, m.pointwise_down.weight, m.pointwise_down.bias)
        h = h[:, :4] * torch.sigmoid(h[:, 4:])
        h = fn.conv1d(h, m.depthwise.weight, m.depthwise.bias, padding=2, groups=4)
        h = (h - m.batch_norm.running_mean[:, None]) / torch.sqrt(m.batch_norm.running_var[:, None] + 1e-5)
        h = h * m.batch_norm.weight[:, None] + m.batch_norm.bias[:, None]
        h = fn.conv1d(h * torch.sigmoid(h), m.pointwise_up.weight, m.pointwise_up.bias).transpose(1, 2)
        torch.testing.assert_close(m(x), h)


@pytest.mark.parametrize("deep", [False, True])
def test_prompts_are_vpt_by_hand(deep):
    """VPT by hand on the backbone's own pieces (embed, call_layer): shallow prompts are prepended once
    and carried through every layer; deep ones are replaced by layer i's own before layer i. Each
    hidden state equals the clip tokens of that computation (two clips, one padded)."""
    bb = fresh("hubert")
    state = apply_petl(bb, "prompt", {"num_prompts": 3, "deep": deep})
    perturb(state.trainable_parameters(), std=1.0)
    bb.eval()
    prompts = next(p for _, p in state.trainable_parameters())  # [1 or num_layers, 3, d]
    assert prompts.shape == (bb.num_layers if deep else 1, 3, bb.hidden_size)
    wav, lengths = inputs(bb)
    with torch.no_grad():
        got = run(bb).hidden_states
        x, mask = bb.embed(*bb.frontend(*bb.prepare_waveform(wav, None, lengths)))
        expected = [x]
        for i, layer in enumerate(bb.layers):
            if i == 0 or deep:
                body = x if i == 0 else x[:, 3:]
                x = torch.cat([prompts[i if deep else 0].expand(len(wav), -1, -1), body], 1)
            full_mask = torch.cat([mask.new_ones(len(wav), 3), mask], 1)
            x = bb.call_layer(layer, x, full_mask)
            expected.append(x[:, 3:])
    assert bb.final_norm_for_last is None and len(got) == len(expected) == bb.num_layers + 1
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ adapter placements (issue 10 §2, §3)
def _steps(name, bb, layer, x):
    """The layer as a list of residual steps ``(sub-layer, pre-norm or None, f, post-norm or None)``,
    written from the published layer code (f includes the conformer's 0.5 macaron factor)."""
    if name == "ast":
        return [("mhsa", layer.layernorm_before, lambda u: layer.attention(u)[0], None),
                ("ffn", layer.layernorm_after, layer.mlp, None)]
    if name == "mert":  # post-LN: f reads x, the norm follows the residual add
        return [("mhsa", None, lambda u: layer.attention(u)[0], layer.layer_norm),
                ("ffn", None, layer.feed_forward, layer.final_layer_norm)]
    rotary = bb.model.conformer.embed_positions(x)
    return [("ffn1", layer.ffn1_layer_norm, lambda u: 0.5 * layer.ffn1(u), None),
            ("mhsa", layer.self_attn_layer_norm,
             lambda u: layer.self_attn(hidden_states=u, relative_position_embeddings=rotary)[0], None),
            ("conv", None, layer.conv_module, None),
            ("ffn2", layer.ffn2_layer_norm, lambda u: 0.5 * layer.ffn2(u), layer.final_layer_norm)]


def hand_layer(name, bb, layer, x, adapters, placement, position, residual):
    """PETL_AST's / peft-music's formulas for one layer; ``adapters``: sub-layer -> A."""
    for sub, pre, f, post in _steps(name, bb, layer, x):
        u = pre(x) if pre is not None else x
        A = adapters.get(sub)
        if A is None:
            x = x + f(u)
        else:
            def adapt(v):
                return v + A(v) if residual else A(v)
            if position == "after_add":
                x = adapt(x + f(u))
            elif position == "before":
                a = adapt(u)
                x = x + (f(a) if placement == "sequential" else f(u)) + a
            elif placement == "sequential":
                x = x + adapt(f(u))
            else:
                x = x + f(u) + adapt(f(u))
        if post is not None:
            x = post(x)
    return x


PLACEMENT_GRID = [
    # (backbone, location, placement, position, residual)
    *[("ast", loc, pl, po, r) for loc in ("mhsa", "ffn", "both") for pl, po in
      (("sequential", "after"), ("parallel", "after"), ("parallel", "before"), ("sequential", "before"))
      for r in (None, True, False)],
    ("ast", "both", "sequential", "after_add", None),
    ("mert", "all", "sequential", "after_add", None), ("mert", "mhsa", "parallel", "before", None),
    ("mert", "ffn", "sequential", "before", True), ("mert", "all", "sequential", "after", False),
    ("musicfm", "all", "sequential", "after_add", None), ("musicfm", "ffn", "parallel", "before", True),
    ("musicfm", ["ffn1", "mhsa"], "sequential", "after", None), ("musicfm", "all", "sequential", "before", None),
]
DEFAULT_RESIDUAL = {("sequential", "after"): True, ("sequential", "after_add"): True}


@pytest.mark.parametrize("backbone,location,placement,position,residual", PLACEMENT_GRID,
                         ids=[f"{b}-{lo}-{pl}-{po}-{r}" for b, lo, pl, po, r in PLACEMENT_GRID])
def test_adapter_placement_matches_formula(backbone, location, placement, position, residual):
    """Every placement equals its hand-written formula on a real (tiny) layer, same weights."""
    plain = fresh(backbone).eval()
    bb = copy.deepcopy(plain)
    options = {"style": "houlsby", "location": location, "placement": placement, "position": position,
               "bottleneck": 4}
    if residual is not None:
        options["residual"] = residual
    state = apply_petl(bb, "adapter", options)
    expected_residual = DEFAULT_RESIDUAL.get((placement, position), False) if residual is None else residual
    assert state.options["residual"] is expected_residual
    perturb(state.trainable_parameters(), std=0.3)
    bb.eval()
    layer, ref_layer = bb.layers[1], plain.layers[1]
    with torch.no_grad():  # the trained norms are perturbed too: the hand version uses the adapted layer's
        for (n, p), q in zip(layer.named_parameters(), ref_layer.parameters()):
            if "petl" not in n:
                q.copy_(p)
    adapters = {k.split("_", 1)[1]: tap.adapter for k, tap in layer.petl.items()}
    assert sorted(adapters) == sorted(state.options["location"])
    x = torch.randn(2, 7, bb.hidden_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        if backbone == "musicfm":
            got = layer(x, relative_position_embeddings=bb.model.conformer.embed_positions(x))
        else:
            got = layer(x)
        got = got[0] if isinstance(got, tuple) else got
        want = hand_layer(backbone, plain, ref_layer, x, adapters, placement, position, expected_residual)
        plain_out = ref_layer(x, relative_position_embeddings=plain.model.conformer.embed_positions(x)) \
            if backbone == "musicfm" else ref_layer(x)
    plain_out = plain_out[0] if isinstance(plain_out, tuple) else plain_out
    assert not torch.allclose(got, plain_out, atol=1e-3)  # the adapter does something
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backbone,options,norms", [
    ("ast", {"style": "pfeiffer", "location": "mhsa"}, ["layernorm_before"]),
    ("ast", {"style": "pfeiffer"}, ["layernorm_after"]),
    ("ast", {"style": "houlsby"}, ["layernorm_after", "layernorm_before"]),
    ("ast", {"style": "houlsby", "train_norms": "none"}, []),
    ("mert", {"style": "pfeiffer", "location": "mhsa"}, ["layer_norm"]),
    ("musicfm", {"style": "houlsby"}, ["ffn1_layer_norm", "ffn2_layer_norm", "self_attn_layer_norm"]),
    ("musicfm", {"style": "pfeiffer", "train_norms": "block"},
     ["ffn1_layer_norm", "ffn2_layer_norm", "final_layer_norm", "self_attn_layer_norm"]),
])
def test_adapter_trains_the_norm_of_its_sublayer(backbone, options, norms):
    """With each adapter its sub-layer's norm trains (PETL_AST), not a new LayerNorm nor every norm."""
    bb = fresh(backbone)
    apply_petl(bb, "adapter", {"bottleneck": 4, **options})
    for layer in bb.layers:
        trained = {n.rpartition(".")[0] for n, p in layer.named_parameters() if p.requires_grad}
        assert sorted(t for t in trained if not t.startswith("petl.")) == norms
        assert all(p.requires_grad for p in layer.petl.parameters())
        assert not any(isinstance(m, nn.LayerNorm) for m in layer.petl.modules())  # no LayerNorm of its own
    outside = [n for n, p in trainable_parameters(bb) if ".layers." not in f".{n}"]
    assert not outside


def test_adapter_counts_table_i_and_seed001():
    """Table I / seed-001 counts from the presets' configurations, on the real sizes (meta device)."""
    import yaml

    def preset(name):
        folder = "seed002" if name.startswith(("adapter_pf", "adapter_hou", "convpass_")) else ""  # PETL_AST's rows
        with open(os.path.join(ROOT, "recipes", "hparams_common", "methods", folder, f"{name}.yaml")) as f:
            piece = yaml.safe_load(f)
        return piece["name"], piece["options"]

    def count(backbone, name, layers):
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            bb = build_backbone(backbone, config="real", num_layers=layers)
            return apply_petl(bb, *preset(name)).num_trainable()

    for name, want in (("adapter_pf_par", 248_976), ("adapter_pf_seq", 248_976), ("adapter_hou_par", 497_952),
                       ("adapter_hou_seq", 497_952), ("convpass_pf_par", 254_304), ("convpass_pf_seq", 254_304),
                       ("convpass_hou_par", 508_608), ("convpass_hou_seq", 508_608)):
        assert count("ast", name, 12) == want, name
    assert count("mert", "adapter_seed001", 6) == 322_752
    assert count("musicfm", "adapter_seed001", 6) == 657_696
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        bb = build_backbone("ast", config="real")
        state = apply_petl(bb, "adapter", {"style": "pfeiffer", "reduction_rate": 100})
    assert state.options["bottleneck"] == 8  # round(768 / 100), as PETL_AST (not 7)


def test_adapter_every_placement_combination_is_accepted():
    for placement in ("sequential", "parallel"):
        for position in ("before", "after"):
            for location in ("mhsa", "ffn", "both"):
                state = apply_petl(fresh("ast"), "adapter", {"placement": placement, "position": position,
                                                              "location": location, "bottleneck": 2})
                assert (state.options["placement"], state.options["position"]) == (placement, position)
    with pytest.raises(PetlError, match="after_add.*sequential"):
        apply_petl(fresh("ast"), "adapter", {"placement": "parallel", "position": "after_add"})


# ------------------------------------------------------------------ merge / save on the wrapped model (§4)
def _classifier(name="ast", seed=0):
    from lobes.heads import AudioClassifier, LinearHead

    bb = fresh(name, seed=seed)
    return AudioClassifier(bb, LinearHead(bb.hidden_size, 3))


def test_merge_on_the_wrapped_model_refuses_adapters():
    model = _classifier()
    apply_petl(model.backbone, "adapter+lora", {"adapter": {"bottleneck": 2}, "lora": {"rank": 2}})
    lora_before = sum(isinstance(m, LoRA) for m in model.modules())
    with pytest.raises(PetlError, match="cannot merge adapter"):
        merge(model)
    assert sum(isinstance(m, LoRA) for m in model.modules()) == lora_before  # nothing folded
    assert not is_merged(model) and not is_merged(model.backbone)


def test_merge_unmerge_save_load_on_the_wrapped_model(tmp_path):
    model = _classifier()
    state = apply_petl(model.backbone, "lora", {"rank": 2, "targets": ["q", "v"]})
    perturb(state.trainable_parameters())
    perturb([(n, p) for n, p in model.head.named_parameters()], seed=4)
    model.eval()
    wav, lengths = inputs(model.backbone)
    with torch.no_grad():
        ref = model(wav, lengths)
    n_lora = 2 * 2 * model.backbone.num_layers  # A and B of q and v in every layer
    merge(model)
    assert is_merged(model) and is_merged(model.backbone)  # the flag is the backbone's
    assert not any(isinstance(m, LoRA) for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(wav, lengths), ref, atol=1e-5, rtol=1e-5)
    with pytest.raises(PetlError, match="already merged"):
        merge(model.backbone)
    with pytest.raises(PetlError, match="merged; unmerge"):
        save_adapter(str(tmp_path / "a"), model)
    unmerge(model)
    assert not is_merged(model.backbone)
    save_adapter(str(tmp_path / "a"), model)
    merge(model)
    with pytest.raises(PetlError, match="merged; unmerge"):
        load_adapter(str(tmp_path / "a"), model)
    with pytest.raises(PetlError, match="merged; unmerge"):
        add_adapter(model, "b")
    unmerge(model)
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    assert sum(k.endswith(("lora_A", "lora_B")) for k in saved) == n_lora
    other = _classifier()
    load_adapter(str(tmp_path / "a"), other)
    other.eval()
    with torch.no_grad():
        torch.testing.assert_close(other(wav, lengths), ref)
    with pytest.raises(PetlError, match="no PETL method"):
        merge(_classifier())


# ------------------------------------------------------------------ one train-mode rule (§4)
TRAIN_MODE_CASES = [
    ("ast", "prompt", {"num_prompts": 2}), ("ast", "adapter", {"bottleneck": 2}),
    ("mert", "lora", {"rank": 2, "dropout": 0.1}), ("mert", "bitfit", {}),
    ("musicfm", "bitfit", {"conv_batchnorm_bias": True}), ("musicfm", "conformer_adapter", {"bottleneck": 2,
                                                                                          "kernel_size": 3}),
    ("musicfm", "prefix", {"num_prefixes": 2}), ("mert", "linear", {}), ("ast", "ft", {}),
]


@pytest.mark.parametrize("backbone,method,options", TRAIN_MODE_CASES, ids=[f"{b}-{m}" for b, m, _ in TRAIN_MODE_CASES])
def test_one_train_mode_rule(backbone, method, options):
    """``train()``: the pretrained network trains only under full fine-tuning; otherwise it is in
    eval mode (no dropout, no BatchNorm statistics) and only what the method added trains."""
    bb = fresh(backbone)
    apply_petl(bb, method, options)
    bb.train()
    added = {id(m) for top in bb.modules() if getattr(top, "petl_added", False) for m in top.modules()}
    for name, module in bb.named_modules():
        if method == "ft":
            assert module.training, name
        elif id(module) in added:
            assert module.training, name
        elif not isinstance(module, nn.ModuleDict):
            assert not module.training, name
    if method == "ft":
        return
    bns = [m for m in bb.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in added]
    stats = [(m.running_mean.clone(), m.running_var.clone()) for m in bns]
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    out = run(bb)
    for m, (mean, var) in zip(bns, stats):  # BitFit's conv BatchNorm bias trains, its statistics do not
        assert torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var)
    if method == "conformer_adapter":  # the adapter's own BatchNorm trains, statistics included
        assert any(not torch.equal(before[k], v) for k, v in bb.state_dict().items() if "running_mean" in k)
    bb.eval()
    with torch.no_grad():
        again = run(bb)
    if method not in ("lora", "conformer_adapter"):  # no dropout anywhere: train mode = eval mode
        assert_same(out, again, atol=1e-6)


# ------------------------------------------------------------------ smaller defects (§4)
def test_backbone_identity_is_the_backbones_own_attribute():
    from lobes.ast import ASTBackbone
    from petl_modules.io import backbone_identity

    assert [backbone_identity(fresh(n))["name"] for n in ("ast", "mert", "musicfm", "hubert")] == \
        ["ast", "mert", "musicfm", "hubert"]

    class MyAST(ASTBackbone):
        family = "my_ast"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert backbone_identity(MyAST(config="tiny"))["name"] == "my_ast"


def test_reduction_rate_rounds_like_petl_ast():
    assert apply_petl(fresh("ast"), "adapter", {"reduction_rate": 3}).options["bottleneck"] == 11  # 32/3 = 10.7
    assert apply_petl(fresh("ast"), "convpass", {"reduction_rate": 5}).options["bottleneck"] == 6  # 6.4


def test_prefix_mlp_hidden_needs_the_mlp():
    with pytest.raises(PetlError, match="mlp_hidden only applies to reparam='mlp'"):
        apply_petl(fresh("ast"), "prefix", {"num_prefixes": 2, "mlp_hidden": 8})
    state = apply_petl(fresh("ast"), "prefix", {"num_prefixes": 2, "reparam": "mlp"})
    assert state.options["mlp_hidden"] == 512
    assert apply_petl(fresh("ast"), "prefix", {"num_prefixes": 2}).options["mlp_hidden"] is None
