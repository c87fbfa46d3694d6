"""The model card every saved adapter folder carries: the Hub's format read back by huggingface_hub,
the run's metadata in it, and a loading snippet that runs.

Run: python -m pytest tests/unittests/test_model_card.py
"""
from __future__ import annotations

import os
import re
import sys
import warnings

import torch
from huggingface_hub import ModelCard

from lobes import build_backbone
from lobes.heads import AudioClassifier, LinearHead
from petl_modules import apply_petl, count_parameters, save_adapter
from petl_modules.model_card import hub_id

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))
import export_adapter  # noqa: E402

warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
torch.set_num_threads(1)

RUN = {"dataset": "GTZAN", "task": "classification", "main_metric": "accuracy",
       "results": {"valid": {"loss": 0.9, "accuracy": 0.71}, "test": {"loss": 1.0, "accuracy": 0.685}},
       "command": "python recipes/GTZAN/genre/train.py results/GTZAN/genre/3/hyperparams.yaml",
       "backbone_options": {"name": "ast", "config": "tiny", "max_length": 36}}


def tiny_model():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AudioClassifier(build_backbone("ast", config="tiny", max_length=36), LinearHead(32, 10))


def code_block(text: str, language: str) -> str:
    return re.search(rf"```{language}\n(.*?)```", text, re.S).group(1)


def test_card_metadata_and_body(tmp_path):
    model = tiny_model()
    model.backbone.model.config.name_or_path = "MIT/ast-finetuned-audioset-10-10-0.4593"  # as from_pretrained sets
    apply_petl(model.backbone, "lora", {"rank": 2, "targets": ["q", "v"]})
    save_adapter(str(tmp_path), model, card=RUN)
    card = ModelCard.load(str(tmp_path / "README.md"))
    data = card.data
    assert data.library_name == "petl-audio" and data.base_model == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert data.datasets == ["GTZAN"] and data.metrics == ["accuracy", "loss"]
    assert {"petl-audio", "audio", "ast", "lora", "classification"} <= set(data.tags)
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    assert results[("test", "accuracy")] == 0.685 and results[("valid", "loss")] == 0.9
    assert all(r.dataset_name == "GTZAN" for r in data.eval_results)
    counts = count_parameters(model)
    assert f"trainable parameters: {counts['trainable']:,} of {counts['total']:,}" in card.text
    assert f"head: {counts['head']:,}" in card.text
    assert '"rank": 2' in card.text and RUN["command"] in code_block(card.text, "bash")


def test_card_loading_snippet_runs(tmp_path):
    """The card's Python snippet, with the folder filled in, loads the adapter (head and all)."""
    model = tiny_model()
    apply_petl(model.backbone, "bitfit")
    save_adapter(str(tmp_path), model, card=RUN)
    snippet = code_block(ModelCard.load(str(tmp_path / "README.md")).text, "python")
    assert "build_backbone(\"ast\", config='tiny', max_length=36)" in snippet
    namespace = {}
    exec(snippet.replace("path/to/this/folder", str(tmp_path)), namespace)
    assert namespace["backbone"].petl_state.method == "bitfit"


def test_card_without_a_run(tmp_path):
    """A plain save_adapter: the card has what the model knows (no dataset, no results)."""
    torch.manual_seed(0)
    backbone = build_backbone("hubert", config="tiny", num_layers=1)
    apply_petl(backbone, "lora", {"rank": 2})
    save_adapter(str(tmp_path), backbone, format="peft")
    card = ModelCard.load(str(tmp_path / "README.md"))
    assert card.data.library_name == "peft" and card.data.datasets is None and card.data.eval_results is None
    assert "from transformers import HubertModel" in card.text and "hidden_states[1]" in card.text
    assert "## Results" not in card.text and "## Training" not in card.text


def test_hub_id():
    assert hub_id("MIT/ast-finetuned-audioset-10-10-0.4593") == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert hub_id("/data/checkpoints/mert") is None and hub_id(None) is None and hub_id("a/b/c") is None


def test_run_metadata_from_a_recipe_run():
    config = {"hparams_file": os.path.join(REPO, "recipes", "GTZAN", "genre", "hparams", "default.yaml")}
    assert export_adapter.dataset_name(config) == "GTZAN"
    assert export_adapter.dataset_name({"hparams_file": "/tmp/hparams.yaml"}) is None
    command = export_adapter.training_command("/runs/gtzan/3", config)
    assert command == "python recipes/GTZAN/genre/train.py /runs/gtzan/3/hyperparams.yaml"


def test_peft_card_snippet_gives_our_hidden_states(tmp_path):
    """The peft card's code, run as written (with the pretrained folder it names), computes our hidden
    states, also for an AST whose positional embeddings the run resized (128 -> 36 frames)."""
    from peft import PeftModel  # noqa: F401  (the snippet imports it; fail here if absent)
    from transformers import ASTConfig, ASTModel

    from lobes.ast import TINY_AST

    torch.manual_seed(0)
    ASTModel(ASTConfig(**TINY_AST)).save_pretrained(str(tmp_path / "pretrained"))
    backbone = build_backbone("ast", pretrained=str(tmp_path / "pretrained"), max_length=36).eval()
    apply_petl(backbone, "lora", {"rank": 2, "targets": ["q", "ffn_in"], "scale": 0.5})
    with torch.no_grad():
        for p in backbone.parameters():
            if p.requires_grad:
                p.normal_()
    save_adapter(str(tmp_path / "adapter"), backbone, format="peft")
    snippet = code_block(ModelCard.load(str(tmp_path / "adapter" / "README.md")).text, "python")
    assert "resize_position_embeddings(base, 36)" in snippet
    wav = torch.randn(1, 16000, generator=torch.Generator().manual_seed(1))
    features, _ = backbone.frontend(*backbone.prepare_waveform(wav))
    namespace = {"input_values": features}
    with torch.no_grad():
        exec(snippet.replace("path/to/this/folder", str(tmp_path / "adapter")), namespace)
        ours = backbone(wav).hidden_states
    for mine, theirs in zip(ours, namespace["hidden_states"], strict=True):
        assert float((mine - theirs).abs().max() / theirs.abs().max()) <= 1e-5
