"""PETL_AST's pooling options (issue 19 §3): ``pooling`` of the backbone piece, used by every head.

References are PETL_AST's formulas (``src/AST.py``, ``src/AST_prompt_tuning.py``: ``CLS``, ``ALL``,
``PROMPTS``, ``SPEECH``, ``PROMPTS+SPEECH``) on a token sequence built with transformers'
``ASTModel`` modules directly: embeddings, prompts prepended (replaced before every layer when
deep), the layers, the final LayerNorm. PETL_AST puts its prompts where the distillation token
was; here they come first and the distillation token stays (AST's layers carry no positions, so
only ``all``, which then also averages the distillation token, differs).

Run: python -m pytest tests/unittests/test_ast_pooling.py
"""
from __future__ import annotations

import logging

import pytest
import torch

from lobes import build_backbone
from lobes.cache import FeatureCache
from lobes.heads import AudioClassifier, LinearHead
from petl_modules import apply_petl

logging.getLogger("lobes").setLevel(logging.ERROR)
torch.set_num_threads(1)

NUM_PROMPTS = 3


def _reference_sequence(bb, wav: torch.Tensor, prompts: torch.Tensor | None) -> torch.Tensor:
    """LayerNorm(layers([prompts, CLS, dist, patches])) with transformers' modules; ``prompts``:
    ``[L, P, D]`` (one set per layer, deep) or ``[1, P, D]`` (shallow) or None."""
    model = bb.model
    features, _ = bb.frontend(*bb.prepare_waveform(wav))
    x = model.embeddings(features)
    p = 0 if prompts is None else prompts.shape[1]
    for i, layer in enumerate(model.layers):
        if prompts is not None and (i == 0 or prompts.shape[0] > 1):
            x = torch.cat([prompts[i].expand(x.shape[0], -1, -1), x[:, p if i else 0:]], 1)
        x = layer(x, None)
    return model.layernorm(x)


def _petl_ast(seq: torch.Tensor, p: int) -> dict:
    """PETL_AST's FINAL_OUTPUT choices on our token order (prompts first, then CLS, dist, patches)."""
    return {
        "cls": seq[:, p],
        "all": seq.mean(1),
        "mean": seq[:, p:].mean(1),
        "prompts": seq[:, :p].mean(1),
        "audio": seq[:, p + 2:].mean(1),
        "prompts+audio": torch.cat([seq[:, :p], seq[:, p + 2:]], 1).mean(1),
    }


@pytest.mark.parametrize("prompting", [None, "shallow", "deep"])
def test_every_pooling_is_petl_asts_formula(prompting):
    torch.manual_seed(0)
    bb = build_backbone("ast", config="tiny").eval()
    prompts = None
    if prompting:
        apply_petl(bb, "prompt", {"num_prompts": NUM_PROMPTS, "deep": prompting == "deep", "init_std": 1.0})
        prompts = bb.sequence_edits[0].prompts.detach()
    wav = torch.randn(2, 16000)
    with torch.no_grad():
        expected = _petl_ast(_reference_sequence(bb, wav, prompts), 0 if prompts is None else NUM_PROMPTS)
        model = AudioClassifier(bb, LinearHead(bb.hidden_size, 2))
        for pooling, reference in expected.items():
            if prompting is None and pooling in ("prompts", "prompts+audio"):
                continue
            bb.configure(pooling=pooling)
            torch.testing.assert_close(model.embed(wav), reference, rtol=1e-5, atol=1e-5, msg=pooling)
    assert not torch.allclose(expected["cls"], expected["mean"])


def test_pooling_is_a_build_option_and_bad_choices_are_clear_errors():
    assert build_backbone("ast", config="tiny", pooling="cls").pooling == "cls"
    with pytest.raises(ValueError, match="pooling: unknown choice 'first'; valid: mean, cls"):
        build_backbone("ast", config="tiny", pooling="first")
    with pytest.raises(ValueError, match="needs a CLS token, which the hubert backbone does not have"):
        build_backbone("hubert", config="tiny", pooling="cls")
    bb = build_backbone("hubert", config="tiny", pooling="prompts")
    with pytest.raises(ValueError, match="pools prompt tokens, but hidden state 2 has none"):
        AudioClassifier(bb, LinearHead(bb.hidden_size, 2))(torch.randn(1, 16000))


def test_prompt_pooling_on_a_padded_speech_batch():
    """HuBERT + prompts, padded batch: ``audio`` = mean over valid tokens, ``prompts+audio`` adds the prompts."""
    torch.manual_seed(0)
    bb = build_backbone("hubert", config="tiny").eval()
    apply_petl(bb, "prompt", {"num_prompts": NUM_PROMPTS, "init_std": 1.0})
    wav, lengths = torch.randn(2, 16000), torch.tensor([1.0, 0.5])
    with torch.no_grad():
        out = bb(wav, lengths)
        tokens, prompts, mask = out.last, out.prompt_states[-1], out.mask
        assert prompts.shape[1] == NUM_PROMPTS
        short = int(mask[1].sum())
        pooled = {}
        for pooling in ("audio", "prompts+audio", "prompts"):
            bb.configure(pooling=pooling)
            pooled[pooling] = bb.pool(out, bb.num_layers)
    torch.testing.assert_close(pooled["audio"][1], tokens[1, :short].mean(0))
    torch.testing.assert_close(pooled["prompts+audio"][1], torch.cat([prompts[1], tokens[1, :short]]).mean(0))
    torch.testing.assert_close(pooled["prompts"], prompts.mean(1))


def test_the_pooled_feature_cache_is_kept_per_pooling():
    bb = build_backbone("ast", config="tiny").requires_grad_(False).eval()
    bb.feature_cache = FeatureCache()
    model = AudioClassifier(bb, LinearHead(bb.hidden_size, 2))
    wav = torch.randn(2, 16000)
    cached = {}
    for pooling in ("mean", "cls", "mean", "cls"):
        bb.configure(pooling=pooling)
        cached.setdefault(pooling, []).append(model.embed(wav, cache_keys=["a", "b"]))
    assert bb.feature_cache.hits == 4 and len(bb.feature_cache) == 4
    assert not torch.allclose(cached["mean"][0], cached["cls"][0])
    for first, again in cached.values():
        torch.testing.assert_close(again, first)
