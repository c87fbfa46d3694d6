"""Augmentation and the label transforms that go with it."""
import pytest
import torch

from petl_core.augment import Augmenter, pitch_shift, time_stretch
from petl_core.tasks import KEY_CLASSES, KeyTask, TempoTask


def _key(task, label):
    return task.encode(label)[None]


@pytest.mark.parametrize("label,steps,expected", [
    ("A minor", 3, "C minor"),
    ("C major", -1, "B major"),
    ("F# minor", 4, "A# minor"),
    ("Bb major", 2, "C major"),
    ("G major", -4, "D# major"),
])
def test_pitch_shift_rotates_key_within_mode(label, steps, expected):
    task = KeyTask()
    out = task.transform(_key(task, label), pitch_steps=torch.tensor([steps]))
    assert KEY_CLASSES[int(out[0])] == expected


def test_stretch_scales_bpm():
    task = TempoTask()
    bpm = torch.tensor([100.0, 120.0])
    out = task.transform(bpm, stretch_rates=torch.tensor([1.05, 0.95]))
    assert out.tolist() == pytest.approx([105.0, 114.0])


def test_key_unchanged_by_stretch_and_tempo_by_pitch():
    key, tempo = KeyTask(), TempoTask()
    k = _key(key, "E minor")
    assert torch.equal(key.transform(k, stretch_rates=torch.tensor([1.05])), k)
    assert tempo.transform(torch.tensor([90.0]), pitch_steps=torch.tensor([2])).tolist() == [90.0]


def _peak_hz(x, sr):
    spec = torch.fft.rfft(x * torch.hann_window(len(x))).abs()
    return float(spec.argmax()) * sr / len(x)


def test_pitch_shift_moves_frequency_keeps_length():
    sr = 16000
    t = torch.arange(sr) / sr
    x = torch.sin(2 * torch.pi * 440 * t)
    y = pitch_shift(x, sr, 3)
    assert y.shape == x.shape
    assert _peak_hz(y[2000:-2000], sr) == pytest.approx(440 * 2 ** (3 / 12), rel=0.01)


def test_time_stretch_length_and_pitch():
    sr = 16000
    x = torch.sin(2 * torch.pi * 440 * torch.arange(sr) / sr)
    y = time_stretch(x, 1.05)
    assert abs(y.shape[0] - sr / 1.05) <= 1
    assert _peak_hz(y[2000:-2000], sr) == pytest.approx(440, rel=0.01)


def test_augmenter_seeded_and_reports_params():
    aug = Augmenter(16000, pitch_shift={"prob": 0.5}, time_stretch={"prob": 0.5}, seed=7)
    wav, lens = torch.randn(4, 16000), torch.ones(4)
    a = aug(wav, lens, aug.generator(1, 3))
    b = aug(wav, lens, aug.generator(1, 3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[2]["pitch_steps"], b[2]["pitch_steps"])
    for s, r in zip(a[2]["pitch_steps"].tolist(), a[2]["stretch_rates"].tolist()):
        assert s in (0, -4, -3, -2, -1, 1, 2, 3, 4) and any(abs(r - v) < 1e-6 for v in (1.0, 0.95, 0.975, 1.025, 1.05))
    assert (a[1] <= 1).all() and a[1].max() == 1


def test_masking_changes_waveform_only():
    torch.manual_seed(0)
    aug = Augmenter(16000, time_mask={"prob": 1.0}, freq_mask={"prob": 1.0})
    wav = torch.randn(2, 16000)
    out, lens, params = aug(wav, torch.ones(2), aug.generator(0, 0))
    assert out.shape == wav.shape and not torch.equal(out, wav)
    assert params["pitch_steps"].tolist() == [0, 0] and params["stretch_rates"].tolist() == [1.0, 1.0]
