"""The synthesizer's sound sources: wavetable instruments, a Karplus-Strong pluck, a drum kit, reverb and mixing.

Everything is plain numpy/scipy and drawn from the ``numpy.random.Generator`` it is given, so the same
generator state renders the same samples.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> note = Instrument("organ", rng, 16000).note(60, 1600, 1.0)
    >>> note.shape, bool(np.abs(note).max() > 0)
    ((2400,), True)
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from scipy import signal

_VOWELS = {  # (formant Hz, bandwidth Hz, gain) x 3, adult voice
    "a": [(730, 90, 1.0), (1090, 110, 0.5), (2440, 160, 0.25)],
    "e": [(530, 60, 1.0), (1840, 100, 0.45), (2480, 120, 0.3)],
    "i": [(300, 50, 1.0), (2290, 100, 0.35), (3010, 150, 0.3)],
    "o": [(570, 70, 1.0), (840, 80, 0.6), (2410, 160, 0.15)],
    "u": [(300, 50, 1.0), (870, 80, 0.3), (2240, 150, 0.1)],
}
_DRUM_PATTERNS = {  # steps of a 16th-note grid in one 4/4 bar
    "rock": dict(kick=[0, 8], snare=[4, 12], hat=list(range(0, 16, 2)), ohat=[]),
    "rock_push": dict(kick=[0, 6, 8], snare=[4, 12], hat=list(range(0, 16, 2)), ohat=[]),
    "rock16": dict(kick=[0, 8, 10], snare=[4, 12], hat=list(range(16)), ohat=[]),
    "four_floor": dict(kick=[0, 4, 8, 12], snare=[4, 12], hat=[], ohat=[2, 6, 10, 14]),
    "disco": dict(kick=[0, 4, 8, 12], snare=[4, 12], hat=list(range(0, 16, 2)), ohat=[2, 6, 10, 14]),
    "half_time": dict(kick=[0, 10], snare=[8], hat=list(range(0, 16, 2)), ohat=[]),
}

_TAB_N = 2048
_MAX_PARTIAL_HZ = 4500.0  # pitched instruments stay below ~5 kHz; cymbals/snares live above


# ----------------------------------------------------------------------------------------------
# Oscillators and instruments
# ----------------------------------------------------------------------------------------------
def _midi_hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _wavetable(amps: np.ndarray) -> np.ndarray:
    """One period of sum_k amps[k-1] * sin(2 pi k x), length _TAB_N + 1 (wrapped for interpolation)."""
    spec = np.zeros(_TAB_N // 2 + 1, dtype=np.complex128)
    k = min(len(amps), _TAB_N // 2 - 1)
    spec[1 : k + 1] = -0.5j * _TAB_N * np.asarray(amps[:k], dtype=np.float64)
    tab = np.fft.irfft(spec, n=_TAB_N)
    tab /= max(np.abs(tab).max(), 1e-9)
    return np.append(tab, tab[0])


def _osc(tab: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Wavetable lookup with linear interpolation; ``phase`` in cycles."""
    p = (phase - np.floor(phase)) * _TAB_N
    i = p.astype(np.int64)
    f = p - i
    t0 = tab[i]
    return t0 + f * (tab[i + 1] - t0)


def _n_partials(f0: float, sr: int) -> int:
    return max(1, int(min(_MAX_PARTIAL_HZ, 0.45 * sr) // f0))


class Instrument:
    """A pitched instrument with per-clip random timbre parameters.

    ``note(midi, n_on, vel)`` returns the samples of one note held for ``n_on`` samples
    (plus its release tail).
    """

    KINDS = ("organ", "epiano", "piano", "pad", "strings", "lead", "vocals", "bass", "pluck")

    def __init__(self, kind: str, rng: np.random.Generator, sr: int):
        if kind not in self.KINDS:
            raise ValueError(kind)
        self.kind, self.sr, self.rng = kind, sr, rng
        u = rng.uniform
        if kind == "organ":
            # drawbars on partials 1,2,3,4,6,8 (16', 8', 5 1/3', 4', 2 2/3', 2')
            self.draw = np.array([1.0, u(0.3, 1.0), u(0.0, 0.7), u(0.1, 0.6), u(0.0, 0.4), u(0.0, 0.4)])
            self.trem = (u(4.5, 6.5), u(0.0, 0.15))
        elif kind == "epiano":
            self.tau, self.bright, self.tau_b = u(0.8, 2.0), u(0.3, 0.8), u(0.04, 0.15)
        elif kind == "piano":
            self.tau, self.bright, self.tau_b = u(1.0, 2.5), u(0.4, 0.9), u(0.1, 0.3)
        elif kind in ("pad", "strings"):
            self.cut, self.det = u(1200.0, 3000.0), u(4.0, 12.0)
            self.att, self.rel = u(0.08, 0.4), u(0.15, 0.4)
        elif kind == "lead":
            self.even, self.cut = u(0.0, 0.4), u(2500.0, 4500.0)
            self.vib = (u(5.0, 6.5), u(0.002, 0.006))
        elif kind == "vocals":
            self.vowels = list(rng.choice(sorted(_VOWELS), size=int(rng.integers(1, 4)), replace=False))
            self.vib = (u(4.8, 6.2), u(0.006, 0.014))
        elif kind == "bass":
            self.amps = np.array([1.0, u(0.3, 0.8), u(0.1, 0.5), u(0.05, 0.3), u(0.0, 0.15), u(0.0, 0.1)])
            self.tau, self.sus = u(0.2, 0.8), u(0.3, 0.8)
        elif kind == "pluck":
            self.gain, self.cut = u(0.994, 0.999), u(1500.0, 3500.0)
        self._cache: Dict[tuple, np.ndarray] = {}

    # --- spectra -------------------------------------------------------------------------------
    def _table(self, name: str, midi: int) -> np.ndarray:
        key = (name, midi)
        if key in self._cache:
            return self._cache[key]
        f0 = float(_midi_hz(midi))
        kmax = _n_partials(f0, self.sr)
        k = np.arange(1, kmax + 1, dtype=np.float64)
        if name == "organ":
            amps = np.zeros(kmax)
            for h, a in zip((1, 2, 3, 4, 6, 8), self.draw):
                if h <= kmax:
                    amps[h - 1] = a
        elif name == "body":  # electric piano / piano fundamental-heavy body
            amps = (1.0 / k**2.5) if self.kind == "epiano" else (1.0 / k**1.6)
        elif name == "bright":  # decaying upper partials (hammer/tine)
            amps = np.where(k >= 2, 1.0 / k**0.9, 0.0)
        elif name == "saw":
            amps = (1.0 / k) * np.exp(-k * f0 / self.cut)
        elif name == "lead":
            amps = np.where(k % 2 == 1, 1.0, self.even) / k * np.exp(-k * f0 / self.cut)
        elif name.startswith("vowel"):
            amps = (1.0 / k) * sum(g / (1.0 + ((k * f0 - F) / (0.5 * B)) ** 2) + 0.02 * g
                                   for F, B, g in _VOWELS[name[-1]])
        elif name == "bass":
            amps = np.zeros(kmax)
            amps[: min(kmax, 6)] = self.amps[: min(kmax, 6)]
        else:
            raise ValueError(name)
        tab = _wavetable(amps)
        self._cache[key] = tab
        return tab

    # --- notes ---------------------------------------------------------------------------------
    def note(self, midi: int, n_on: int, vel: float) -> np.ndarray:
        sr, kind = self.sr, self.kind
        f0 = float(_midi_hz(midi))
        if kind == "pluck":
            return vel * self._pluck(midi, n_on)
        rel = {"organ": 0.05, "epiano": 0.12, "piano": 0.15, "lead": 0.06, "vocals": 0.1,
               "bass": 0.05}.get(kind, getattr(self, "rel", 0.1))
        n = n_on + int(rel * sr)
        t = np.arange(n) / sr
        ph0 = self.rng.uniform()
        gate = np.clip(1.0 - (t - n_on / sr) / rel, 0.0, 1.0)  # release ramp after note-off

        if kind == "organ":
            y = _osc(self._table("organ", midi), f0 * t + ph0)
            env = np.minimum(t / 0.008, 1.0)
        elif kind in ("epiano", "piano"):
            scale = 2.0 ** (-(midi - 60) / 24.0)  # higher notes decay faster
            y = _osc(self._table("body", midi), f0 * t + ph0) * np.exp(-t / (self.tau * scale))
            y += self.bright * _osc(self._table("bright", midi), f0 * t + ph0) * np.exp(-t / (self.tau_b * scale))
            if kind == "piano":  # a second, slightly detuned string
                y += 0.6 * _osc(self._table("body", midi), f0 * 1.0012 * t + ph0 + 0.3) * np.exp(-t / (self.tau * scale))
            env = np.minimum(t / 0.003, 1.0)
        elif kind in ("pad", "strings"):
            tab = self._table("saw", midi)
            y = np.zeros(n)
            for cents in (-self.det, 0.0, self.det):
                ratio = 2.0 ** (cents / 1200.0)
                ph = f0 * ratio * t + self.rng.uniform()
                if kind == "strings":
                    ph = ph + f0 * 0.003 * np.sin(2 * np.pi * 5.2 * t + self.rng.uniform(0, 6.28)) / (2 * np.pi * 5.2)
                y += _osc(tab, ph)
            att = min(self.att, 0.4 * n_on / sr + 1e-3)
            env = np.minimum(t / att, 1.0)
        elif kind == "lead":
            rate, depth = self.vib
            ramp = np.minimum(t / 0.3, 1.0)
            ph = f0 * t + ramp * f0 * depth * np.sin(2 * np.pi * rate * t) / (2 * np.pi * rate) + ph0
            y = _osc(self._table("lead", midi), ph)
            env = np.minimum(t / 0.01, 1.0) * (0.75 + 0.25 * np.exp(-t / 0.2))
        elif kind == "vocals":
            rate, depth = self.vib
            ramp = np.minimum(t / 0.25, 1.0)
            ph = f0 * t + ramp * f0 * depth * np.sin(2 * np.pi * rate * t) / (2 * np.pi * rate) + ph0
            vowel = self.vowels[int(self.rng.integers(len(self.vowels)))]
            y = _osc(self._table("vowel_" + vowel, midi), ph)
            env = np.minimum(t / 0.06, 1.0) * (1.0 + 0.08 * np.sin(2 * np.pi * rate * t))
        elif kind == "bass":
            y = _osc(self._table("bass", midi), f0 * t + ph0)
            env = np.minimum(t / 0.005, 1.0) * (self.sus + (1.0 - self.sus) * np.exp(-t / self.tau))
        else:  # pragma: no cover
            raise ValueError(kind)
        return vel * y * env * gate

    def _pluck(self, midi: int, n_on: int) -> np.ndarray:
        """Karplus-Strong string: a lowpassed noise burst circulating in a damped delay line."""
        key = ("ks", midi, n_on)
        if key in self._cache:
            return self._cache[key]
        sr = self.sr
        n_on = min(n_on, int(1.5 * sr))
        n = n_on + int(0.04 * sr)
        period = sr / float(_midi_hz(midi))
        d = int(np.floor(period - 0.5))
        frac = period - 0.5 - d
        # loop filter: 2-tap average (0.5 sample) convolved with a linear-interpolation delay
        g = self.gain
        a = np.zeros(d + 3)
        a[0] = 1.0
        a[d] -= g * 0.5 * (1.0 - frac)
        a[d + 1] -= g * 0.5
        a[d + 2] -= g * 0.5 * frac
        x = np.zeros(n)
        burst = self.rng.uniform(-1.0, 1.0, size=d)
        sos = signal.butter(4, min(self.cut, 0.45 * sr), fs=sr, output="sos")
        x[:d] = signal.sosfilt(sos, burst)
        y = signal.lfilter([1.0], a, x)
        # keep the string below ~5 kHz like the other pitched instruments (cymbals live above)
        y = signal.sosfilt(signal.butter(4, min(_MAX_PARTIAL_HZ, 0.4 * sr), fs=sr, output="sos"), y)
        t = np.arange(n)
        y *= np.clip(1.0 - (t - n_on) / (0.04 * sr), 0.0, 1.0)  # damp at note-off
        y /= max(np.abs(y).max(), 1e-9)
        self._cache[key] = y
        return y


def _place(buf: np.ndarray, start: int, x: np.ndarray) -> None:
    if start >= len(buf):
        return
    m = min(len(x), len(buf) - start)
    buf[start : start + m] += x[:m]


def render(inst: Instrument, notes, n: int) -> np.ndarray:
    """notes: iterable of (start_s, dur_s, midi, vel)."""
    buf = np.zeros(n)
    sr = inst.sr
    for start, dur, midi, vel in notes:
        s = int(round(start * sr))
        _place(buf, s, inst.note(int(midi), max(int(dur * sr), 16), vel))
    return buf


# ----------------------------------------------------------------------------------------------
# Drums
# ----------------------------------------------------------------------------------------------
class _DrumKit:
    def __init__(self, rng: np.random.Generator, sr: int):
        u = rng.uniform
        self.sr = sr
        t = np.arange(int(0.5 * sr)) / sr
        # kick: pitch-swept sine + a short click
        f_hi, f_lo, sweep, dec = u(110, 180), u(40, 60), u(0.02, 0.05), u(0.15, 0.4)
        freq = f_lo + (f_hi - f_lo) * np.exp(-t / sweep)
        kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / dec)
        click = rng.standard_normal(len(t)) * np.exp(-t / 0.003) * 0.3
        self.kick = kick + signal.sosfilt(signal.butter(2, 2000, fs=sr, output="sos"), click)
        # snare: band-limited noise burst + a tone pair
        ts = t[: int(0.35 * sr)]
        noise = signal.sosfilt(signal.butter(2, [800, min(9000, 0.45 * sr)], btype="band", fs=sr, output="sos"),
                               rng.standard_normal(len(ts)))
        f_sn = u(160, 240)
        tone = np.sin(2 * np.pi * f_sn * ts) + 0.5 * np.sin(2 * np.pi * 1.6 * f_sn * ts)
        self.snare = u(0.6, 1.0) * noise * np.exp(-ts / u(0.07, 0.18)) + u(0.3, 0.6) * tone * np.exp(-ts / 0.05)
        # hi-hats: high-passed noise, closed and open
        hp = signal.butter(4, min(7000, 0.4 * sr), btype="high", fs=sr, output="sos")
        th = t[: int(0.4 * sr)]
        hat_noise = signal.sosfilt(hp, rng.standard_normal(len(th)))
        self.hat = hat_noise * np.exp(-th / u(0.015, 0.05))
        self.ohat = hat_noise * np.exp(-th / u(0.12, 0.25))
        for name in ("kick", "snare", "hat", "ohat"):
            x = getattr(self, name)
            setattr(self, name, x / max(np.abs(x).max(), 1e-9))
        self.levels = dict(kick=1.0, snare=u(0.6, 0.9), hat=u(0.15, 0.35), ohat=u(0.15, 0.3))


def drum_part(rng: np.random.Generator, sr: int, n: int, tempo: float, pattern: Optional[str] = None):
    kit = _DrumKit(rng, sr)
    if pattern is None:
        names = list(_DRUM_PATTERNS)
        if tempo > 140:
            names.remove("rock16")
        pattern = names[int(rng.integers(len(names)))]
    pat = _DRUM_PATTERNS[pattern]
    step = 60.0 / tempo / 4.0
    n_steps = int(np.ceil(n / sr / step)) + 1
    buf = np.zeros(n)
    for name in ("kick", "snare", "hat", "ohat"):
        steps = set(pat[name])
        sample = getattr(kit, name) * kit.levels[name]
        for s in range(n_steps):
            if s % 16 not in steps:
                continue
            vel = 1.0 if s % 4 == 0 else 0.75
            vel *= rng.uniform(0.9, 1.0)
            _place(buf, int(round(s * step * sr)), vel * sample)
    return buf



def _reverb(x: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    rt60 = rng.uniform(0.3, 1.5)
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.91 * t / rt60)
    ir = signal.lfilter([0.35], [1.0, -0.65], ir)  # darker tail
    pre = int(rng.uniform(0.005, 0.03) * sr)
    ir = np.concatenate([np.zeros(pre), ir])
    wet = signal.fftconvolve(x, ir)[: len(x)]
    wet *= np.sqrt(np.sum(x**2) / max(np.sum(wet**2), 1e-12))
    mix = rng.uniform(0.1, 0.3)
    return (1 - mix) * x + mix * wet


def mix(parts: List[np.ndarray], levels_db: List[float]) -> np.ndarray:
    out = np.zeros_like(parts[0])
    for p, db in zip(parts, levels_db):
        rms = np.sqrt(np.mean(p**2))
        if rms > 1e-9:
            out += p / rms * 10 ** (db / 20.0)
    return out


def finish(x: np.ndarray, rng: np.random.Generator, sr: int, reverb_p: float = 0.6) -> np.ndarray:
    if rng.uniform() < reverb_p:
        x = _reverb(x, rng, sr)
    n = len(x)
    fade = min(int(0.02 * sr), n // 4)
    if fade > 0:
        x[-fade:] *= np.linspace(1.0, 0.0, fade)
    peak = np.abs(x).max()
    if peak < 1e-9:
        return np.zeros(n, dtype=np.float32)
    gain = 0.5 * 10 ** (rng.uniform(-6.0, 6.0) / 20.0)
    return (x / peak * gain).astype(np.float32)

