"""tools/extract_features.py: output format, layer semantics and bad input."""
import os
import subprocess
import sys

import numpy as np
import soundfile as sf
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import extract_features  # noqa: E402


def _write(path, seconds, sr, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    sf.write(path, np.stack([tone] * channels, axis=1) if channels > 1 else tone, sr)
    return str(path)


def test_features_keyed_by_path_as_given_at_any_layer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = _write(tmp_path / "a.wav", 1.0, 44100, channels=2)
    b = _write(tmp_path / "b.flac", 0.5, 16000)
    rel_b = os.path.relpath(b, tmp_path)
    out = tmp_path / "feats.pt"
    assert extract_features.main(["--backbone", "hubert", "--config", "tiny", "--out", str(out), a, rel_b]) == 0
    feats = torch.load(out, weights_only=True)
    assert list(feats) == [a, rel_b]
    assert feats[a].dim() == 2 and feats[a].shape[1] == 32
    assert feats[rel_b].shape[0] < feats[a].shape[0]  # whole file, no pooling
    assert extract_features.main(["--backbone", "hubert", "--config", "tiny", "--layer", "0",
                                  "--out", str(tmp_path / "l0.pt"), a]) == 0
    layer0 = torch.load(tmp_path / "l0.pt", weights_only=True)[a]
    assert layer0.shape == feats[a].shape and not torch.allclose(layer0, feats[a])


def test_unreadable_file_is_named_and_nothing_is_overwritten(tmp_path):
    good = _write(tmp_path / "good.wav", 0.5, 16000)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00not really a wave file")
    out = tmp_path / "feats.pt"
    out.write_bytes(b"previous results")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "extract_features.py"), "--backbone", "ast",
         "--config", "tiny", "--out", str(out), good, str(bad)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {bad}: not a readable audio file")
    assert "Traceback" not in proc.stderr
    assert out.read_bytes() == b"previous results"


def test_missing_file_and_bad_layer(tmp_path, capsys):
    good = _write(tmp_path / "good.wav", 0.5, 16000)
    missing = str(tmp_path / "nope.wav")
    assert extract_features.main(["--backbone", "ast", "--config", "tiny", "--out", str(tmp_path / "x.pt"), missing]) == 1
    assert f"{missing}: file not found" in capsys.readouterr().err
    assert extract_features.main(["--backbone", "ast", "--config", "tiny", "--layer", "9",
                                  "--out", str(tmp_path / "x.pt"), good]) == 1
    assert "--layer must be between 0 and 4" in capsys.readouterr().err


def test_ast_long_file_is_extracted_whole_in_tiling_windows(tmp_path):
    """A file longer than AST's fixed input (tiny config: max_length frames) is not cut: its
    windows tile the fbank frames, and each window equals AST run on that stretch of audio."""
    from lobes import build_backbone
    from lobes.audio import load_audio

    torch.manual_seed(0)
    backbone = build_backbone("ast", config="tiny").eval()
    hop = backbone.max_length * 160
    seconds = 2.5 * hop / 16000  # two and a half windows
    path = _write(tmp_path / "long.wav", seconds, 16000)
    feats = extract_features.extract(backbone, [path], layer=None)[path]
    assert feats.dim() == 3 and feats.shape[0] == 3
    wav = load_audio(path, sample_rate=16000)
    with torch.no_grad():
        second = backbone(wav[hop: hop + backbone.max_input_samples].unsqueeze(0))
    torch.testing.assert_close(feats[1], second.hidden_states[backbone.num_layers][0])
    # the windows' frames are exactly the whole file's fbank frames, in order
    import torchaudio.compliance.kaldi as kaldi
    whole = kaldi.fbank(wav.unsqueeze(0), sample_frequency=16000, window_type="hanning", num_mel_bins=8,
                        htk_compat=True, use_energy=False, dither=0.0, frame_shift=10)
    tiled = torch.cat([kaldi.fbank(w.unsqueeze(0), sample_frequency=16000, window_type="hanning", num_mel_bins=8,
                                   htk_compat=True, use_energy=False, dither=0.0, frame_shift=10)
                       for w in extract_features.fixed_length_windows(wav, backbone.max_input_samples, hop)])
    torch.testing.assert_close(tiled[: whole.shape[0]], whole)
    assert tiled.shape[0] == whole.shape[0]
