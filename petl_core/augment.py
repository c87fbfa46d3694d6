"""On-the-fly, seeded training augmentation with label transforms.

* **pitch shift** by ±1…±4 semitones (key label rotated within its mode, see
  :meth:`petl_core.tasks.KeyTask.transform`): torchaudio's phase vocoder stretches the clip by
  2^(n/12) and a resampling by a small-denominator approximation of 2^(n/12) brings it back to its
  length (``torchaudio.functional.pitch_shift`` does the same, but resamples with the exact ratio,
  whose huge resampling kernels are very slow; the approximation is within 0.02 semitones);
* **time stretch** by 0.95/0.975/1.025/1.05 (torchaudio phase vocoder; rate r > 1 plays faster,
  so the BPM label becomes BPM × r; pitch is unchanged);
* **SpecAugment-like masking**, on the waveform side so it works for every backbone:
  SpeechBrain's ``DropChunk`` (time masks: zeroed chunks) and ``DropFreq`` (frequency masks:
  notch filters at random frequencies).

Randomness comes from a ``torch.Generator`` seeded by (seed, epoch, step, rank), so a run (and a
resumed run) draws the same augmentations. Masking uses the global torch RNG (SpeechBrain's
modules draw from it), which ``seed`` also fixes.

The augmentation runs outside autocast and returns fp32 audio whatever the training precision
(resampling is a convolution, which autocast would run in bf16/fp16: quantisation noise on the
training audio). The batch is transformed where it lies (the GPU in a GPU run) and batched: the clips that drew
the same (semitones, rate) and have the same length go through one STFT / phase vocoder /
resampling call. The draws are those of the item-by-item version (same generator calls, same
order); on CPU the outputs equal it to float rounding (batched FFTs may round differently, so the
test allows 1e-5).

Example:
    >>> import torch
    >>> aug = Augmenter(16000, pitch_shift={"prob": 1.0, "semitones": [3]})
    >>> wav, lens, params = aug(torch.randn(2, 16000), torch.ones(2), aug.generator(0, 1))
    >>> params["pitch_steps"].tolist(), tuple(wav.shape)
    ([3, 3], (2, 16000))
"""
from __future__ import annotations

import math
from fractions import Fraction

import torch
import torchaudio.functional as AF

DEFAULT_SEMITONES = [-4, -3, -2, -1, 1, 2, 3, 4]
DEFAULT_RATES = [0.95, 0.975, 1.025, 1.05]


def _stft_args(n_fft: int, device=None):
    return dict(n_fft=n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft, device=device))


def time_stretch(wav: torch.Tensor, rate: float, n_fft: int = 1024) -> torch.Tensor:
    """Phase-vocoder time stretch of ``[T]`` or ``[B, T]`` by ``rate`` (>1 faster/shorter); pitch kept."""
    if rate == 1.0:
        return wav
    args = _stft_args(n_fft, wav.device)
    spec = torch.stft(wav, return_complex=True, **args)
    phase_advance = torch.linspace(0, math.pi * args["hop_length"], spec.shape[-2], device=wav.device)[..., None]
    stretched = AF.phase_vocoder(spec, rate, phase_advance)
    length = int(round(wav.shape[-1] / rate))
    return torch.istft(stretched, length=length, **args)


def pitch_shift(wav: torch.Tensor, sample_rate: int, semitones: int, n_fft: int = 1024) -> torch.Tensor:
    """Shift ``[T]`` or ``[B, T]`` by ``semitones`` keeping its duration (phase vocoder + resampling)."""
    if semitones == 0:
        return wav
    ratio = Fraction(2.0 ** (semitones / 12.0)).limit_denominator(100)
    stretched = time_stretch(wav, 1.0 / float(ratio), n_fft)  # longer by `ratio` (for upward shifts)
    shifted = AF.resample(stretched, ratio.numerator, ratio.denominator)  # play `ratio` times faster
    n = wav.shape[-1]
    if shifted.shape[-1] >= n:
        return shifted[..., :n]
    return torch.nn.functional.pad(shifted, (0, n - shifted.shape[-1]))


class Augmenter:
    """Batch augmentation for training; returns the transform parameters for the labels.

    Options (each ``None``/absent = off): ``pitch_shift: {prob, semitones}``,
    ``time_stretch: {prob, rates}``, ``time_mask: {prob, ...DropChunk args in seconds...}``,
    ``freq_mask: {prob, ...DropFreq args...}``.
    """

    def __init__(self, sample_rate: int, pitch_shift: dict | None = None, time_stretch: dict | None = None,
                 time_mask: dict | None = None, freq_mask: dict | None = None, seed: int = 0,
                 n_fft: int = 1024) -> None:
        self.sample_rate = sample_rate
        self.seed = int(seed)
        self.n_fft = n_fft
        self.pitch = dict({"prob": 0.5, "semitones": DEFAULT_SEMITONES}, **pitch_shift) if pitch_shift else None
        self.stretch = dict({"prob": 0.5, "rates": DEFAULT_RATES}, **time_stretch) if time_stretch else None
        self.time_mask = self.freq_mask = None
        if time_mask:
            from speechbrain.augment.time_domain import DropChunk

            opts = dict({"prob": 0.5, "min_seconds": 0.05, "max_seconds": 0.3, "count_low": 1, "count_high": 3}, **time_mask)
            self.time_mask_prob = opts["prob"]
            self.time_mask = DropChunk(
                drop_length_low=max(1, int(opts["min_seconds"] * sample_rate)),
                drop_length_high=max(1, int(opts["max_seconds"] * sample_rate)),
                drop_count_low=opts["count_low"], drop_count_high=opts["count_high"],
            )
        if freq_mask:
            from speechbrain.augment.time_domain import DropFreq

            opts = dict({"prob": 0.5, "count_low": 1, "count_high": 3, "width": 0.05}, **freq_mask)
            self.freq_mask_prob = opts["prob"]
            self.freq_mask = DropFreq(drop_freq_count_low=opts["count_low"], drop_freq_count_high=opts["count_high"],
                                      drop_freq_width=opts["width"])

    @property
    def enabled(self) -> bool:
        return any(x is not None for x in (self.pitch, self.stretch, self.time_mask, self.freq_mask))

    def generator(self, epoch: int, step: int, rank: int = 0) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed(hash((self.seed, int(epoch), int(step), int(rank))) % (2 ** 62))
        return g

    @staticmethod
    def _draw(options: dict, key: str, n: int, g: torch.Generator) -> list:
        values = list(options[key])
        apply = torch.rand(n, generator=g) < float(options["prob"])
        choice = torch.randint(len(values), (n,), generator=g)
        return [values[int(c)] if bool(a) else None for a, c in zip(apply, choice)]

    def __call__(self, wavs: torch.Tensor, lengths: torch.Tensor, g: torch.Generator):
        """``wavs [B, T]``, relative ``lengths``; returns (fp32 wavs, lengths, {pitch_steps, stretch_rates})."""
        with torch.autocast(device_type=wavs.device.type, enabled=False):
            return self._augment(wavs.float(), lengths, g)

    def _augment(self, wavs: torch.Tensor, lengths: torch.Tensor, g: torch.Generator):
        batch, total = wavs.shape
        device = wavs.device
        steps = torch.zeros(batch, dtype=torch.long)
        rates = torch.ones(batch)
        pitch = self._draw(self.pitch, "semitones", batch, g) if self.pitch else [None] * batch
        stretch = self._draw(self.stretch, "rates", batch, g) if self.stretch else [None] * batch
        if any(p is not None for p in pitch) or any(r is not None for r in stretch):
            abs_len = torch.round(lengths.cpu() * total).long().clamp(1, total).tolist()
            groups: dict[tuple, list[int]] = {}
            for i in range(batch):
                groups.setdefault((pitch[i], stretch[i], abs_len[i]), []).append(i)
                steps[i] = int(pitch[i]) if pitch[i] is not None else 0
                rates[i] = float(stretch[i]) if stretch[i] is not None else 1.0
            out = [None] * batch
            for (semitones, rate, n), items in groups.items():
                x = wavs[items, :n].detach().float()
                if semitones is not None:
                    x = pitch_shift(x, self.sample_rate, int(semitones), self.n_fft)
                if rate is not None:
                    x = time_stretch(x, float(rate), self.n_fft)
                for j, i in enumerate(items):
                    out[i] = x[j, :total]
            n_max = max(x.shape[0] for x in out)
            wavs = torch.stack([torch.nn.functional.pad(x, (0, n_max - x.shape[0])) for x in out])
            lengths = (torch.tensor([x.shape[0] for x in out], dtype=torch.float) / n_max).to(device)
        if self.time_mask is not None and torch.rand(1, generator=g).item() < self.time_mask_prob:
            wavs = self.time_mask(wavs, lengths)
        if self.freq_mask is not None and torch.rand(1, generator=g).item() < self.freq_mask_prob:
            wavs = self.freq_mask(wavs)
        return wavs, lengths, {"pitch_steps": steps.to(device), "stretch_rates": rates.to(device)}
