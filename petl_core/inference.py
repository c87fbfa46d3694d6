"""Using a trained run: rebuild its model, load its best-validation checkpoint, predict, embed.

Shared by ``tools/predict.py`` and ``tools/tsne.py``. A run's output folder holds
``results.json`` (its ``config`` is the resolved hyperparameters: ``backbone``, ``method``,
``head``, ``layer``, ``seed``, ``task`` (the fitted task)...), ``hyperparams.yaml`` (the recipe's
yaml resolved: it reloads on its own) and ``save/CKPT+*/model.ckpt`` (the trainable tensors only,
see :class:`petl_core.checkpointing.TrainableState`). :func:`load_run` rebuilds the model from
``hyperparams.yaml`` exactly as the recipe did (its seed first, so frozen weights of a randomly
initialised backbone are the same; pretrained weights as configured; any head the yaml names),
then loads the checkpoint that ``evaluate(max_key=task.main_metric)`` picks (or the one given).

A run without ``results.json`` (still training, or killed) is read from its ``hyperparams.yaml``
and its training manifest.
Relative paths in a run's configuration (``save_folder``, manifests) were relative to the folder
the recipe ran in; :func:`run_path` finds them from the run folder, wherever the tool is started.

Evaluation-equivalent inference (:func:`clip_logits`, :func:`clip_embedding`): the whole clip
(capped at ``max_eval_seconds``), cut into ``eval_window_seconds`` windows (default
``crop_seconds``) as :func:`petl_core.data.windows` does, outputs averaged over windows.

Example:
    >>> # model, task, hp = load_run("results/SynthMusic/key/1234")
    >>> # wav = load_clip("song.wav", model, hp); decode(task, clip_logits(model, wav, hp))
"""
from __future__ import annotations

import json
import logging
import math
import os

import torch

from lobes.audio import load_audio
from lobes.loading import random_weights_noted
from petl_core.checkpointing import TrainableState
from petl_core.data import windows
from petl_core.errors import CheckpointMismatchError
from petl_core.tasks import Task

logger = logging.getLogger(__name__)


class RunError(ValueError):
    """A run folder or checkpoint that cannot be used (the message names the path)."""


# ------------------------------------------------------------------------------------ config
def run_config(folder: str) -> dict:
    """The resolved hyperparameters of a run (``results.json`` ``config``, else ``hyperparams.yaml``)."""
    folder = os.path.abspath(folder)
    if not os.path.isdir(folder):
        raise RunError(f"{folder}: run folder not found")
    results = os.path.join(folder, "results.json")
    if os.path.isfile(results):
        try:
            with open(results, encoding="utf-8") as f:
                config = json.load(f).get("config")
        except (OSError, ValueError) as exc:
            raise RunError(f"{results}: unreadable ({exc})") from None
        if not isinstance(config, dict) or "backbone" not in config:
            raise RunError(f"{results}: no resolved 'config' (not a results.json written by a recipe run?)")
        return config
    hparams_file = os.path.join(folder, "hyperparams.yaml")
    if not os.path.isfile(hparams_file):
        raise RunError(f"{folder}: neither results.json nor hyperparams.yaml (not a run output folder?)")
    return _config_from_hyperparams(hparams_file)


def _config_from_hyperparams(path: str) -> dict:
    from petl_core.config import load_hparams, plain

    try:
        hparams = load_hparams(path, {"checkpointer": None, "train_logger": None})
    except Exception as exc:  # placeholders, missing files...
        raise RunError(f"{path}: cannot load ({exc})") from None
    return plain(hparams)


def run_path(folder: str, config: dict, path: str | None) -> str | None:
    """A path from a run's configuration, resolved as the run saw it, from any current folder.

    Absolute paths are kept. A relative one was relative to the folder the recipe ran in, where
    the recorded ``output_folder`` named ``folder``: so it is taken relative to ``folder`` through
    that (``output_folder: results/k/1``, ``save_folder: ckpt/1`` -> ``<folder>/../../../ckpt/1``);
    when ``output_folder`` was absolute (the recipe's folder is unknown), relative to ``folder``.

    >>> run_path("/runs/k/1", {"output_folder": "results/k/1"}, "results/k/1/save")
    '/runs/k/1/save'
    """
    if not path or os.path.isabs(path):
        return path
    output = config.get("output_folder")
    relative = os.path.relpath(path, output) if isinstance(output, str) and not os.path.isabs(output) else path
    return os.path.normpath(os.path.join(os.path.abspath(folder), relative))


def build_run_task(config: dict, folder: str | None, task: Task) -> Task:
    """The run's ``task`` (the yaml's object) with the run's class/tag lists: those of the fitted
    task in ``config["task"]``, else of the run's training manifest (a new task: ``task.fitted``)."""
    resolved = config.get("task") if isinstance(config.get("task"), dict) else {}
    if resolved.get("classes") and hasattr(task, "with_classes"):
        return task.with_classes(resolved["classes"])
    if resolved.get("tags") and hasattr(task, "with_tags"):
        return task.with_tags(resolved["tags"])
    # the FULL training manifest (as the recipe), not a few-shot subset
    train_csv = (config.get("manifests") or {}).get("train") or config.get("train_csv")
    if folder is not None:
        train_csv = run_path(folder, config, train_csv)
    candidates = [train_csv, os.path.join(folder or "", "manifests", "train.csv")]
    train_csv = next((c for c in candidates if c and os.path.isfile(c)), None)
    try:
        return task.fitted(train_csv)
    except (ValueError, TypeError, OSError) as exc:
        raise RunError(f"{folder}: cannot recover the task's labels ({exc}; no results.json and no "
                       "training manifest?)") from None


# ------------------------------------------------------------------------------------ checkpoint
def find_best_checkpoint(save_folder: str, main_metric: str) -> str:
    """``model.ckpt`` of the checkpoint ``Checkpointer.find_checkpoint(max_key=main_metric)`` picks."""
    from speechbrain.utils.checkpoints import Checkpointer

    if not os.path.isdir(save_folder):
        raise RunError(f"{save_folder}: no checkpoint folder (did the run train at least one epoch?)")
    ckpt = Checkpointer(save_folder).find_checkpoint(max_key=main_metric)
    if ckpt is None:
        raise RunError(f"{save_folder}: no checkpoint with {main_metric!r} in its meta")
    path = os.path.join(str(ckpt.path), "model.ckpt")
    if not os.path.isfile(path):
        raise RunError(f"{ckpt.path}: no model.ckpt in this checkpoint")
    return path


def _checkpoint_file(checkpoint: str) -> str:
    path = os.path.join(checkpoint, "model.ckpt") if os.path.isdir(checkpoint) else checkpoint
    if not os.path.isfile(path):
        raise RunError(f"{checkpoint}: checkpoint not found (a CKPT+... folder or its model.ckpt)")
    return path


def run_save_folder(folder: str, config: dict) -> str:
    """``<run>/save`` when present (a moved run), else the configured ``save_folder`` (a relative
    one resolved by :func:`run_path`, not against the current folder)."""
    local = os.path.join(os.path.abspath(folder), "save")
    if os.path.isdir(local) or not config.get("save_folder"):
        return local
    return run_path(folder, config, config["save_folder"])


def load_run(folder: str, checkpoint: str | None = None, device: str = "cpu"):
    """``(model, task, hparams)`` of a trained run, model in eval mode on ``device``.

    ``checkpoint``: a ``CKPT+...`` folder or ``model.ckpt`` file; default the best-validation one.
    ``hparams`` is the resolved configuration plus ``checkpoint`` (the file loaded).
    """
    from petl_core.build import build_model
    from petl_core.recipe import load_run_hparams

    config = run_config(folder)
    try:  # the run's objects, built as the run built them (its __set_seed first); nothing written
        with random_weights_noted() as random_backbones:  # logged below, once the checkpoint is loaded
            objects = load_run_hparams(folder, {"checkpointer": None, "train_logger": None})
            task = build_run_task(config, folder, objects["task"])
            model = build_model(objects, task)
    except (ValueError, OSError, TypeError, KeyError) as exc:
        raise RunError(f"{folder}: cannot rebuild the model ({exc})") from None
    path = _checkpoint_file(checkpoint) if checkpoint else find_best_checkpoint(
        run_save_folder(folder, config), task.main_metric)
    try:
        TrainableState(model).load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except CheckpointMismatchError as exc:
        raise RunError(f"{path}: {exc}") from None
    except (OSError, RuntimeError) as exc:
        raise RunError(f"{path}: unreadable checkpoint ({exc})") from None
    model.eval().to(device)
    frozen = (f"; its frozen backbone weights are the run's seeded random initialisation "
              f"({', '.join(random_backbones)}), as in training" if random_backbones else "")
    logger.info("%s: trained weights loaded from %s%s", folder, path, frozen)
    return model, task, {**config, "checkpoint": path}


def check_not_input(outputs, inputs) -> None:
    """``RunError`` when one of the ``outputs`` paths is one of the ``inputs`` (a tool never writes
    over its manifest, audio or checkpoint)."""
    def same(a, b):
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)

    for out in outputs:
        clash = next((i for i in inputs if os.path.abspath(i) == os.path.abspath(out) or same(i, out)), None)
        if clash is not None:
            raise RunError(f"{out}: would overwrite an input ({clash}); give another --out")


# ------------------------------------------------------------------------------------ inference
def eval_window_samples(model, hparams: dict) -> int | None:
    window = hparams.get("eval_window_seconds", hparams.get("crop_seconds"))
    return int(window * model.backbone.sample_rate) if window else None


def load_clip(path: str, model, hparams: dict, max_seconds: float | None = -1.0) -> torch.Tensor:
    """The clip as evaluation reads it (mono, backbone rate, capped at ``max_eval_seconds``;
    ``max_seconds`` > 0 overrides the cap, ``None``/0 = whole file, -1 = the run's cap)."""
    if max_seconds not in (None, -1.0) and not (math.isfinite(max_seconds) and max_seconds >= 0):
        raise ValueError(f"max_seconds must be > 0, 0/None (whole file) or -1 (the run's cap), got {max_seconds}")
    cap = hparams.get("max_eval_seconds") if max_seconds == -1.0 else max_seconds
    if cap:
        from lobes.audio import audio_info

        if audio_info(path).duration > cap:
            return load_audio(path, model.backbone.sample_rate, start=0.0, duration=cap)
    return load_audio(path, model.backbone.sample_rate)


@torch.no_grad()
def _windowed(fn, device, wav: torch.Tensor, window: int | None, batch_windows: int = 16) -> torch.Tensor:
    wav = wav.to(device)[None]
    lens = torch.ones(1, device=device)
    if window is None:
        return fn(wav, lens)[0].float()
    chunks, chunk_lens, _ = windows(wav, lens, window)
    total = None
    for i in range(0, len(chunks), batch_windows):
        out = fn(chunks[i:i + batch_windows], chunk_lens[i:i + batch_windows]).float().sum(0)
        total = out if total is None else total + out
    return total / len(chunks)


def _device(model) -> torch.device:
    return next(model.parameters()).device


def clip_logits(model, wav: torch.Tensor, hparams: dict, batch_windows: int = 16) -> torch.Tensor:
    """Logits ``[num_outputs]`` of one clip ``[T]``, averaged over evaluation windows."""
    return _windowed(model, _device(model), wav, eval_window_samples(model, hparams), batch_windows)


def clip_embedding(model, wav: torch.Tensor, hparams: dict, batch_windows: int = 16) -> torch.Tensor:
    """Pooled embedding ``[D]`` (``AudioClassifier.embed``) of one clip, averaged over windows."""
    return _windowed(model.embed, _device(model), wav, eval_window_samples(model, hparams), batch_windows)


def decode(task: Task, logits: torch.Tensor, top_k: int = 5, threshold: float = 0.5) -> dict:
    """A prediction from one clip's logits ``[num_outputs]``, by task:

    * classification: ``label``, ``score`` (softmax probability), ``top_k`` [{label, score}];
    * tagging: ``tags`` (sigmoid >= ``threshold``, best first), ``scores`` {tag: probability};
    * key: ``key``, ``confidence`` (softmax probability), ``top_k``;
    * tempo: ``bpm`` (the task's decoder: arg-max bin, refined on a log grid).
    """
    logits = logits.float().reshape(-1)
    name = task.name
    if name == "tempo":
        return {"bpm": round(float(task.predict_bpm(logits[None])[0]), 3)}
    if name == "tagging":
        probs = torch.sigmoid(logits)
        order = torch.argsort(probs, descending=True).tolist()
        return {"tags": [task.tags[i] for i in order if probs[i] >= threshold],
                "scores": {task.tags[i]: round(float(probs[i]), 6) for i in range(len(task.tags))}}
    probs = torch.softmax(logits, -1)
    k = len(probs) if top_k <= 0 else min(top_k, len(probs))
    values, indices = torch.topk(probs, k)
    top = [{"label": task.decode(i), "score": round(float(v), 6)} for v, i in zip(values.tolist(), indices.tolist())]
    best = int(logits.argmax())
    if name == "key":
        return {"key": task.decode(best), "confidence": round(float(probs[best]), 6), "top_k": top}
    return {"label": task.decode(best), "score": round(float(probs[best]), 6), "top_k": top}
