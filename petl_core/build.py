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


def build_head(head, in_features: int, num_outputs: int, frames: bool = False) -> torch.nn.Module:
    """The yaml's ``head``: an ``nn.Module`` (``!new:``) as it is, or a callable (``!name:``)
    called with (input size, number of outputs); checked on a zero input of the backbone's width
    (``[2, in_features]``, or ``[2, 3, in_features]`` for a frame head): it must give
    ``num_outputs`` outputs (a ``!new:`` head of other widths fails at the first step, deep in torch,
    or silently trains the wrong number of classes)."""
    if not isinstance(head, torch.nn.Module):
        if not callable(head):
            raise ConfigError(f"head must be an nn.Module (!new:) or a callable (!name:) taking (input size, "
                              f"number of outputs), got {head!r}")
        head = head(in_features, num_outputs)
    sample = torch.zeros((2, 3, in_features) if frames else (2, in_features))
    fix = f"use head: !name:... (built for the backbone and the task) or give it ({in_features}, {num_outputs})"
    was_training = head.training
    try:
        with torch.no_grad():
            out = head.eval()(sample)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ConfigError(f"head {type(head).__name__} does not take the backbone's {in_features}-wide features "
                          f"({str(exc).splitlines()[0]}): {fix}") from None
    finally:
        head.train(was_training)
    if not isinstance(out, torch.Tensor) or out.shape[:-1] != sample.shape[:-1] or out.shape[-1] != num_outputs:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"head {type(head).__name__} gives outputs of shape {shape} for input {tuple(sample.shape)}, "
                          f"but the task has {num_outputs} output(s): {fix}")
    return head


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
    signature = inspect.signature(lr_annealing)
    steps = {name: total_steps for name in ("T_max", "total_steps") if name in signature.parameters
             and name not in given}
    try:  # before training: a missing argument would fail when the optimiser is built
        signature.bind(None, **steps)
    except TypeError as exc:
        name = getattr(getattr(lr_annealing, "func", lr_annealing), "__name__", repr(lr_annealing))
        raise ConfigError(f"lr_annealing: {name} {exc}; give it in the yaml (lr_annealing: !name:...{name} "
                          "{<argument>: <value>})") from None
    return lambda optimizer: lr_annealing(optimizer, **steps)


def check_optimizer(opt_class) -> None:
    """``opt_class`` (a ``!name:`` of a torch optimiser with its options) accepts its options: an
    option of the wrong type or range is one error before training (torch refuses it only when the
    Brain builds the optimiser, in a traceback).

    >>> import functools
    >>> check_optimizer(functools.partial(torch.optim.AdamW, lr=0.1, weight_decay="lots"))
    Traceback (most recent call last):
    petl_core.errors.ConfigError: opt_class: AdamW refuses its options (lr=0.1, weight_decay='lots'): \
weight_decay must be a number like its default 0.01, got 'lots'
    """
    if not callable(opt_class):
        raise ConfigError(f"opt_class must be a !name: of a torch optimiser with its options, got {opt_class!r}")
    func, options = getattr(opt_class, "func", opt_class), dict(getattr(opt_class, "keywords", {}) or {})
    name = getattr(func, "__name__", repr(func))
    shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
    try:
        defaults = inspect.signature(func).parameters
    except (TypeError, ValueError):
        defaults = {}
    for key, value in options.items():
        default = defaults[key].default if key in defaults else None
        if isinstance(default, (int, float)) and not isinstance(default, bool) and (
                isinstance(value, (str, bool)) or not isinstance(value, (int, float))):
            raise ConfigError(f"opt_class: {name} refuses its options ({shown}): {key} must be a number like its "
                              f"default {default}, got {value!r}")
    try:
        opt_class([torch.nn.Parameter(torch.zeros(1))])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"opt_class: {name} refuses its options ({shown}): {str(exc).splitlines()[0]}") from None


def brain_arguments(hparams, task, build_model_fn) -> tuple[dict, dict]:
    """``(keyword arguments of the Brain, parameter counts)`` from ``hparams`` for ``task``."""
    from petl_modules import count_parameters

    compute_cost = hparams["compute_cost"]
    if not callable(compute_cost):
        raise ConfigError(f"compute_cost must be a !name: of a loss function, got {compute_cost!r}")
    check_cost_options(task, compute_cost)
    check_optimizer(hparams["opt_class"])
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
