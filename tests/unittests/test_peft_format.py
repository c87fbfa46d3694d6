"""LoRA in peft's format, against the real peft: save here -> ``PeftModel.from_pretrained`` on the
plain transformers model gives our outputs; peft's ``save_pretrained`` -> ``load_adapter`` here gives
peft's outputs; methods peft cannot express are refused; saving never overwrites silently.

Run: python -m pytest tests/unittests/test_peft_format.py
"""
from __future__ import annotations

import copy
import json
import os
import warnings

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from lobes import build_backbone
from lobes.heads import AudioClassifier, LinearHead
from petl_modules import PetlError, apply_petl, load_adapter, save_adapter

warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
torch.set_num_threads(1)

FAMILIES = ["ast", "mert", "hubert", "wav2vec2", "data2vec"]


def tiny(family, seed=0, **kw):
    torch.manual_seed(seed)
    if family == "ast":
        kw.setdefault("max_length", 36)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone(family, config="tiny", **kw).eval()


def randomize_lora(module, seed=5):
    """Random non-zero LoRA matrices (B is zero at init: an untrained LoRA would prove nothing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def model_inputs(bb):
    """``(wav for our backbone, input_values for the plain transformers model)``: one full-length batch."""
    wav = torch.randn(2, 8000, generator=torch.Generator().manual_seed(1))
    lengths = torch.ones(2, dtype=torch.long) * wav.shape[1]
    features, _ = bb.frontend(*bb.prepare_waveform(wav))
    return wav, features if bb.family == "ast" else features[:, : lengths[0]]


def plain_copy(bb, full_layers: bool = False):
    """The plain transformers model with ``bb``'s (pretrained) weights, optionally at full depth."""
    if not full_layers:
        return copy.deepcopy(bb.model).eval()
    config = copy.deepcopy(bb.model.config)
    config.num_hidden_layers = bb.full_num_layers
    full = type(bb.model)(config)
    missing, unexpected = full.load_state_dict(bb.model.state_dict(), strict=False)
    assert not unexpected and all(".layers." in k for k in missing)  # only the layers our backbone dropped
    return full.eval()


def relative_max_diff(ours, theirs):
    return float((ours - theirs).abs().max() / theirs.abs().max())


def check_same_hidden(ours, theirs, n):
    for k in range(n + 1):
        assert relative_max_diff(ours[k], theirs[k]) <= 1e-5, k


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_here_loads_in_peft(tmp_path, family):
    bb = tiny(family)
    plain = plain_copy(bb)
    apply_petl(bb, "lora", {"rank": 2, "targets": ["q", "v", "ffn_out"], "scale": 1.5})
    randomize_lora(bb)
    save_adapter(str(tmp_path), bb, format="peft")
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(os.listdir(tmp_path))
    peft_model = PeftModel.from_pretrained(plain, str(tmp_path)).eval()
    wav, values = model_inputs(bb)
    with torch.no_grad():
        ours = bb(wav).hidden_states
        theirs = peft_model(values, output_hidden_states=True).hidden_states
    check_same_hidden(ours, theirs, bb.num_layers)
    with torch.no_grad(), peft_model.disable_adapter():  # the LoRA matters: without it, other outputs
        assert relative_max_diff(ours[-1], peft_model(values, output_hidden_states=True).hidden_states[-1]) > 1e-2
    n_lora = sum(1 for n, _ in peft_model.named_parameters() if "lora_" in n)
    assert n_lora == 2 * 3 * bb.num_layers  # A and B of three modules in every layer, nothing else


def test_truncated_backbone_and_chosen_layers(tmp_path):
    """A backbone keeping 1 of 2 layers: peft adapts only that layer of the full published model."""
    bb = tiny("hubert", num_layers=1)
    full = plain_copy(bb, full_layers=True)
    apply_petl(bb, "lora", {"rank": 2, "alpha": 4})
    randomize_lora(bb)
    save_adapter(str(tmp_path), bb, format="peft")
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["layers_to_transform"] == [0] and config["lora_alpha"] == 4.0 and config["r"] == 2
    peft_model = PeftModel.from_pretrained(full, str(tmp_path)).eval()
    wav, values = model_inputs(bb)
    with torch.no_grad():
        ours = bb(wav).hidden_states
        theirs = peft_model(values, output_hidden_states=True).hidden_states
    assert len(theirs) == 3 and len(ours) == 2
    check_same_hidden(ours, theirs, 1)


@pytest.mark.parametrize("family", ["ast", "wav2vec2"])
def test_trained_with_peft_loads_here(tmp_path, family):
    bb = tiny(family)
    plain = plain_copy(bb)
    targets = ["attention.k_proj", "mlp.fc1"] if family == "ast" else ["k_proj", "intermediate_dense"]
    peft_model = get_peft_model(plain, LoraConfig(r=3, lora_alpha=5, target_modules=targets,
                                                  layers_to_transform=[1], layers_pattern="layers"))
    randomize_lora(peft_model)
    peft_model.save_pretrained(str(tmp_path))
    state = load_adapter(str(tmp_path), bb)
    assert state.options["targets"] == ["k", "ffn_in"] and state.options["layers_to_transform"] == [1]
    assert state.options["scale"] == pytest.approx(5 / 3)
    wav, values = model_inputs(bb)
    peft_model.eval()
    with torch.no_grad():
        ours = bb.eval()(wav).hidden_states
        theirs = peft_model(values, output_hidden_states=True).hidden_states
    check_same_hidden(ours, theirs, bb.num_layers)


def test_round_trip_with_head(tmp_path):
    """Our model with its head -> peft format -> load_adapter: the same logits (head beside, in head.safetensors)."""
    model = AudioClassifier(tiny("data2vec"), LinearHead(32, 3)).eval()
    apply_petl(model.backbone, "lora", {"rank": 2})
    randomize_lora(model)
    wav, _ = model_inputs(model.backbone)
    with torch.no_grad():
        ref = model(wav)
    save_adapter(str(tmp_path), model, format="peft")
    assert "head.safetensors" in os.listdir(tmp_path)
    other = AudioClassifier(tiny("data2vec"), LinearHead(32, 3)).eval()
    load_adapter(str(tmp_path), other)
    with torch.no_grad():
        torch.testing.assert_close(other(wav), ref)
    with pytest.raises(PetlError, match="trained for backbone 'data2vec'"):
        load_adapter(str(tmp_path), tiny("hubert"))


@pytest.mark.parametrize("live_options,loads", [
    ({"rank": 2, "alpha": 4.0, "init": "petl_ast"}, True),  # another initialisation: the trained tensors replace it
    ({"reduction_rate": 16, "alpha": 4.0}, True),   # the same LoRA spelled another way (rank 32/16 = 2, scale 2)
    ({"rank": 4, "alpha": 8.0}, False),             # another rank
    ({"rank": 2, "targets": ["q", "k", "v"]}, False),
])
def test_peft_folder_onto_a_backbone_carrying_lora(tmp_path, live_options, loads):
    """A peft folder loads onto a backbone that already carries a LoRA with the same trained options."""
    source = tiny("hubert")
    apply_petl(source, "lora", {"rank": 2, "alpha": 4.0})
    randomize_lora(source)
    save_adapter(str(tmp_path), source, format="peft")
    target = tiny("hubert", seed=0)
    apply_petl(target, "lora", live_options)
    if not loads:
        with pytest.raises(PetlError, match="adapter uses method 'lora'"):
            load_adapter(str(tmp_path), target)
        return
    load_adapter(str(tmp_path), target)
    wav, _ = model_inputs(source)
    with torch.no_grad():
        torch.testing.assert_close(target(wav).hidden_states[-1], source(wav).hidden_states[-1])


@pytest.mark.parametrize("method,options", [
    ("adapter", {"bottleneck": 4}), ("prompt", {"num_prompts": 2}), ("prefix", {"num_prefixes": 2}), ("ssf", {}),
    ("convpass", {}), ("lora+bitfit", {}),
])
def test_methods_peft_cannot_express_are_refused(tmp_path, method, options):
    bb = tiny("ast")
    apply_petl(bb, method, options)
    with pytest.raises(PetlError, match=r'format="petl", the default'):
        save_adapter(str(tmp_path / "a"), bb, format="peft")
    assert not (tmp_path / "a").exists()  # nothing written


def test_musicfm_is_not_a_transformers_model(tmp_path):
    bb = tiny("musicfm")
    apply_petl(bb, "lora", {"rank": 2})
    with pytest.raises(PetlError, match="not a transformers model.*own format"):
        save_adapter(str(tmp_path), bb, format="peft")


def test_peft_options_this_lora_lacks_are_refused(tmp_path):
    bb = tiny("ast")
    peft_model = get_peft_model(plain_copy(bb), LoraConfig(r=2, target_modules=["q_proj"], use_dora=True))
    peft_model.save_pretrained(str(tmp_path))
    with pytest.raises(PetlError, match="use_dora"):
        load_adapter(str(tmp_path), tiny("ast"))


def test_never_overwrites_silently(tmp_path):
    bb = tiny("ast")
    apply_petl(bb, "lora", {"rank": 2})
    randomize_lora(bb)
    save_adapter(str(tmp_path), bb)
    before = (tmp_path / "adapter_model.safetensors").read_bytes()
    randomize_lora(bb, seed=9)
    with pytest.raises(PetlError, match="already holds adapter_config.json.*overwrite=True"):
        save_adapter(str(tmp_path), bb)
    assert (tmp_path / "adapter_model.safetensors").read_bytes() == before
    save_adapter(str(tmp_path), bb, format="peft", overwrite=True)  # replaced, no file of the old format left
    assert "petl_adapter.json" in os.listdir(tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["peft_type"] == "LORA"
    (tmp_path / "file").write_text("mine")
    with pytest.raises(PetlError, match="is a file, not a folder"):
        save_adapter(str(tmp_path / "file"), bb)
    assert (tmp_path / "file").read_text() == "mine"
    with pytest.raises(PetlError, match="format='onnx'"):
        save_adapter(str(tmp_path / "new"), bb, format="onnx")


def test_peft_head_tensors_are_refused_or_left_out(tmp_path):
    """A peft head (modules_to_save) has no place here: refused with strict, left out otherwise."""
    bb = tiny("hubert")
    plain = nn.Module()
    plain.hubert, plain.classifier = plain_copy(bb), nn.Linear(32, 2)
    peft_model = get_peft_model(plain, LoraConfig(r=2, target_modules=["q_proj", "v_proj"],
                                                  modules_to_save=["classifier"]))
    randomize_lora(peft_model)
    peft_model.save_pretrained(str(tmp_path))
    with pytest.raises(PetlError, match="not LoRA matrices.*strict=False"):
        load_adapter(str(tmp_path), tiny("hubert"))
    state = load_adapter(str(tmp_path), tiny("hubert"), strict=False)
    assert state.options["targets"] == ["q", "v"]


def test_unreadable_folders_are_one_clear_error(tmp_path):
    bb = tiny("ast")
    peft_model = get_peft_model(plain_copy(bb), LoraConfig(r=2, target_modules=["q_proj"]))
    peft_model.save_pretrained(str(tmp_path / "bin"), safe_serialization=False)
    with pytest.raises(PetlError, match="no adapter_model.safetensors.*adapter_model.bin.*safe_serialization"):
        load_adapter(str(tmp_path / "bin"), tiny("ast"))
    peft_model.save_pretrained(str(tmp_path / "cut"))
    weights = tmp_path / "cut" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:50])
    with pytest.raises(PetlError, match="unreadable safetensors file"):
        load_adapter(str(tmp_path / "cut"), tiny("ast"))
