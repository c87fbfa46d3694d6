"""Datasets and loaders: SpeechBrain ``DynamicItemDataset`` from manifests, audio through
``lobes.audio.load_audio`` at the backbone's sample rate.

* training items: a random crop of ``crop_seconds`` (read from disk as a window; clips shorter
  than the crop are used whole and padded by ``PaddedBatch``); the crop start comes from the
  global ``random`` module (seeded by the recipe's ``seed``);
* evaluation items: the whole clip; the Brain averages the model's logits over
  ``eval_window_seconds`` windows (see :func:`windows`). ``max_eval_seconds`` reads only the first
  ``max_eval_seconds`` of longer clips (as ``tools/predict.py`` does). The recipes pass the
  hparams key ``max_valid_seconds`` for the validation set only — the cap of long-track datasets:
  an MTG-Jamendo validation epoch otherwise decodes 16× the audio of a training epoch; see
  :func:`eval_cap` — and the test set runs on whole tracks (or ``max_eval_seconds``);
* ``label`` -> ``label_enc`` through the task's ``encode``; batches are ``PaddedBatch`` with
  relative lengths (SpeechBrain convention).

Example:
    >>> import torch
    >>> w, l, owner = windows(torch.zeros(2, 10), torch.tensor([1.0, 0.5]), 4)
    >>> w.shape[1], owner.tolist()
    (4, [0, 0, 0, 1, 1])
"""
from __future__ import annotations

import random

import speechbrain as sb
import torch
from speechbrain.dataio.dataset import DynamicItemDataset

from lobes.audio import load_audio
from petl_core.errors import ConfigError


def make_dataset(csv_path: str, task, sample_rate: int, train: bool, crop_seconds: float | None = None,
                 max_eval_seconds: float | None = None) -> DynamicItemDataset:
    dataset = DynamicItemDataset.from_csv(csv_path)

    @sb.utils.data_pipeline.takes("wav", "duration")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav, duration):
        duration = float(duration)
        if train and crop_seconds and duration > crop_seconds:
            start = random.uniform(0.0, duration - crop_seconds)
            return load_audio(wav, sample_rate, start=start, duration=crop_seconds)
        if not train and max_eval_seconds and duration > max_eval_seconds:
            return load_audio(wav, sample_rate, start=0.0, duration=max_eval_seconds)
        return load_audio(wav, sample_rate)

    @sb.utils.data_pipeline.takes("label")
    @sb.utils.data_pipeline.provides("label_enc")
    def label_pipeline(label):
        encoded = task.encode("" if label is None else str(label))
        return encoded.reshape(1) if task.scalar else encoded  # PaddedBatch cannot pad 0-d tensors

    sb.dataio.dataset.add_dynamic_item([dataset], audio_pipeline)
    sb.dataio.dataset.add_dynamic_item([dataset], label_pipeline)
    sb.dataio.dataset.set_output_keys([dataset], ["id", "sig", "label_enc"])
    return dataset


def eval_cap(hparams, split: str) -> float | None:
    """Seconds read per ``split`` ("valid"/"test") clip: ``max_eval_seconds`` for both, and for the
    validation set also ``max_valid_seconds`` (the smaller wins; None = whole clips).

    >>> eval_cap({"max_valid_seconds": 30, "max_eval_seconds": None}, "valid"), eval_cap({"max_valid_seconds": 30}, "test")
    (30.0, None)
    """
    caps = [hparams.get("max_eval_seconds")] + ([hparams.get("max_valid_seconds")] if split == "valid" else [])
    for key, cap in zip(("max_eval_seconds", "max_valid_seconds"), caps):
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or cap <= 0):
            raise ConfigError(f"{key} must be a positive number of seconds or null, got {cap!r}")
    caps = [float(c) for c in caps if c is not None]
    return min(caps) if caps else None


def windows(wavs: torch.Tensor, lengths: torch.Tensor, window: int):
    """Cut each clip into ``window``-sample windows (hop = window; the last one ends at the clip's
    end). Returns (windows ``[W, window]``, relative lengths ``[W]``, owner index ``[W]``)."""
    total = wavs.shape[1]
    abs_len = torch.round(lengths.float().cpu() * total).long().clamp(1, total)
    chunks, lens, owner = [], [], []
    for i, n in enumerate(abs_len.tolist()):
        if n <= window:
            starts = [0]
        else:
            starts = list(range(0, n - window + 1, window))
            if starts[-1] + window < n:
                starts.append(n - window)
        for s in starts:
            piece = wavs[i, s: s + min(window, n)]
            chunks.append(torch.nn.functional.pad(piece, (0, window - piece.shape[0])))
            lens.append(min(window, n) / window)
            owner.append(i)
    return (torch.stack(chunks), torch.tensor(lens, device=wavs.device),
            torch.tensor(owner, device=wavs.device))
