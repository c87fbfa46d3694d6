"""music2vec (data2vec-audio) and musicHuBERT (HuBERT) checkpoints in their published HF format, from a
local folder: the weights load exactly, wrong or incomplete folders are refused with a clear message."""
import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import Data2VecAudioConfig, Data2VecAudioModel, HubertConfig, HubertModel

from lobes import build_backbone
from lobes.ssl_checkpoint import REQUIRED_FIELDS

TINY = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, conv_dim=[32, 32, 32],
            conv_kernel=[10, 3, 3], conv_stride=[5, 2, 2], num_feat_extract_layers=3, num_conv_pos_embedding_groups=4)
FORMATS = {  # family: (config class, model class, architecture, preprocessor_config.json as published)
    "data2vec": (Data2VecAudioConfig, Data2VecAudioModel, dict(num_conv_pos_embeddings=2, conv_pos_kernel_size=5),
                 {"do_normalize": True, "sampling_rate": 16000, "feature_size": 1}),   # music2vec-v1
    "hubert": (HubertConfig, HubertModel, dict(num_conv_pos_embeddings=16, feat_extract_norm="group"),
               {"do_normalize": False, "sampling_rate": 16000, "feature_size": 1}),  # musicHuBERT
}


def _save(folder, family):
    config_cls, model_cls, arch, preproc = FORMATS[family]
    torch.manual_seed(0)
    model = model_cls(config_cls(**TINY, **arch, architectures=[model_cls.__name__])).eval()
    model.save_pretrained(folder)
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(preproc, f)
    return model


@pytest.mark.parametrize("family", ["data2vec", "hubert"])
def test_published_format_loads_every_weight(tmp_path, family):
    reference = _save(tmp_path / "ckpt", family)
    bb = build_backbone(family, pretrained=str(tmp_path / "ckpt")).eval()
    ours = bb.model.state_dict()  # masking is off here, so the mask embedding is not built
    assert set(reference.state_dict()) - set(ours) == {"masked_spec_embed"}
    for name, tensor in ours.items():
        assert torch.equal(reference.state_dict()[name], tensor), name
    assert bb.sample_rate == 16000 and bb.do_normalize == FORMATS[family][3]["do_normalize"]
    wav = torch.randn(1, 8000)
    x = (wav - wav.mean()) / torch.sqrt(wav.var(unbiased=False) + 1e-7) if bb.do_normalize else wav
    with torch.no_grad():
        expected = reference(x, output_hidden_states=True).hidden_states
        ours = bb(wav).hidden_states
    torch.testing.assert_close(ours[-1], expected[3], atol=1e-4, rtol=1e-4)
    two = build_backbone(family, pretrained=str(tmp_path / "ckpt"), num_layers=2)  # dropped layer: fine
    assert two.num_layers == 2


def _edit_config(folder, **changes):
    path = os.path.join(folder, "config.json")
    raw = json.load(open(path))
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    json.dump(raw, open(path, "w"))


def test_wrong_or_incomplete_folders_are_refused(tmp_path):
    folder = str(tmp_path / "ckpt")
    _save(folder, "data2vec")
    with pytest.raises(ValueError, match="'data2vec-audio' is not a hubert checkpoint.*use backbone 'data2vec'"):
        build_backbone("hubert", pretrained=folder)
    _edit_config(folder, conv_bias=None)
    with pytest.raises(ValueError, match="config.json: missing architecture field\\(s\\) conv_bias"):
        build_backbone("data2vec", pretrained=folder)
    _edit_config(folder, conv_bias=False, auto_map={"AutoModel": "x.Model"})
    with pytest.raises(ValueError, match="auto_map asks for remote code"):
        build_backbone("data2vec", pretrained=folder)
    _edit_config(folder, auto_map=None)
    weights = os.path.join(folder, "model.safetensors")
    state = load_file(weights)
    kept = {k: v for k, v in state.items() if not k.startswith("encoder.layers.1.")}
    save_file(kept, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="lacks .* weight\\(s\\) of this architecture"):
        build_backbone("data2vec", pretrained=folder)
    assert build_backbone("data2vec", pretrained=folder, num_layers=1).num_layers == 1  # layer 1 is not kept
    with pytest.raises(FileNotFoundError, match="no config.json"):
        build_backbone("hubert", pretrained=str(tmp_path))
    assert "conv_pos_kernel_size" in REQUIRED_FIELDS["data2vec"]
