"""The base Brain of every recipe: what a recipe's ``train.py`` does not have to write.

A recipe is SpeechBrain's own form: ``hparams/*.yaml`` is the object graph (backbone, PETL method,
head, ``opt_class``, ``lr_annealing``, ``compute_cost``, ``augmentation``, ``epoch_counter``,
``checkpointer``, ``train_logger``, ``task`` = label encoding and metrics) and ``train.py`` holds
the task's Brain (a :class:`RecipeBrain` subclass), ``dataio_prep`` and the ``__main__`` flow:

.. code-block:: python

    class KeyBrain(RecipeBrain):
        def compute_objectives(self, predictions, batch, stage):
            logits, keys = predictions
            self.keep(stage, logits, keys, batch)
            return self.hparams.compute_cost(logits.float(), keys)

    if __name__ == "__main__":
        hparams, run_opts = KeyBrain.setup(sys.argv[1:])
        datasets = dataio_prep(hparams)
        KeyBrain(hparams, run_opts).fit_and_test(datasets)

What :class:`RecipeBrain` adds to :class:`petl_core.brain.PETLBrain` (trainable-only optimiser
and checkpoints, frozen BatchNorm, non-finite losses, eval windows, DDP):

* :meth:`RecipeBrain.setup`: SpeechBrain's argument parsing (ambiguous ``--prefixes`` refused),
  DDP init, :func:`petl_core.config.load_hparams`, the check that every yaml key is read by the
  yaml or the recipe's code (:func:`petl_core.config.unread_keys`), the experiment folder and its
  ``hyperparams.yaml`` (resolved: it reloads on its own, see :func:`load_run_hparams`);
* :func:`prepare_datasets`: data preparation on the main process (manifests broadcast), manifest
  checks, the task fitted on the FULL training manifest (class/tag lists), an optional few-shot
  subset (``few_shot_k``/``few_shot_seed``), the datasets (``sig``, ``label_enc``);
* the model: ``AudioClassifier(encoder, head, layer)``; ``head`` is an ``nn.Module`` (``!new:``)
  or a ``!name:`` callable taking (input size, number of outputs); ``lr_annealing`` a ``!name:``
  of a torch LR scheduler stepped after every optimiser step (the run's total step count goes to
  its ``T_max``/``total_steps`` when it takes one and the yaml does not set it); ``augmentation``
  a :class:`petl_core.augment.Augmenter` (labels follow its pitch shifts and time stretches) or
  any SpeechBrain augmentation ``aug(wavs, lens)`` (labels unchanged);
* :meth:`RecipeBrain.fit_and_test`: fit, evaluation of valid and test on the best-validation
  checkpoint, ``results.json`` (:mod:`petl_core.results`: bootstrap CIs, parameter counts,
  seconds per epoch, the resolved configuration).

hparams keys read here (besides the objects above): ``seed``, ``output_folder``, ``save_folder``,
``data_folder``, ``prepare``, ``manifest_folder``, ``validate_audio``, ``train_csv``/``valid_csv``/
``test_csv`` (when a recipe has no prepare), ``encoder``, ``petl``, ``layer``, ``number_of_epochs``,
``train_dataloader_opts``, ``valid_dataloader_opts``, ``crop_seconds``, ``eval_window_seconds``,
``max_eval_seconds``, ``max_valid_seconds`` (:func:`petl_core.data.eval_cap`), ``few_shot_k``, ``few_shot_seed``,
``bootstrap_resamples``, ``bootstrap_seed``, ``results_file``, ``record_train_ids``,
``num_threads``, ``feature_cache``, ``weight_decay_vectors``.
"""
from __future__ import annotations

import inspect
import logging
import math
import os
import shutil
import sys
import time

import speechbrain as sb
import torch
from speechbrain.utils.distributed import ddp_barrier, ddp_broadcast, if_main_process, is_distributed_initialized

from lobes.audio import AudioError
from lobes.cache import FeatureCache
from petl_core.augment import Augmenter
from petl_core.brain import CheckpointMismatchError, NonFiniteLossError, PETLBrain, UnusedParametersError
from petl_core import output_folder
from petl_core.config import (ConfigError, build, check_command_line, load_hparams, plain, resolve, resolved_node,
                              resolved_tree, unread_keys)
from petl_core import data as data_module
from petl_core.data import eval_cap, make_dataset
from petl_core.few_shot import FewShotError, write_few_shot_manifest
from petl_core.manifest import DatasetError, ManifestError, check_manifest
from petl_core.metrics import bootstrap_ci
from petl_core.results import extra_results, write_results

logger = logging.getLogger(__name__)

#: results.json keys the run writes itself (extra_results of the model may not reuse them)
RESERVED_KEYS = ("task", "main_metric", "status", "valid", "test", "test_ci95", "bootstrap", "n_items", "params",
                 "epochs", "best_epoch", "seconds_per_epoch", "epoch_seconds", "train_seconds", "valid_history",
                 "n_train", "world_size", "config")
RUN_OPTIONS = ("device", "precision", "eval_precision", "max_grad_norm", "nonfinite_patience",
               "grad_accumulation_factor", "ckpt_interval_steps", "ckpt_interval_minutes", "distributed_backend")


class RecipeError(ValueError):
    """A recipe cannot run as configured (the message names the key or file)."""


def world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed_initialized() else 1


def fail(message: str, code: int = 2):
    """One line on stderr (no traceback) and exit ``code``."""
    logger.error(message)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def on_main_then_broadcast(fn, *args, **kwargs):
    """``fn`` on the main process only; its (picklable) result is sent to every rank."""
    result = fn(*args, **kwargs) if if_main_process() else None
    if is_distributed_initialized():
        ddp_barrier()
        result = ddp_broadcast(result, src=0)
    return result


def lr_for_method(table: dict, method: str) -> float:
    """The learning rate of ``method`` in an lr table (``hparams_common/lr_tables``), else its
    ``default``: ``lr: !apply:petl_core.recipe.lr_for_method [!ref <lr_by_method>, !ref <petl[name]>]``.

    >>> lr_for_method({"default": 0.005, "prompt": 0.01}, "prompt"), lr_for_method({"default": 0.005}, "lora")
    (0.01, 0.005)
    """
    lr = table.get(method, table.get("default"))
    if lr is None:
        raise ConfigError(f"lr_by_method has no entry for method {method!r} and no 'default'; give --lr")
    return float(lr)


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
    """``AudioClassifier(encoder, head, layer)`` for ``task``'s number of outputs (see the module doc)."""
    from lobes.heads import AudioClassifier

    encoder = hparams["encoder"]
    return AudioClassifier(encoder, build_head(hparams["head"], encoder.hidden_size, task.num_outputs),
                           layer=hparams["layer"])


class SpeechBrainAugmentation:
    """A SpeechBrain augmentation ``aug(wavs, lens)`` behind :class:`Augmenter`'s interface."""

    enabled = True

    def __init__(self, augmentation, seed: int) -> None:
        self.augmentation, self.seed = augmentation, seed

    def generator(self, epoch, step, rank=0):
        return None  # SpeechBrain's augmentations draw from the global torch RNG (seeded, checkpointed)

    def __call__(self, wavs, lens, generator):
        out = self.augmentation(wavs, lens)
        wavs, lens = out if isinstance(out, tuple) else (out, lens)
        return wavs, lens, {}


def as_augmenter(augmentation, seed: int, sample_rate: int):
    """``augmentation`` from the yaml -> what :class:`PETLBrain` calls (None = off)."""
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
    return SpeechBrainAugmentation(augmentation, seed)


def check_values(tree: dict) -> None:
    """Epochs, batch sizes and the learning rate (of a resolved yaml, :func:`resolved_tree`) are
    positive numbers of the right kind."""
    def positive(key, value, kind=int):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        if not ok or (kind is int and not float(value).is_integer()):
            raise ConfigError(f"{key} must be a positive {'integer' if kind is int else 'number'}, got {value!r}")

    positive("number_of_epochs", tree.get("number_of_epochs"))
    for key in ("train_dataloader_opts", "valid_dataloader_opts"):
        positive(f"{key}[batch_size]", (tree.get(key) or {}).get("batch_size", 1))
    opt = tree.get("opt_class") if isinstance(tree.get("opt_class"), dict) else {}
    if "lr" in opt and not isinstance(opt["lr"], dict):  # a mapping: computed (lr_for_method)
        positive("lr", opt["lr"], float)


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


# ------------------------------------------------------------------------------------------- data
def prepare_datasets(hparams, prepare=None) -> dict:
    """Manifests (``prepare`` on the main process), the task fitted on them, the datasets.

    Returns ``{"train", "valid", "test"}`` datasets plus ``"manifests"`` and ``"train_csv"``
    (the few-shot subset when ``few_shot_k`` is set). Problems are one clear error (exit 2).
    """
    task = hparams["task"]
    manifest_folder = hparams.get("manifest_folder") or os.path.join(hparams["output_folder"], "manifests")
    try:
        if prepare is not None:
            manifests = on_main_then_broadcast(prepare, data_folder=hparams["data_folder"],
                                               save_folder=manifest_folder, **(hparams.get("prepare") or {}))
        else:
            manifests = {"train": hparams["train_csv"], "valid": hparams["valid_csv"], "test": hparams["test_csv"]}
        own = prepare is None or bool(hparams.get("validate_audio"))  # prepare validated its own
        for split in ("train", "valid", "test"):  # every problem of every manifest, before anything trains
            check_manifest(manifests[split], check_audio=own)
        task.fit(manifests["train"])  # class/tag lists from the FULL training manifest
        for split in ("train", "valid", "test"):
            check_manifest(manifests[split], task.encode)
    except (DatasetError, ManifestError, ValueError) as exc:
        fail(str(exc))
    train_csv = manifests["train"]
    k = hparams.get("few_shot_k")
    if k not in (None, 0) and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        fail(f"few_shot_k must be a positive integer (or 0/null = all data), got {k!r}")
    if k:
        out = os.path.join(hparams["output_folder"], f"train_few_shot_k{k}_s{hparams['few_shot_seed']}.csv")
        try:
            train_csv = on_main_then_broadcast(write_few_shot_manifest, manifests["train"], out, int(k),
                                               int(hparams["few_shot_seed"]), multi_label=not task.scalar,
                                               class_of=task.few_shot_class, short=task.few_shot_short)
        except FewShotError as exc:
            fail(str(exc))
    sr = hparams["encoder"].sample_rate
    try:
        caps = {split: eval_cap(hparams, split) for split in ("valid", "test")}  # max_eval/valid_seconds
    except ValueError as exc:
        fail(str(exc))
    return {"train": make_dataset(train_csv, task, sr, train=True, crop_seconds=hparams.get("crop_seconds")),
            "valid": make_dataset(manifests["valid"], task, sr, train=False, max_eval_seconds=caps["valid"]),
            "test": make_dataset(manifests["test"], task, sr, train=False, max_eval_seconds=caps["test"]),
            "manifests": manifests, "train_csv": train_csv}


def check_device(device: str | None) -> None:
    """A ``--device`` this machine has: one clear error instead of CUDA's traceback (None: inferred)."""
    if not device or not str(device).startswith("cuda"):
        return
    count = torch.cuda.device_count()
    index = int(str(device).split(":")[1]) if ":" in str(device) else 0
    if count == 0:
        raise ConfigError(f"--device={device}: no CUDA GPU is visible on this machine (torch.cuda.device_count() "
                          "is 0); use --device=cpu")
    if index >= count:
        raise ConfigError(f"--device={device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")


# ------------------------------------------------------------------------------------------ Brain
class RecipeBrain(PETLBrain):
    """Base Brain of a recipe, built from its hparams (see the module docstring).

    Subclasses (the task's Brain, in ``train.py``) override ``compute_objectives`` (and, where the
    task needs it, ``compute_forward`` / ``on_stage_end``); :meth:`keep` hands the evaluation
    outputs to the metrics of ``hparams["task"]``.
    """

    @classmethod
    def setup(cls, argv):
        """``(hparams, run_opts)``: arguments, DDP, hparams (checked), experiment folder."""
        try:
            check_command_line(argv)
        except ConfigError as exc:
            fail(str(exc))
        hparams_file, run_opts, overrides = sb.parse_arguments(argv)
        try:
            check_device(run_opts["device"])
        except ConfigError as exc:
            fail(str(exc))
        sb.utils.distributed.ddp_init_group(run_opts)
        try:
            text = resolve(hparams_file, overrides)
            check_values(resolved_tree(text))  # before any object is built
            out = resolved_node(text, "output_folder")
            if os.path.exists(out) and not os.path.isdir(out):  # the checkpointer would fail deep inside
                raise ConfigError(f"output_folder {out} is a file, not a folder: give another --output_folder")
            hparams = build(hparams_file, text)
        except (ConfigError, ValueError, OSError, TypeError) as exc:  # also: unknown backbone/method, no weights
            fail(str(exc).splitlines()[0] if str(exc) else repr(exc))
        recipe_file = sys._getframe(1).f_globals.get("__file__")  # the train.py calling setup
        unread = unread_keys(hparams, cls.source(recipe_file))
        if unread:
            fail(f"{hparams_file}: key(s) {', '.join(unread)} are read by nothing (no !ref in the yaml, no "
                 f"hparams[...] in {cls.__name__} or its recipe): remove them or use them")
        if hparams.get("num_threads"):
            torch.set_num_threads(int(hparams["num_threads"]))  # 1 is much faster on a shared CPU
        out = hparams["output_folder"]
        if if_main_process():
            try:
                output_folder.claim(out)
                changed = output_folder.check_same_settings(out, hparams.text)
            except (ConfigError, OSError) as exc:
                fail(str(exc))
            if changed:
                fail(f"{out} holds a run with other settings ({', '.join(changed)} differ): it would train nothing "
                     "and report the new settings; rerun it with its own settings, or give another --output_folder")
        sb.create_experiment_directory(experiment_directory=out)
        if if_main_process():
            copied = os.path.join(out, os.path.basename(__file__))  # SpeechBrain copies its caller: this file
            if os.path.isfile(copied) and os.path.basename(recipe_file or "") != os.path.basename(__file__):
                os.remove(copied)
            if recipe_file and os.path.isfile(recipe_file):
                shutil.copy(recipe_file, out)
            with open(os.path.join(hparams["output_folder"], "hyperparams.yaml"), "w", encoding="utf-8") as f:
                f.write(f"# {hparams_file}, resolved (overrides applied, pieces included); reloads on its own\n")
                f.write(hparams.text)
        return hparams, run_opts

    @classmethod
    def source(cls, recipe_file: str | None = None) -> str:
        """The code that may read hparams: the recipe's ``train.py`` and the modules of the Brain
        classes from ``cls`` down to :class:`PETLBrain`."""
        paths = {getattr(sys.modules[c.__module__], "__file__", None) for c in cls.__mro__ if issubclass(c, PETLBrain)}
        paths.add(data_module.__file__)  # eval_cap reads max_eval_seconds / max_valid_seconds
        texts = []
        for path in sorted(p for p in paths | {recipe_file} if p):
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    texts.append(f.read())
        return "\n".join(texts)

    #: ``(hparams, task) -> model`` (frame-level Brains build a ``FrameModel``)
    build_model = staticmethod(build_model)

    def __init__(self, hparams, run_opts=None):
        task = hparams["task"]
        try:
            model = self.build_model(hparams, task)
        except (ValueError, TypeError) as exc:
            fail(str(exc))
        from petl_modules import count_parameters

        self.counts = count_parameters(model, head=model.head)
        sr = model.backbone.sample_rate
        cache = hparams.get("feature_cache")  # null/false: off; true: in memory; a path: one file per clip
        if cache:  # a folder is tied to the backbone that wrote it
            try:
                model.backbone.feature_cache = FeatureCache(None if cache is True else str(cache),
                                                            identity=resolved_node(hparams, "encoder"))
            except ValueError as exc:
                fail(str(exc))
        try:
            augmenter = as_augmenter(hparams.get("augmentation"), int(hparams["seed"]), sr)
        except ConfigError as exc:
            fail(str(exc))
        crop = hparams.get("crop_seconds")
        window = hparams.get("eval_window_seconds", crop)
        self.hparams_dict = hparams
        super().__init__(
            modules={"model": model}, opt_class=hparams["opt_class"], hparams=dict(hparams), run_opts=run_opts,
            checkpointer=hparams["checkpointer"], task=task, augmenter=augmenter,
            eval_window=int(window * sr) if window else None, train_logger=hparams["train_logger"],
            weight_decay_vectors=bool(hparams.get("weight_decay_vectors", True)), feature_cache=bool(cache),
            cache_train_inputs=not crop and augmenter is None,
        )
        task.loss = self.stage_cost  # the validation/test loss is the yaml's compute_cost too
        if hparams.get("record_train_ids"):
            self.record_ids_file = os.path.join(hparams["output_folder"], f"train_ids_rank{self.rank}.txt")
        logger.info("parameters: trainable %s / total %s (+ head %s)", f"{self.counts['trainable']:,}",
                    f"{self.counts['total']:,}", f"{self.counts['head']:,}")

    # -------------------------------------------------------------------------------- objectives
    def keep(self, stage, logits, labels, batch) -> None:
        """Keep evaluation outputs for the metrics (``on_stage_end``); nothing in training."""
        if stage not in (None, sb.Stage.TRAIN):
            self._logits.append(logits.detach().float().cpu())
            self._labels.append(labels.detach().cpu())
            self._ids.extend(batch.id)

    def stage_cost(self, logits, labels):
        """The loss of evaluation outputs, as ``compute_objectives`` computes it."""
        return self.compute_objectives((logits, labels), None, None)

    def compute_objectives(self, predictions, batch, stage):
        """The yaml's ``compute_cost`` of the logits and :meth:`targets`; evaluation outputs kept."""
        logits, labels = predictions
        self.keep(stage, logits, labels, batch)
        return self.hparams.compute_cost(logits.float(), self.targets(labels))

    def targets(self, labels):
        """What ``compute_cost`` compares the logits with (the task's Brain says)."""
        raise NotImplementedError(f"{type(self).__name__} defines no targets(labels) for compute_cost")

    # -------------------------------------------------------------------------------- the run
    def fit_and_test(self, datasets) -> dict | None:
        """Train, evaluate valid and test on the best-validation checkpoint, write results.json."""
        hparams = self.hparams_dict
        train_opts, eval_opts = dict(hparams["train_dataloader_opts"]), dict(hparams["valid_dataloader_opts"])
        steps = math.ceil(math.ceil(len(datasets["train"]) / world_size()) / int(train_opts.get("batch_size", 1)))
        steps = math.ceil(steps / int(self.grad_accumulation_factor or 1))
        try:
            total = max(1, steps * int(hparams["number_of_epochs"]))
            self.scheduler_fn = make_scheduler_fn(hparams.get("lr_annealing"), total)
        except ConfigError as exc:
            fail(str(exc))
        task, t0, status = self.task, time.time(), "ok"
        try:
            # the loader draws its worker seed from its own generator, not from the global random state,
            # so a run resumed from a checkpoint (RandomState) draws exactly what the original drew
            loader_rng = torch.Generator().manual_seed(int(hparams["seed"]))
            self.fit(hparams["epoch_counter"], datasets["train"], datasets["valid"],
                     train_loader_kwargs={"shuffle": True, **train_opts, "generator": loader_rng},
                     valid_loader_kwargs=eval_opts)
        except NonFiniteLossError as exc:
            status = f"stopped: {exc}"
        except (AudioError, CheckpointMismatchError, UnusedParametersError) as exc:
            fail(f"{exc} (checkpoints in {self.checkpointer.checkpoints_dir})"
                 if isinstance(exc, CheckpointMismatchError) else str(exc))
        results = {"task": task.name, "main_metric": task.main_metric, "status": status, "valid": {}, "test": {}}
        train_seconds = time.time() - t0
        if status == "ok":
            evaluated = {}
            for split in ("valid", "test"):
                self.eval_name = split
                try:
                    self.evaluate(datasets[split], max_key=task.main_metric, test_loader_kwargs=dict(eval_opts))
                except AudioError as exc:  # e.g. NaN samples, found only when a file is decoded
                    fail(f"{exc} (in the {split} set; training finished, checkpoints in "
                         f"{self.checkpointer.checkpoints_dir}: fix or drop the file, then rerun the same command "
                         "to evaluate without training again)")
                evaluated[split] = self.eval_result
            test = evaluated["test"]
            n_boot, boot_seed = int(hparams.get("bootstrap_resamples", 1000)), int(hparams.get("bootstrap_seed", 0))
            ci = on_main_then_broadcast(bootstrap_ci, lambda idx: task.summarise(test["items"], idx),
                                        test["n_items"], n_boot, boot_seed)
            results.update(valid=evaluated["valid"]["metrics"], test=test["metrics"], test_ci95=ci,
                           bootstrap={"resamples": n_boot, "seed": boot_seed, "level": 0.95},
                           n_items={s: evaluated[s]["n_items"] for s in ("valid", "test")})
            results.update(extra_results(self.model, reserved=RESERVED_KEYS))  # e.g. learned layer weights
        kept = self.checkpointer.find_checkpoint(max_key=task.main_metric) if status == "ok" else None
        results.update(  # best_epoch: the checkpoint the evaluations used (ties: the one kept)
            params=self.counts, epochs=len(self.epoch_seconds), best_epoch=kept.meta.get("epoch") if kept else None,
            seconds_per_epoch=(sum(self.epoch_seconds) / len(self.epoch_seconds)) if self.epoch_seconds else None,
            epoch_seconds=self.epoch_seconds, train_seconds=train_seconds, valid_history=self.valid_history,
            n_train=len(datasets["train"]), world_size=world_size(), config=self.resolved_config(datasets))
        if if_main_process():
            path = write_results(hparams["output_folder"], results, hparams.get("results_file", "results.json"))
            logger.info("results written to %s: test %s", path, results["test"])
        if status != "ok":
            fail(status, code=3)
        return results

    def resolved_config(self, datasets) -> dict:
        """results.json ``config``: the hparams (objects by repr), the backbone's and method's
        settings, the fitted task, the run options, the manifests."""
        hparams = self.hparams_dict
        config = plain(hparams)
        state = hparams["petl_state"]
        config.update(backbone=resolved_node(hparams, "encoder"),
                      method={"name": state.method, "options": state.options},
                      task=self.task.describe(), task_resolved=self.task.describe(),
                      run_options={k: plain(getattr(self, k, None)) for k in RUN_OPTIONS},
                      hparams_file=hparams.file, train_csv=datasets["train_csv"], manifests=datasets["manifests"])
        if hparams.get("opt_class") is not None and getattr(hparams["opt_class"], "keywords", None):
            func = hparams["opt_class"].func
            config["optimizer"] = {"class": getattr(func, "__name__", repr(func)),
                                   **plain(hparams["opt_class"].keywords)}
        return config


def load_run_hparams(folder: str, overrides=None):
    """A run's hparams rebuilt from its ``hyperparams.yaml`` (the objects as the run built them)."""
    return load_hparams(os.path.join(folder, "hyperparams.yaml"), overrides)
