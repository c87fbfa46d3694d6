"""Backbones: equivalence with the reference implementations, counts, loading, interface."""
import json
import os
import sys

import numpy as np
import pytest
import torch
import torchaudio
from transformers import (
    ASTConfig,
    ASTFeatureExtractor,
    ASTModel,
    Data2VecAudioConfig,
    Data2VecAudioModel,
    HubertConfig,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
)

from lobes import BACKBONES, build_backbone
from lobes.ast import TINY_AST, ASTBackbone
from lobes.musicfm import TINY_MUSICFM, MusicFM25Hz, MusicFMBackbone
from lobes.speech_ssl import TINY_SSL, SSLBackbone

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # tests/: reference_musicfm
import reference_musicfm  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*RANDOM weights")


def _music(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """A few decaying harmonic notes: deterministic, music-like test audio."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for start, f0 in zip(np.arange(0, seconds, 0.25), rng.choice([220, 262, 330, 392, 440], 64)):
        env = np.exp(-4 * np.clip(t - start, 0, None)) * (t >= start)
        out += env * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


# ------------------------------------------------------------------------------- equivalence
def test_ast_matches_transformers_feature_extractor_and_model(tmp_path):
    ref = ASTModel(ASTConfig(**TINY_AST)).eval()
    ref.save_pretrained(tmp_path)
    ours = ASTBackbone(pretrained=str(tmp_path)).eval()
    wav = _music(1.0, 16000)
    extractor = ASTFeatureExtractor(max_length=TINY_AST["max_length"], num_mel_bins=128)
    inputs = extractor(wav, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        expected = ref(**inputs, output_hidden_states=True)
        features = ours.frontend(*ours.prepare_waveform(torch.from_numpy(wav)))
        torch.testing.assert_close(features[0], inputs["input_values"], atol=1e-5, rtol=0)
        got = ours(torch.from_numpy(wav))
    for k, h in enumerate(expected.hidden_states):
        torch.testing.assert_close(got.hidden_states[k], h, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.final_norm(got.hidden_states[-1]), expected.last_hidden_state, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "family, config_cls, model_cls, extra",
    [
        ("hubert", HubertConfig, HubertModel, {}),
        ("wav2vec2", Wav2Vec2Config, Wav2Vec2Model, {}),
        ("wav2vec2", Wav2Vec2Config, Wav2Vec2Model, {"do_stable_layer_norm": True, "feat_extract_norm": "layer"}),
        ("data2vec", Data2VecAudioConfig, Data2VecAudioModel, {}),
    ],
)
def test_ssl_family_matches_transformers(tmp_path, family, config_cls, model_cls, extra):
    config = config_cls(**{**TINY_SSL, **extra})
    if family == "data2vec":
        config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups = 5, 4
    ref = model_cls(config).eval()
    ref.save_pretrained(tmp_path)
    ours = SSLBackbone(family, pretrained=str(tmp_path), do_normalize=True).eval()
    wav = _music(0.5, 16000)
    inputs = Wav2Vec2FeatureExtractor(do_normalize=True)(wav, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        expected = ref(inputs["input_values"], output_hidden_states=True)
        got = ours(torch.from_numpy(wav))
        normalised, _ = ours.frontend(*ours.prepare_waveform(torch.from_numpy(wav)[None]))
    # the input itself (the conv encoder's GroupNorm / LayerNorm would hide a wrong scale)
    torch.testing.assert_close(normalised, inputs["input_values"], atol=1e-6, rtol=1e-5)
    assert len(got.hidden_states) == len(expected.hidden_states)
    for k, h in enumerate(expected.hidden_states[:-1]):
        torch.testing.assert_close(got.hidden_states[k], h, atol=1e-5, rtol=1e-5)
    # the last index includes the encoder's final LayerNorm where it has one (stable-LN models),
    # as transformers 4.x's hidden_states[-1] did; 5.x moved it to last_hidden_state only
    torch.testing.assert_close(got.hidden_states[-1], expected.last_hidden_state, atol=1e-5, rtol=1e-5)


def _published_mert_folder(folder, **overrides) -> HubertModel:
    """A checkpoint folder in MERT's published format (model_type mert_model, auto_map)."""
    ref = HubertModel(HubertConfig(**TINY_SSL)).eval()
    ref.save_pretrained(folder)
    config = json.load(open(os.path.join(folder, "config.json")))
    config.update(model_type="mert_model", architectures=["MERTModel"], sample_rate=24000,
                  auto_map={"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
                  **{"feature_extractor_cqt": False, "deepnorm": False, "attention_relax": -1.0, **overrides})
    json.dump(config, open(os.path.join(folder, "config.json"), "w"))
    json.dump({"do_normalize": True, "feature_size": 1, "padding_side": "right", "padding_value": 0,
               "return_attention_mask": True, "sampling_rate": 24000},
              open(os.path.join(folder, "preprocessor_config.json"), "w"))
    return ref


def test_mert_published_folder_matches_hubert_and_feature_extractor(tmp_path):
    ref = _published_mert_folder(tmp_path)
    ours = build_backbone("mert", pretrained=str(tmp_path)).eval()
    assert ours.sample_rate == 24000 and ours.do_normalize
    wav = _music(0.5, 24000)
    inputs = Wav2Vec2FeatureExtractor(do_normalize=True, sampling_rate=24000)(
        wav, sampling_rate=24000, return_tensors="pt")
    with torch.no_grad():
        expected = ref(inputs["input_values"], output_hidden_states=True)
        got = ours(torch.from_numpy(wav))
    for k, h in enumerate(expected.hidden_states):
        torch.testing.assert_close(got.hidden_states[k], h, atol=1e-5, rtol=1e-5)


def test_mert_refuses_remote_code_options(tmp_path):
    _published_mert_folder(tmp_path, feature_extractor_cqt=True)
    with pytest.raises(ValueError, match="feature_extractor_cqt.*remote code"):
        build_backbone("mert", pretrained=str(tmp_path))


def _musicfm_folder(folder, full: MusicFM25Hz, stats=(-20.0, 15.0)) -> None:
    state = {"model." + k: v for k, v in full.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3}, os.path.join(folder, "pretrained_msd.pt"))
    json.dump({"melspec_2048_mean": stats[0], "melspec_2048_std": stats[1]},
              open(os.path.join(folder, "msd_stats.json"), "w"))


#: the tiny MusicFM as arguments of the official ``MusicFM25Hz`` (tests/reference_musicfm.py)
OFFICIAL_TINY = dict(
    conformer_options={k: v for k, v in TINY_MUSICFM.items() if k not in (
        "n_fft", "hop_length", "n_mels", "conv_dim", "codebook_size", "codebook_dim", "stats")},
    n_fft=TINY_MUSICFM["n_fft"], hop_length=TINY_MUSICFM["hop_length"], n_mels=TINY_MUSICFM["n_mels"],
    conv_dim=TINY_MUSICFM["conv_dim"], codebook_size=TINY_MUSICFM["codebook_size"],
    codebook_dim=TINY_MUSICFM["codebook_dim"], encoder_dim=TINY_MUSICFM["hidden_size"],
    encoder_depth=TINY_MUSICFM["num_hidden_layers"],
)


def _official_musicfm_folder(folder, stats=(-20.0, 15.0)) -> reference_musicfm.MusicFM25Hz:
    """A ``pretrained_msd.pt`` and stats json written from the official MusicFM code (transcribed):
    random weights, non-trivial BatchNorm statistics and final LayerNorm; returns the official model
    (eval mode) as the official loader loads that file (strictly)."""
    stat_path = os.path.join(folder, "msd_stats.json")
    json.dump({"melspec_2048_mean": stats[0], "melspec_2048_std": stats[1]}, open(stat_path, "w"))
    torch.manual_seed(0)
    official = reference_musicfm.MusicFM25Hz(**OFFICIAL_TINY, stat_path=stat_path, model_path=None)
    with torch.no_grad():
        for module in official.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
        # a final LayerNorm that is not (nearly) the identity after the layers' own
        official.conformer.layer_norm.weight.uniform_(0.5, 2.0)
        official.conformer.layer_norm.bias.uniform_(-1.0, 1.0)
    model_path = os.path.join(folder, "pretrained_msd.pt")
    torch.save({"state_dict": {"model." + k: v for k, v in official.state_dict().items()}, "epoch": 3}, model_path)
    return reference_musicfm.MusicFM25Hz(**OFFICIAL_TINY, stat_path=stat_path, model_path=model_path).eval()


def _official_truncated(full: reference_musicfm.MusicFM25Hz, folder, num_layers: int):
    """The official model built with ``encoder_depth=num_layers`` (seed 001 / peft-music), holding the
    first ``num_layers`` layers of ``full`` and the rest of its weights (loaded strictly)."""
    model = reference_musicfm.MusicFM25Hz(**{**OFFICIAL_TINY, "encoder_depth": num_layers},
                                          stat_path=os.path.join(folder, "msd_stats.json"), model_path=None)
    model.load_state_dict({k: v for k, v in full.state_dict().items()
                           if not k.startswith("conformer.layers.") or int(k.split(".")[2]) < num_layers})
    return model.eval()


def test_musicfm_loads_published_format_strictly_and_matches_conformer(tmp_path):
    """Every hidden state equals the official MusicFM's (mel, normalisation, conv front end, conformer)
    on a checkpoint written by the official code."""
    official = _official_musicfm_folder(tmp_path)
    ours = MusicFMBackbone(pretrained=str(tmp_path), config="tiny").eval()
    wav = torch.from_numpy(_music(1.0, 24000))[None]
    with torch.no_grad():
        _, expected = official.get_predictions(wav)
        got = ours(wav)
    assert len(got.hidden_states) == len(expected) == 3
    for k, h in enumerate(expected):
        torch.testing.assert_close(got.hidden_states[k], h, atol=1e-4, rtol=1e-4)

    # truncated to 1 layer: by default as a 1-layer conformer (seed 001 / peft-music), final
    # LayerNorm included; truncated_final_norm=False: the raw layer output, the norm not built
    truncated = MusicFMBackbone(pretrained=str(tmp_path), config="tiny", num_layers=1).eval()
    raw = MusicFMBackbone(pretrained=str(tmp_path), config="tiny", num_layers=1, truncated_final_norm=False).eval()
    assert not hasattr(raw.model.conformer, "layer_norm")
    with torch.no_grad():
        expected1 = _official_truncated(official, tmp_path, 1).get_latent(wav, layer_ix=1)
        layer1, raw1 = truncated(wav).hidden_states[1], raw(wav).hidden_states[1]
    torch.testing.assert_close(layer1, expected1, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(raw1, expected[1], atol=1e-4, rtol=1e-4)
    assert (layer1 - raw1).abs().max() > 0.1


def test_musicfm_rejects_a_checkpoint_of_another_architecture(tmp_path):
    _musicfm_folder(tmp_path, MusicFM25Hz(TINY_MUSICFM))
    with pytest.raises(ValueError, match="does not match the MusicFM architecture"):
        MusicFMBackbone(pretrained=str(tmp_path), config={**TINY_MUSICFM, "conv_dim": 16})


# --------------------------------------------------------------------------- parameter counts
def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_real_config_parameter_counts():
    with torch.device("meta"):
        assert _count(ASTBackbone()) == 86_187_264
        # the published MERT (time masking on, so the mask embedding exists)
        assert _count(SSLBackbone("mert", mask_time_prob=0.05)) == 94_371_712
        assert _count(MusicFM25Hz(TINY_MUSICFM | {k: v for k, v in BACKBONE_REAL.items()})) == 328_932_480
        # seed 001, FT row: the first 6 layers
        assert _count(SSLBackbone("mert", num_layers=6)) == 51_843_712
        # MusicFM: the published model also builds a positional conv it never runs (rotary positions);
        # seed 001's count includes it, our backbone does not build it (no trainable tensor without
        # a gradient) and reports it as published_unused_parameters
        musicfm = MusicFMBackbone(num_layers=6)
        assert _count(musicfm) == 171_289_600 and musicfm.published_unused_parameters == 8_389_760
        assert _count(musicfm) + musicfm.published_unused_parameters == 179_679_360
        # without the final LayerNorm after layer 6 (not seed 001's features): the norm is not built
        assert _count(MusicFMBackbone(num_layers=6, truncated_final_norm=False)) == 171_289_600 - 2048


from lobes.musicfm import MUSICFM_REAL as BACKBONE_REAL  # noqa: E402


def test_real_configs_match_the_published_architectures():
    """DESIGN.md §4, checked on the instantiated real configs."""
    with torch.device("meta"):
        ast = ASTBackbone()
        mert = SSLBackbone("mert")
        musicfm = MusicFMBackbone()
    c = ast.model.config
    assert (c.hidden_size, c.num_hidden_layers, c.patch_size, c.frequency_stride, c.time_stride,
            c.num_mel_bins, c.max_length) == (768, 12, 16, 10, 10, 128, 1024)
    assert ast.model.embeddings.position_embeddings.shape[1] == 1214
    c = mert.model.config
    assert (c.conv_dim, c.conv_kernel, c.conv_stride) == ([512] * 7, [10, 3, 3, 3, 3, 2, 2], [5, 2, 2, 2, 2, 2, 2])
    assert int(np.prod(c.conv_stride)) == 320 and mert.sample_rate == 24000
    assert (c.feat_proj_layer_norm, c.num_conv_pos_embeddings, c.num_conv_pos_embedding_groups,
            c.do_stable_layer_norm, c.feat_extract_norm) == (True, 128, 16, False, "group")
    c = musicfm.model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size, c.hidden_act,
            c.position_embeddings_type, c.conv_depthwise_kernel_size) == (1024, 12, 16, 4096, "swish", "rotary", 31)
    assert musicfm.model.conv.linear.in_features == 16384 and musicfm.model.conv.conv[0].conv1.out_channels == 512
    mel = musicfm.model.preprocessor_melspec_2048.mel_stft
    assert (mel.n_fft, mel.hop_length, mel.n_mels, mel.power, mel.spectrogram.center) == (2048, 240, 128, 2.0, True)
    # run-time settings are the backbone's options (off for transfer), not stale config constants
    assert mert.model.config.layerdrop == 0.0 and mert.model.config.mask_time_prob == 0.0
    assert musicfm.layerdrop == 0.0 and musicfm.model.config.layerdrop == 0.0  # MusicFM masks no time steps
    assert "layerdrop" not in BACKBONE_REAL and "mask_time_prob" not in BACKBONE_REAL


@pytest.mark.parametrize("name", ["musicfm", "mert"])
def test_runtime_settings_in_a_config_dict_are_refused(name):
    with pytest.raises(ValueError, match="'layerdrop' is a run-time setting.*option layerdrop="):
        build_backbone(name, config={"layerdrop": 0.1})


def test_truncation_builds_only_the_kept_layers():
    with torch.device("meta"):
        bb = build_backbone("ast", num_layers=6)
    assert bb.num_layers == 6 and bb.full_num_layers == 12 and len(bb.model.layers) == 6


# ------------------------------------------------------------------------ positional embeddings
@pytest.mark.parametrize("max_length", [64, 256])
def test_ast_other_max_length_keeps_pretrained_position_embeddings(tmp_path, max_length):
    ref = ASTModel(ASTConfig(**TINY_AST))
    with torch.no_grad():
        ref.embeddings.position_embeddings.normal_()
    ref.save_pretrained(tmp_path)
    ours = ASTBackbone(pretrained=str(tmp_path), max_length=max_length)
    old = ref.embeddings.position_embeddings
    new = ours.model.embeddings.position_embeddings
    freq = (128 - 16) // 10 + 1
    old_t, new_t = (old.shape[1] - 2) // freq, (new.shape[1] - 2) // freq
    assert new_t == (max_length - 16) // 10 + 1
    torch.testing.assert_close(new[:, :2], old[:, :2])
    old_grid = old[0, 2:].reshape(freq, old_t, -1)
    new_grid = new[0, 2:].reshape(freq, new_t, -1)
    if new_t < old_t:
        start = old_t // 2 - new_t // 2
        torch.testing.assert_close(new_grid, old_grid[:, start:start + new_t])
    else:
        torch.testing.assert_close(new_grid[:, 0], old_grid[:, 0], atol=0.6, rtol=0)  # interpolated, not reset
        assert new_grid.abs().mean() > 0.5
    out = ours(torch.randn(1, 16000 * max_length // 100))
    assert out.hidden_states[-1].shape[1] == 2 + freq * new_t


# ------------------------------------------------------------------------------- interface
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_tiny_forward_backward_any_rate_channels_and_padding(name):
    bb = build_backbone(name, config="tiny")
    bb.train()
    stereo_44k = torch.randn(2, 2, 44100)
    out = bb(stereo_44k, lengths=torch.tensor([1.0, 0.5]), sample_rate=44100)
    assert len(out.hidden_states) == bb.num_layers + 1
    assert out.mask.shape == out.hidden_states[-1].shape[:2]
    if name != "ast":  # AST attends every patch of its fixed-length input, as the original
        assert out.mask[1].sum() < out.mask[0].sum()
    out.hidden_states[-1].pow(2).mean().backward()
    grads = [p.grad for p in bb.parameters() if p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) > 0.9 * len(grads)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_layerdrop_and_time_masking_off_by_default(name):
    bb = build_backbone(name, config="tiny")
    assert getattr(bb.model.config, "layerdrop", 0.0) == 0.0
    assert getattr(bb.model.config, "mask_time_prob", 0.0) == 0.0
    assert getattr(bb, "layerdrop", 0.0) == 0.0
    assert not hasattr(bb.model, "masked_spec_embed")  # no time-masking embedding is even built


def test_frozen_batchnorm_stays_in_eval_mode():
    bb = build_backbone("musicfm", config="tiny")
    for p in bb.parameters():
        p.requires_grad_(False)
    for p in bb.layers[-1].ffn2.parameters():
        p.requires_grad_(True)
    bb.train()
    bns = [m for m in bb.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and all(not m.training for m in bns)
    # one train-mode rule (issue 10 §4): a partly trained pretrained network runs in eval mode
    assert not bb.layers[-1].training and not bb.layers[0].training
    before = bns[0].running_mean.clone()
    bb(torch.randn(1, 24000))
    torch.testing.assert_close(bns[0].running_mean, before)


def test_frozen_layers_below_the_first_trainable_run_without_autograd():
    bb = build_backbone("hubert", config="tiny")
    for p in bb.parameters():
        p.requires_grad_(False)
    for p in bb.layers[1].parameters():
        p.requires_grad_(True)
    out = bb(torch.randn(1, 16000))
    assert not out.hidden_states[1].requires_grad
    assert out.hidden_states[2].requires_grad


def test_unknown_backbone_and_bad_layers_give_clear_errors():
    with pytest.raises(ValueError, match="unknown backbone 'bert'; valid: ast, data2vec"):
        build_backbone("bert")
    with pytest.raises(ValueError, match="num_layers must be an integer between 1 and 4"):
        build_backbone("ast", config="tiny", num_layers=5)
    with pytest.raises(TypeError, match="invalid option for backbone 'ast'"):
        build_backbone("ast", config="tiny", rank=3)


@pytest.mark.parametrize("name", ["ast", "hubert", "musicfm"])
def test_clip_shorter_than_the_front_end_window_is_padded(name):
    bb = build_backbone(name, config="tiny").train()
    out = bb(torch.randn(2, 10), lengths=torch.tensor([1.0, 0.5]))
    assert out.mask.any(dim=1).all() and torch.isfinite(out.hidden_states[-1]).all()


def test_nan_waveform_is_rejected_with_a_clear_message():
    bb = build_backbone("hubert", config="tiny")
    with pytest.raises(ValueError, match="NaN or inf"):
        bb(torch.full((1, 1600), float("nan")))


@pytest.mark.parametrize("trainable_layer, folder", [(None, False), (1, True), (0, False)])
def test_feature_cache_skips_frozen_stages_with_identical_outputs(tmp_path, trainable_layer, folder):
    from lobes.cache import FeatureCache

    bb = build_backbone("wav2vec2", config={**TINY_SSL, "do_stable_layer_norm": True,
                                            "feat_extract_norm": "layer"}).eval()
    bb.requires_grad_(False)
    if trainable_layer is not None:
        bb.layers[trainable_layer].requires_grad_(True)
    bb.feature_cache = FeatureCache(str(tmp_path) if folder else None)
    wav, lengths, keys = torch.randn(2, 8000), torch.tensor([1.0, 0.6]), ["a", "b"]
    first = bb(wav, lengths, cache_keys=keys)
    again = bb(wav, lengths, cache_keys=keys)
    assert bb.feature_cache.hits == 2 and len(bb.feature_cache) == 2
    stage = (trainable_layer + 1) if trainable_layer is not None else bb.num_layers + 1
    assert again.hidden_states[: stage - 1] == (None,) * (stage - 1)
    valid = first.mask
    torch.testing.assert_close(again.hidden_states[-1][valid], first.hidden_states[-1][valid], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again.mask, first.mask)


def test_probe_caches_the_pooled_embedding():
    from lobes.cache import FeatureCache
    from lobes.heads import AudioClassifier, LinearHead

    bb = build_backbone("ast", config="tiny").eval().requires_grad_(False)
    bb.feature_cache = FeatureCache()
    model = AudioClassifier(bb, LinearHead(bb.hidden_size, 3))
    wav = torch.randn(2, 16000)
    first = model(wav, cache_keys=["x", "y"])
    calls = []
    bb.register_forward_hook(lambda *args: calls.append(1))
    again = model(wav, cache_keys=["x", "y"])
    torch.testing.assert_close(again, first)
    assert calls == [] and len(bb.feature_cache) == 2  # the backbone did not run


# ------------------------------------------------------- no unused tensors, truncation, messages
GRADIENT_CASES = [(name, {}) for name in sorted(BACKBONES)] + [
    ("musicfm", {"num_layers": 1}),
    ("musicfm", {"num_layers": 1, "truncated_final_norm": False}),
    ("wav2vec2", {"config": {**TINY_SSL, "do_stable_layer_norm": True, "feat_extract_norm": "layer"}, "num_layers": 1}),
    ("wav2vec2", {"config": {**TINY_SSL, "do_stable_layer_norm": True, "feat_extract_norm": "layer"}, "num_layers": 1,
                  "truncated_final_norm": False}),
]


@pytest.mark.parametrize("name, options", GRADIENT_CASES, ids=lambda v: v if isinstance(v, str) else str(len(v)))
def test_full_fine_tuning_gives_every_trainable_tensor_a_gradient(name, options):
    """DDP without find_unused_parameters needs it (MusicFM built an unused positional conv)."""
    from lobes.heads import AudioClassifier, LinearHead
    from petl_modules import apply_petl

    torch.manual_seed(0)
    bb = build_backbone(name, **{"config": "tiny", **options})
    apply_petl(bb, "ft")
    model = AudioClassifier(bb, LinearHead(bb.hidden_size, 3)).train()
    model(torch.randn(2, bb.sample_rate), torch.tensor([1.0, 0.7])).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"trainable but unused: {missing}"


@pytest.mark.parametrize("num_layers", [1, 2])
def test_truncated_musicfm_is_an_n_layer_conformer_final_norm_included(tmp_path, num_layers):
    """Seed 001 builds an N-layer conformer: hidden_states[N] includes the encoder's final LayerNorm
    (the official model built with ``encoder_depth=N``)."""
    official = _official_musicfm_folder(tmp_path, stats=(0.0, 1.0))
    reference = _official_truncated(official, tmp_path, num_layers)
    ours = MusicFMBackbone(pretrained=str(tmp_path), config="tiny", num_layers=num_layers).eval()
    wav = torch.from_numpy(_music(1.0, 24000))[None]
    with torch.no_grad():
        expected = reference.get_latent(wav, layer_ix=num_layers)
        got = ours(wav).hidden_states[num_layers]
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_truncated_stable_layer_norm_model_matches_transformers_with_fewer_layers(tmp_path):
    config = Wav2Vec2Config(**{**TINY_SSL, "do_stable_layer_norm": True, "feat_extract_norm": "layer"})
    torch.manual_seed(0)
    Wav2Vec2Model(config).save_pretrained(tmp_path)
    reference = Wav2Vec2Model.from_pretrained(tmp_path, num_hidden_layers=1).eval()
    ours = SSLBackbone("wav2vec2", pretrained=str(tmp_path), num_layers=1, do_normalize=False).eval()
    wav = torch.from_numpy(_music(0.5, 16000))[None]
    with torch.no_grad():
        torch.testing.assert_close(ours(wav).hidden_states[1], reference(wav).last_hidden_state, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="truncated_final_norm: .*no final LayerNorm"):
        build_backbone("hubert", config="tiny", truncated_final_norm=True)


def _small_musicfm_config() -> dict:
    """The ``config`` of the offline default backbone (recipes' small_musicfm.yaml), tags ignored."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_mapping(node, deep=True))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "recipes", "hparams_common", "backbones", "small_musicfm.yaml")) as f:
        return yaml.load(f, Loader=Loader)["config"]


@pytest.mark.parametrize("config, says", [
    ("tiny", "the tiny test configuration (hidden 32, 2 layers)"),
    ("small", "a custom configuration (hidden 96, 2 layers)"),
    ("real", "the published real-size configuration (hidden 1024, 12 layers)"),
])
def test_random_weights_are_announced_once_naming_the_configuration(caplog, recwarn, config, says):
    config = _small_musicfm_config() if config == "small" else config
    with caplog.at_level("WARNING", logger="lobes"), torch.device("meta"):
        MusicFMBackbone(config=config)
    lines = [r.getMessage() for r in caplog.records if "RANDOM" in r.getMessage()]
    assert lines == [f"musicfm: RANDOM weights, {says}; pass pretrained=<hub id or local folder> for transfer learning"]
    assert not [w for w in recwarn if "RANDOM" in str(w.message)]  # not a second time through warnings
