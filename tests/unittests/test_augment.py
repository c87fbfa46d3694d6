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


def _item_by_item(aug, wavs, lens, params):
    """The reference: each clip alone through the 1-D transforms, with the parameters it drew."""
    total, out = wavs.shape[1], []
    for i in range(wavs.shape[0]):
        x = wavs[i, : int(round(float(lens[i]) * total))]
        if params["pitch_steps"][i] != 0:
            x = pitch_shift(x, aug.sample_rate, int(params["pitch_steps"][i]), aug.n_fft)
        if params["stretch_rates"][i] != 1.0:
            rate = min(aug.stretch["rates"], key=lambda v: abs(v - float(params["stretch_rates"][i])))  # not float32
            x = time_stretch(x, rate, aug.n_fft)
        out.append(x[:total])
    return out


def test_batched_augmentation_matches_item_by_item_and_is_deterministic():
    """Clips that drew the same (semitones, rate, length) share one STFT/vocoder/resampling call.
    Bitwise equality with one call per clip is impossible: batched FFTs and convolutions round
    differently (~1e-7) and the phase vocoder's accumulated phase amplifies that at near-silent
    bins (up to ~3e-3 on a few samples). So: same draws, same lengths, each clip within 40 dB SNR
    of its item-by-item version, bitwise identical across calls with the same seed, on the input's
    device and dtype."""
    aug = Augmenter(16000, pitch_shift={"prob": 0.7, "semitones": [-1, 2]}, time_stretch={"prob": 0.7},
                    seed=3)
    torch.manual_seed(0)
    wavs, lens = torch.randn(12, 16000), torch.ones(12)
    lens[[3, 7]] = 0.5
    out, new_lens, params = aug(wavs, lens, aug.generator(1, 2))
    again = aug(wavs, lens, aug.generator(1, 2))
    assert torch.equal(out, again[0]) and torch.equal(new_lens, again[1])
    assert out.device == wavs.device and out.dtype == wavs.dtype
    groups = {(int(s), float(r)) for s, r in zip(params["pitch_steps"], params["stretch_rates"])}
    assert len(groups) < 12  # some clips were transformed together
    reference = _item_by_item(aug, wavs, lens, params)
    n_max = out.shape[1]
    for i, ref in enumerate(reference):
        n = int(round(float(new_lens[i]) * n_max))
        assert n == ref.shape[0]
        got = out[i, :n]
        snr = 10 * torch.log10(ref.pow(2).sum() / (got - ref).pow(2).sum().clamp(min=1e-20))
        assert snr > 40, (i, float(snr))
        assert not out[i, n:].any()  # padding stays zero


def test_one_transform_call_per_group_of_equal_draws(monkeypatch):
    import petl_core.augment as augment
    calls = []
    for name in ("pitch_shift", "time_stretch"):
        real = getattr(augment, name)
        monkeypatch.setattr(augment, name, lambda x, *a, _real=real, _name=name: calls.append((_name, x.shape[0]))
                            or _real(x, *a))
    aug = Augmenter(16000, pitch_shift={"prob": 1.0, "semitones": [2]}, time_stretch={"prob": 1.0, "rates": [1.05]})
    out, lens, params = aug(torch.randn(6, 8000), torch.ones(6), aug.generator(0, 0))
    assert calls == [("pitch_shift", 6), ("time_stretch", 6), ("time_stretch", 6)]  # pitch_shift stretches too
    assert params["pitch_steps"].tolist() == [2] * 6 and out.shape == (6, round(8000 / 1.05))


def test_augmented_audio_stays_fp32_under_autocast():
    """A bf16 training step must not quantise the training audio: resampling (a convolution) would
    run in bf16 under autocast; the augmenter runs outside it and returns what fp32 returns."""
    aug = Augmenter(16000, pitch_shift={"prob": 1.0, "semitones": [3]}, time_stretch={"prob": 1.0, "rates": [1.05]})
    wavs = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    reference, _, _ = aug(wavs, torch.ones(2), aug.generator(0, 1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.nn.functional.conv1d(wavs[:, None], torch.ones(1, 1, 3)).dtype == torch.bfloat16
        out, _, params = aug(wavs, torch.ones(2), aug.generator(0, 1))
    assert out.dtype == torch.float32 and params["pitch_steps"].tolist() == [3, 3]
    torch.testing.assert_close(out, reference)
