"""The objects of a Brain built from a recipe's hparams (the yaml's object graph).

* the model: ``AudioClassifier(encoder, head, layer)`` for the task's number of outputs
  (:func:`build_model`; the frame Brain builds a ``FrameModel``); ``head`` is an ``nn.Module``
  (``!new:``) or a ``!name:`` callable taking (input size, number of outputs);
* ``compute_cost``: the loss, with the task's options checked against it
  (:func:`petl_core.tasks.check_cost_options`);
* ``augmentation``: a :class:`petl_core.augment.Augmenter` (labels follow its pitch shifts and
  time stretches) or any SpeechBrain augmentation ``aug(wavs, lens)`` (labels unchanged);
* ``feature_cache``: null/false (off), true (in memory) or a folder (tied to the backbone);
* ``lr_annealing``: a ``!name:`` of a torch LR scheduler stepped after every optimiser step (the
  run's total step count goes to its ``T_max``/``total_steps`` when it takes one and the yaml does
  not set it), see :func:`make_scheduler_fn`.

Every problem is a :class:`petl_core.errors.ConfigError` naming the key.

Example:
    >>> import torch
    >>> build_head(torch.nn.Linear(4, 2), 4, 2)
    Linear(in_features=4, out_features=2, bias=True)
"""
from __future__ import annotations

import inspect

import torch

from lobes.cache import FeatureCache
from petl_core.augment import Augmenter
from petl_core.config import resolved_node
from petl_core.errors import ConfigError
from petl_core.tasks import check_cost_options


def build_head(head, in_features: int, num_outputs: int) -> torch.nn.Module:
    """The yaml's ``head``: an ``nn.Module`` (``!new:``) as it is, or a callable (``!name:``)
    called with (input size, number of outputs)."""
    if isinstance(head, torch.nn.Module):
        return head
    if not callable(head):
        raise ConfigError(f"head must be an nn.Module (!new:) or a callable (!name:) taking (input size, "
                          f"number of outputs), got {head!r}")
    return head(in_features, num_outputs)


def build_model(hparams, task):
    """``AudioClassifier(encoder, head, layer)`` for ``task``'s number of outputs."""
    from lobes.heads import AudioClassifier

    encoder = hparams["encoder"]
    return AudioClassifier(encoder, build_head(hparams["head"], encoder.hidden_size, task.num_outputs),
                           layer=hparams["layer"])


class SpeechBrainAugmentation:
    """A SpeechBrain augmentation ``aug(wavs, lens)`` behind :class:`Augmenter`'s interface."""

    enabled = True

    def __init__(self, augmentation) -> None:
        self.augmentation = augmentation

    def generator(self, epoch, step, rank=0):
        return None  # SpeechBrain's augmentations draw from the global torch RNG (seeded, checkpointed)

    def __call__(self, wavs, lens, generator):
        out = self.augmentation(wavs, lens)
        wavs, lens = out if isinstance(out, tuple) else (out, lens)
        return wavs, lens, {}


def as_augmenter(augmentation, sample_rate: int):
    """``augmentation`` from the yaml -> what the Brain calls (None = off)."""
    if augmentation is None:
        return None
    if isinstance(augmentation, Augmenter):
        if augmentation.sample_rate != sample_rate:
            raise ConfigError(f"augmentation: sample_rate {augmentation.sample_rate} but the backbone reads "
                              f"{sample_rate} Hz audio; set the augmentation's sample_rate to {sample_rate}")
        return augmentation
    if not callable(augmentation):
        raise ConfigError(f"augmentation must be a petl_core.augment.Augmenter, a SpeechBrain augmentation "
                          f"(callable on wavs, lens) or null, got {augmentation!r}")
    return SpeechBrainAugmentation(augmentation)


def make_scheduler_fn(lr_annealing, total_steps: int):
    """``optimizer -> scheduler`` from a ``!name:`` of a torch LR scheduler (None = constant lr)."""
    if lr_annealing is None:
        return None
    if not callable(lr_annealing):
        raise ConfigError(f"lr_annealing must be a !name: of a torch LR scheduler or null, got {lr_annealing!r}")
    given = set(getattr(lr_annealing, "keywords", {}) or {})
    params = inspect.signature(lr_annealing).parameters
    steps = {name: total_steps for name in ("T_max", "total_steps") if name in params and name not in given}
    return lambda optimizer: lr_annealing(optimizer, **steps)


def brain_arguments(hparams, task, build_model_fn) -> tuple[dict, dict]:
    """``(keyword arguments of the Brain, parameter counts)`` from ``hparams`` for ``task``."""
    from petl_modules import count_parameters

    compute_cost = hparams["compute_cost"]
    if not callable(compute_cost):
        raise ConfigError(f"compute_cost must be a !name: of a loss function, got {compute_cost!r}")
    check_cost_options(task, compute_cost)
    try:
        model = build_model_fn(hparams, task)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from exc
    counts = count_parameters(model, head=model.head)
    sr = model.backbone.sample_rate
    cache = hparams.get("feature_cache")  # null/false: off; true: in memory; a path: one file per clip
    if cache:  # a folder is tied to the backbone that wrote it
        try:
            model.backbone.feature_cache = FeatureCache(None if cache is True else str(cache),
                                                        identity=resolved_node(hparams, "encoder"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    augmenter = as_augmenter(hparams.get("augmentation"), sr)
    crop = hparams.get("crop_seconds")
    window = hparams.get("eval_window_seconds", crop)
    arguments = dict(
        modules={"model": model}, opt_class=hparams["opt_class"], hparams=dict(hparams),
        checkpointer=hparams["checkpointer"], task=task, compute_cost=compute_cost, augmenter=augmenter,
        eval_window=int(window * sr) if window else None, train_logger=hparams["train_logger"],
        weight_decay_vectors=bool(hparams.get("weight_decay_vectors", True)), feature_cache=bool(cache),
        cache_train_inputs=not crop and augmenter is None,
    )
    return arguments, counts
