"""Frame models take every layer choice of the clip-level recipes, and AST frame models refuse
input past their patch grid (issue 19 §5).

``layer: weighted`` or ``[first, last]`` in a frame recipe used to end in "'<=' not supported
between instances of 'int' and 'str'"; an AST input a little longer than ``max_length`` fbank
frames was accepted and its end silently dropped.

Run: python -m pytest tests/unittests/test_frame_layer_choice.py
"""
from __future__ import annotations

import logging

import pytest
import torch

from lobes import build_backbone
from lobes.frame_head import FrameModel
from lobes.heads import LinearHead

logging.getLogger("lobes").setLevel(logging.ERROR)
torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["musicfm", "ast"])
@pytest.mark.parametrize("target_rate", [None, 100])
def test_weighted_and_range_choices_combine_the_per_layer_frames(name, target_rate):
    """Linear head: a choice's logits are the same combination of the single layers' logits."""
    torch.manual_seed(0)
    bb = build_backbone(name, config="tiny").eval()
    head = LinearHead(bb.hidden_size, 3)
    wav, lengths = torch.randn(2, bb.sample_rate), torch.tensor([1.0, 0.8])
    with torch.no_grad():
        single = [FrameModel(bb, head, layer=k, target_rate=target_rate)(wav, lengths)
                  for k in range(bb.num_layers + 1)]
        weighted = FrameModel(bb, head, layer="weighted", target_rate=target_rate)
        with torch.no_grad():
            weighted.layer_choice.weights.copy_(torch.arange(bb.num_layers + 1.0))
        logits, mask = weighted(wav, lengths)
        ranged, ranged_mask = FrameModel(bb, head, layer=[1, 2], target_rate=target_rate)(wav, lengths)
    w = torch.softmax(torch.arange(bb.num_layers + 1.0), 0)
    torch.testing.assert_close(logits, sum(wk * s[0] for wk, s in zip(w, single)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ranged, (single[1][0] + single[2][0]) / 2, rtol=1e-5, atol=1e-5)
    assert torch.equal(mask, single[0][1]) and torch.equal(ranged_mask, single[0][1])
    assert weighted.layer == "weighted"
    assert len(weighted.layer_choice.extra_results()["layer_weights"]) == bb.num_layers + 1


def test_a_bad_layer_choice_is_one_clear_error():
    bb = build_backbone("musicfm", config="tiny")
    with pytest.raises(ValueError, match="layer: unknown choice 'best'"):
        FrameModel(bb, LinearHead(bb.hidden_size, 2), layer="best")
    with pytest.raises(ValueError, match="between 0 and 2"):
        FrameModel(bb, LinearHead(bb.hidden_size, 2), layer=5)


def test_ast_frame_model_takes_exactly_what_its_patch_grid_covers():
    bb = build_backbone("ast", config="tiny").eval()  # 128 fbank frames: 400 + 127 * 160 samples
    model = FrameModel(bb, LinearHead(bb.hidden_size, 2))
    longest = bb.max_input_samples
    with torch.no_grad():
        logits, mask = model(torch.randn(1, longest))
    assert bool(mask.all())
    with pytest.raises(ValueError, match="would drop"):
        model(torch.randn(1, longest + 160))
