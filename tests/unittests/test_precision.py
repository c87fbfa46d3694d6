"""Mixed precision and host synchronisation hazards of the backbones (issue 25), tested on the CPU.

* front ends (mel, fbank, waveform normalisation) and resampling run in float32 whatever the
  autocast precision (fp16 overflows MusicFM's power spectrum; CUDA's rfft refuses bf16);
* a feature-cache folder written in bf16 is reused by an fp32 run without mixing dtypes;
* MusicFM's rotary table follows the dtype of each forward (transformers' cache keeps the first);
* AST's batched fbank equals ``torchaudio.compliance.kaldi.fbank`` per clip;
* the per-layer path reads nothing back to the host: the read-backs of a forward do not grow
  with the number of layers (counted by patching ``Tensor.__bool__`` / ``item`` / ``tolist``...).

Run: python -m pytest tests/unittests/test_precision.py
"""
from __future__ import annotations

import collections
import contextlib
import logging

import pytest
import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi

from lobes import build_backbone
from lobes.ast import TINY_AST
from lobes.cache import FeatureCache
from lobes.musicfm import TINY_MUSICFM
from lobes.speech_ssl import TINY_SSL
from petl_modules import apply_petl

logging.getLogger("lobes").setLevel(logging.ERROR)
torch.set_num_threads(1)


def _capture_features(bb) -> list:
    """Record what the front end hands to ``embed`` on each forward."""
    seen, embed = [], bb.embed

    def recording_embed(features, lengths):
        seen.append(features.detach().clone())
        return embed(features, lengths)

    bb.embed = recording_embed
    return seen


def test_musicfm_front_end_is_fp32_and_finite_under_fp16_autocast():
    """Loud (power > 65504) and silent passages: fp16 autocast used to give inf / -inf mel dB."""
    torch.manual_seed(0)
    bb = build_backbone("musicfm", config="tiny").eval()
    wav = torch.cat([300.0 * torch.randn(12000), torch.zeros(12000)])[None]
    seen = _capture_features(bb)
    with torch.no_grad():
        bb(wav)
        with torch.autocast("cpu", dtype=torch.float16):
            out = bb(wav)
    fp32, fp16 = seen
    assert fp16.dtype == torch.float32 and torch.isfinite(fp16).all()
    torch.testing.assert_close(fp16, fp32, rtol=0, atol=0)
    assert all(torch.isfinite(h).all() for h in out.hidden_states)


@pytest.mark.parametrize("name", ["ast", "hubert", "wav2vec2"])
def test_resampling_and_front_end_run_in_fp32_under_bf16_autocast(name):
    """Another input rate under bf16 autocast: the front end gets, and gives, float32 (as fp32)."""
    bb = build_backbone(name, config="tiny").eval()
    seen = _capture_features(bb)
    wav = torch.randn(2, 8000)
    with torch.no_grad():
        bb(wav, torch.tensor([1.0, 0.7]), sample_rate=8000)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bb(wav, torch.tensor([1.0, 0.7]), sample_rate=8000)
    assert seen[1].dtype == torch.float32
    torch.testing.assert_close(seen[1], seen[0], rtol=0, atol=0)


def test_a_cache_folder_written_in_bf16_is_reused_by_an_fp32_run(tmp_path):
    """MusicFM + LoRA (cached: the embeddings): bf16 run, then fp32 run on the same folder and keys."""
    torch.manual_seed(0)
    bb = build_backbone("musicfm", config="tiny")
    apply_petl(bb, "lora", {"rank": 2})
    bb.eval()
    wav, lengths, keys = torch.randn(2, 24000), torch.tensor([1.0, 0.6]), ["a", "b"]
    with torch.no_grad():
        plain = bb(wav, lengths)
    bb.feature_cache = FeatureCache(str(tmp_path / "cache"), identity={"backbone": "tiny musicfm"})
    with torch.autocast("cpu", dtype=torch.bfloat16):  # training forwards: the embeddings are cached
        bb(wav, lengths, cache_keys=keys)
    bb(wav, lengths, cache_keys=keys)  # an fp32 run: its own entries (it crashed on the bf16 ones)
    again = bb(wav, lengths, cache_keys=keys)  # now from the fp32 entries
    assert len(bb.feature_cache) == 4 and bb.feature_cache.hits == 2
    assert again.last.dtype == torch.float32 and torch.equal(again.mask, plain.mask)
    torch.testing.assert_close(again.last[again.mask], plain.last[plain.mask], rtol=1e-5, atol=1e-6)


def test_musicfm_rotary_table_follows_the_precision_of_each_forward():
    """A bf16 autocast forward, then an fp32 one: equal to a model that only ran in fp32."""
    torch.manual_seed(0)
    bb = build_backbone("musicfm", config="tiny").eval()
    fresh = build_backbone("musicfm", config="tiny").eval()
    fresh.load_state_dict(bb.state_dict())
    wav = torch.randn(1, 24000)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bb(wav)
        after = bb(wav).last
        expected = fresh(wav).last
    torch.testing.assert_close(after, expected, rtol=0, atol=0)


def test_ast_batched_fbank_equals_kaldi_fbank_per_clip():
    """The batched front end against torchaudio's kaldi.fbank run on each clip's valid samples."""
    bb = build_backbone("ast", config="tiny")
    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([24000, 9000, 300])
    wav = torch.randn(3, 24000, generator=g) * (torch.arange(24000)[None] < lengths[:, None])  # zero-padded
    features, n_frames = bb.frontend(*bb.prepare_waveform(wav, lengths=lengths / 24000))
    cfg = bb.model.config
    for clip, n, feats, frames in zip(wav, lengths.tolist(), features, n_frames.tolist()):
        clip = F.pad(clip[:n], (0, max(0, 400 - n)))
        ref = kaldi.fbank(clip[None], sample_frequency=16000, window_type="hanning", num_mel_bins=cfg.num_mel_bins,
                          htk_compat=True, use_energy=False, dither=0.0, frame_shift=10)[: cfg.max_length]
        ref = F.pad(ref, (0, 0, 0, cfg.max_length - ref.shape[0]))
        assert frames == min(1 + (max(n, 400) - 400) // 160, cfg.max_length)
        torch.testing.assert_close(feats, (ref - bb.mean) / (2 * bb.std), rtol=1e-5, atol=1e-5)


@contextlib.contextmanager
def count_read_backs():
    """Count the calls that read a tensor's value back into Python (a device sync on a GPU)."""
    counts = collections.Counter()
    names = ("__bool__", "item", "tolist", "__int__", "__float__", "__index__", "numpy")
    saved = {n: getattr(torch.Tensor, n) for n in names}

    def counting(name, method):
        def read(self, *args, **kwargs):
            counts[name] += 1
            return method(self, *args, **kwargs)
        return read

    for name in names:
        setattr(torch.Tensor, name, counting(name, saved[name]))
    try:
        yield counts
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


CONFIGS = {"ast": TINY_AST, "hubert": TINY_SSL, "musicfm": {k: v for k, v in TINY_MUSICFM.items()}}


def _read_backs(name: str, num_layers: int, method: str | None, train: bool) -> int:
    torch.manual_seed(0)
    bb = build_backbone(name, config=dict(CONFIGS[name], num_hidden_layers=4), num_layers=num_layers)
    if method:
        apply_petl(bb, method, {"num_prompts": 2} if method == "prompt" else {})
    bb.train(train)
    wav = torch.randn(2, bb.sample_rate)
    with torch.set_grad_enabled(train), count_read_backs() as counts:
        out = bb(wav, torch.tensor([1.0, 0.6]))
    if train:
        out.last.sum().backward()
    return sum(counts.values())


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("method, train", [(None, False), ("ft", True), ("prompt", True), ("conformer_adapter", True)])
def test_read_backs_per_forward_do_not_grow_with_the_layers(name, method, train):
    """Padded batch: a forward reads back a few values (lengths, padding), never per layer."""
    one, four = _read_backs(name, 1, method, train), _read_backs(name, 4, method, train)
    assert one == four <= 4, (one, four)


def test_storing_a_batch_in_the_cache_reads_back_once():
    cache = FeatureCache()
    x, mask = torch.randn(4, 5, 3), torch.arange(5)[None] < torch.tensor([5, 3, 2, 1])[:, None]
    with count_read_backs() as counts:
        cache.store(["a", "b", "c", "d"], x, mask)
    assert sum(counts.values()) == 1
    assert [cache.get(k).shape[0] for k in "abcd"] == [5, 3, 2, 1]
