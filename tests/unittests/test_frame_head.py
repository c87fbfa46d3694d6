"""Frame-level outputs: exact frame timing per backbone, frame tokens, resampling, stitching."""
import warnings

import numpy as np
import pytest
import torch

from lobes import build_backbone
from lobes.backbone import BackboneOutput
from lobes.frame_head import FrameModel, FrameTiming, frame_timing, frame_tokens, predict_long, resample_frames
from lobes.heads import LinearHead, MLPHead
from lobes.speech_ssl import TINY_SSL
from petl_modules import apply_petl

torch.set_num_threads(1)
warnings.simplefilter("ignore")


def test_real_backbone_rates_and_first_frame_centres():
    with torch.device("meta"):
        mert = build_backbone("mert", config="real", num_layers=1)
        musicfm = build_backbone("musicfm", config="real", num_layers=1)
        ast = build_backbone("ast", config="real", num_layers=1)
    assert frame_timing(mert) == FrameTiming(75.0, 199.5 / 24000)  # hop 320, receptive field 400
    assert frame_timing(musicfm) == FrameTiming(25.0, 0.0)
    assert frame_timing(ast) == FrameTiming(10.0, (7.5 * 160 + 199.5) / 16000)


def _support_midpoint(wav_grad: torch.Tensor) -> float:
    nz = torch.nonzero(wav_grad.abs() > 0).flatten()
    return (float(nz[0]) + float(nz[-1])) / 2


def _frame_features(name, bb, wav):
    """Per-frame front-end output (the local part of each backbone), differentiable in ``wav``."""
    lengths = torch.tensor([wav.shape[1]])
    if name == "mert":
        return bb.model.feature_extractor(wav).transpose(1, 2)
    feats = bb.frontend(wav, lengths)
    x, mask = bb.embed(*feats)
    return frame_tokens(bb, BackboneOutput((x,), mask), 0)[0]


@pytest.mark.parametrize("name,config", [
    ("mert", {**TINY_SSL, "feat_extract_norm": "layer"}),  # layer norm: the conv stack stays local
    ("musicfm", "tiny"), ("ast", "tiny")])
def test_target_time_lands_on_the_frame_whose_receptive_field_it_centres(name, config):
    """Measured: the samples frame k depends on are centred at timing.first + k / rate."""
    bb = build_backbone(name, config=config).eval()
    timing = frame_timing(bb)
    sr = bb.sample_rate
    wav = torch.randn(1, int(1.2 * sr), requires_grad=True)
    feats = _frame_features(name, bb, wav)
    for k in (3, feats.shape[1] // 2):
        (grad,) = torch.autograd.grad(feats[0, k].sum(), wav, retain_graph=True)
        centre = _support_midpoint(grad[0]) / sr
        assert abs(centre - timing.times(k + 1)[k]) < 1.5 / sr
        assert int(timing.frame_of(centre)) == k
        # and any time within half a frame of the centre lands on k
        assert timing.frame_of([centre - 0.49 / timing.rate, centre + 0.49 / timing.rate]).tolist() == [k, k]


@pytest.mark.parametrize("name", ["ast", "mert", "musicfm", "hubert"])
@pytest.mark.parametrize("target_rate", [None, 50])
def test_frame_model_shapes_and_masks(name, target_rate):
    bb = build_backbone(name, config="tiny")
    model = FrameModel(bb, MLPHead(bb.hidden_size, 3), target_rate=target_rate).eval()
    sr = bb.sample_rate
    wav = torch.randn(2, sr)  # 1 s (AST tiny covers 1.28 s)
    logits, mask = model(wav, torch.tensor([1.0, 0.5]))
    timing = model.timing
    assert logits.shape[0] == 2 and logits.shape[2] == 3 and mask.shape == logits.shape[:2]
    centres = timing.times(logits.shape[1])
    assert mask[0].sum() == min(logits.shape[1], int((centres < 1.0).sum()))
    assert int(mask[1].sum()) <= int((centres < 0.5).sum()) and int(mask[1].sum()) >= int((centres < 0.5).sum()) - 1
    if target_rate:
        assert logits.shape[1] == timing.num_frames(1.0) == 50


def test_frame_model_refuses_a_clip_longer_than_ast_covers():
    bb = build_backbone("ast", config="tiny")  # max_length 128 fbank frames = 1.28 s
    with pytest.raises(ValueError, match="use windows"):
        FrameModel(bb, LinearHead(bb.hidden_size, 2))(torch.randn(1, 3 * 16000))


@pytest.mark.parametrize("name", ["ast", "mert"])
def test_prompt_tokens_do_not_change_the_frames(name):
    bb = build_backbone(name, config="tiny")
    model = FrameModel(bb, LinearHead(bb.hidden_size, 2)).eval()
    wav = torch.randn(1, bb.sample_rate)
    n = model(wav)[0].shape[1]
    apply_petl(bb, "prompt", {"num_prompts": 4, "deep": True})
    assert model(wav)[0].shape[1] == n


def test_resample_frames_is_exact_on_a_linear_signal():
    src = FrameTiming(25.0, 0.01)
    t = torch.as_tensor(src.times(50))
    logits = torch.stack([2 * t + 1, -t], dim=-1)[None].float()
    out = resample_frames(logits, torch.tensor([50]), src, 100.0, 200)
    times = torch.arange(200) / 100.0
    inside = (times >= src.first) & (times <= src.times(50)[-1])
    assert torch.allclose(out[0, inside, 0], (2 * times[inside] + 1).float(), atol=1e-5)
    assert torch.allclose(out[0, ~inside & (times > 1), 0], logits[0, -1, 0])  # held, never extrapolated


@pytest.mark.parametrize("name,config,target_rate", [
    ("musicfm", "tiny", None), ("musicfm", "tiny", 100),
    ("data2vec", dict(TINY_SSL, num_conv_pos_embedding_layers=2), None)])
def test_stitched_windows_equal_one_long_forward_for_a_local_model(name, config, target_rate):
    """Front-end-level outputs (layer 0) depend on a short neighbourhood only: stitching is exact."""
    torch.manual_seed(0)
    options = {"do_normalize": False} if name == "data2vec" else {}
    bb = build_backbone(name, config=config, **options).eval()
    model = FrameModel(bb, LinearHead(bb.hidden_size, 2), layer=0, target_rate=target_rate).eval()
    wav = torch.randn(int(4.3 * bb.sample_rate))
    with torch.no_grad():
        long, _ = model(wav[None])
    stitched = predict_long(model, wav, window_seconds=1.5, overlap_seconds=0.6)
    assert stitched.shape == long[0].shape
    torch.testing.assert_close(stitched, long[0], atol=1e-4, rtol=1e-4)


def test_stitching_a_short_clip_is_one_forward_and_windows_cover_a_long_one():
    bb = build_backbone("ast", config="tiny")
    model = FrameModel(bb, LinearHead(bb.hidden_size, 2), target_rate=100).eval()
    short = torch.randn(16000)
    with torch.no_grad():
        torch.testing.assert_close(predict_long(model, short, 1.2, 0.4), model(short[None])[0][0])
    out = predict_long(model, torch.randn(5 * 16000), 1.2, 0.4)
    assert out.shape == (500, 2) and bool((out != 0).any(-1).all())
    with pytest.raises(ValueError, match="overlap"):
        predict_long(model, short, 1.0, 1.0)
