"""Prompts keep every audio token at its position (issue 19 §4).

transformers' conformer rotates the hidden states by their position before the q/k projections,
so prepended prompts used to shift every MusicFM audio token by ``num_prompts`` positions. With
prompts that no token can attend to (their mask entries False), the audio outputs must be exactly
those of the backbone without prompts: on MusicFM (rotary positions, depthwise convolutions) and
on HuBERT (convolutional positions before the layers).

Run: python -m pytest tests/unittests/test_prompt_positions.py
"""
from __future__ import annotations

import logging

import pytest
import torch

from lobes import build_backbone
from petl_modules import apply_petl

logging.getLogger("lobes").setLevel(logging.ERROR)
torch.set_num_threads(1)


def _unattended(edit) -> None:
    """Make ``edit``'s prompt tokens invisible: their mask entries become False."""
    before = edit.before_layer

    def before_layer(i, x, mask):
        x, new_mask = before(i, x, mask)
        if new_mask is not mask:
            new_mask = new_mask.clone()
            new_mask[:, : edit.num_prompts] = False
        return x, new_mask

    edit.before_layer = before_layer


@pytest.mark.parametrize("name", ["musicfm", "hubert"])
@pytest.mark.parametrize("deep", [False, True])
def test_prompts_no_token_attends_to_leave_the_audio_outputs_unchanged(name, deep):
    torch.manual_seed(0)
    bb = build_backbone(name, config="tiny").eval()
    wav, lengths = torch.randn(2, bb.sample_rate), torch.tensor([1.0, 0.7])
    with torch.no_grad():
        plain = bb(wav, lengths)
    apply_petl(bb, "prompt", {"num_prompts": 4, "deep": deep, "init_std": 1.0})
    _unattended(bb.sequence_edits[0])
    with torch.no_grad():
        prompted = bb(wav, lengths)
    assert torch.equal(prompted.mask, plain.mask)
    for k, (a, b) in enumerate(zip(plain.hidden_states, prompted.hidden_states)):
        torch.testing.assert_close(b[plain.mask], a[plain.mask], rtol=1e-5, atol=1e-5, msg=f"hidden state {k}")


def test_attended_prompts_do_change_the_audio_outputs():
    """The same prompts, visible: the comparison above can see a change."""
    torch.manual_seed(0)
    bb = build_backbone("musicfm", config="tiny").eval()
    wav = torch.randn(1, bb.sample_rate)
    with torch.no_grad():
        plain = bb(wav).last
    apply_petl(bb, "prompt", {"num_prompts": 4, "init_std": 1.0})
    with torch.no_grad():
        prompted = bb(wav).last
    assert (prompted - plain).abs().max() > 1e-2
