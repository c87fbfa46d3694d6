"""Reading audio files with one-line errors that name the file.

Example:
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> sf.write(path, np.zeros((8000, 2), dtype="float32"), 8000)
    >>> wav = load_audio(path, sample_rate=16000)
    >>> tuple(wav.shape)
    (16000,)
"""
from __future__ import annotations

import os

import soundfile as sf
import torch
import torchaudio


class AudioError(ValueError):
    """A file that cannot be used as audio; the message names the file and the problem."""


def audio_info(path: str) -> sf._SoundFileInfo:
    """``soundfile.info`` with a clear error for missing, empty or unreadable files."""
    if not os.path.exists(path):
        raise AudioError(f"{path}: file not found")
    if os.path.getsize(path) == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        return sf.info(path)
    except Exception as exc:  # soundfile raises several types for corrupt / unknown formats
        raise AudioError(f"{path}: not a readable audio file ({_first_line(exc)})") from None


def load_audio(
    path: str,
    sample_rate: int | None = None,
    mono: bool = True,
    start: float = 0.0,
    duration: float | None = None,
) -> torch.Tensor:
    """Load ``path`` as float32 ``[T]`` (mono) or ``[C, T]``, resampled to ``sample_rate``.

    ``start``/``duration`` (seconds) read only a window of a long file.
    """
    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(f"{path}: zero-length audio")
    first = int(start * info.samplerate)
    count = -1 if duration is None else max(1, int(duration * info.samplerate))
    try:
        data, sr = sf.read(path, start=first, frames=count, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{path}: cannot decode audio ({_first_line(exc)})") from None
    if data.shape[0] == 0:  # the file has samples (checked above): the window lies past its end
        raise AudioError(f"{path}: nothing to read at {start:.2f} s, the file holds {info.duration:.2f} s "
                         "(a manifest's duration or start beyond the audio?)")
    wav = torch.from_numpy(data.T.copy())
    if not torch.isfinite(wav).all():
        raise AudioError(f"{path}: contains NaN or inf samples")
    if mono:
        wav = wav.mean(dim=0)
    if sample_rate is not None and sr != sample_rate:
        wav = torchaudio.functional.resample(wav, sr, sample_rate)
    return wav


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
