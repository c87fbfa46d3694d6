"""The run flow of a recipe: setup -> data -> fit -> test -> results, and its one entry point.

A recipe is SpeechBrain's own form: ``hparams/*.yaml`` is the object graph (backbone, PETL method,
head, ``opt_class``, ``lr_annealing``, ``compute_cost`` = the loss, ``augmentation``,
``epoch_counter``, ``checkpointer``, ``train_logger``, ``task`` = label encoding, targets and
metrics) and ``train.py`` holds ``dataio_prep`` and the ``__main__`` flow:

.. code-block:: python

    from petl_core.clip_brain import ClipBrain
    from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup

    def dataio_prep(hparams):
        return clip_datasets(hparams, prepare)

    if __name__ == "__main__":
        with recipe_main():
            hparams, run_opts = setup(sys.argv[1:], ClipBrain, recipe_file=__file__)
            data = dataio_prep(hparams)
            brain = ClipBrain.from_hparams(hparams, run_opts, data.task)
            fit_and_test(brain, data)

* :func:`recipe_main`: the one place where a problem becomes ``error: <message>`` on stderr and an
  exit code (2: the user's to fix, 3: the run stopped early, results written; 130: Ctrl-C), printed
  once (the run's ``log.txt`` gets it too); library code raises typed errors (:mod:`petl_core.errors`);
* :func:`setup`: SpeechBrain's argument parsing (ambiguous ``--prefixes`` refused), the device of
  this rank (:func:`petl_core.distributed.device_for_rank`), DDP init, the yaml resolved and checked
  (:data:`REQUIRED_KEYS` present, :func:`petl_core.config.check_values`), every key read by the yaml or declared by the code
  (:func:`declared_keys`), the objects built, the output folder claimed (one run at a time, a rerun
  only with the same settings) and its files written once (:mod:`petl_core.output_folder`);
* :func:`prepare_manifests`: data preparation by global rank 0 (manifests broadcast; a rank that
  cannot see them is one error on every rank), manifest checks, the task fitted on the FULL
  training manifest (``task.fitted``), an optional few-shot subset (``few_shot_k``/``few_shot_seed``);
  :func:`clip_datasets` (and :func:`petl_core.frame_brain.frame_datasets`) build the datasets once;
* :func:`fit_and_test`: fit, evaluation of valid and test on the best-validation checkpoint,
  ``results.json`` (:mod:`petl_core.results`: bootstrap CIs, parameter counts, seconds per epoch,
  the resolved configuration).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import shlex
import sys
import time

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process

from lobes.audio import AudioError
from petl_core import output_folder
from petl_core.build import make_scheduler_fn
from petl_core.config import build, check_command_line, check_values, plain, resolve, resolved_node, resolved_tree
from petl_core.config import load_hparams, unread_keys
from petl_core.data import eval_cap, make_dataset
from petl_core.distributed import all_ranks, device_for_rank, on_main_then_broadcast, world_size
from petl_core.entry import error_message, fail
from petl_core.errors import CheckpointMismatchError, ConfigError, DataError, NonFiniteLossError, PetlError, RunStopped
from petl_core.few_shot import write_few_shot_manifest
from petl_core.manifest import DatasetError, ManifestError, check_manifest
from petl_core.metrics import bootstrap_ci
from petl_core.results import extra_results, write_results

logger = logging.getLogger(__name__)

#: hparams keys the run flow and the builders (:mod:`petl_core.build`) read
RUN_KEYS = ("seed", "output_folder", "save_folder", "data_folder", "prepare", "manifest_folder", "validate_audio",
            "train_csv", "valid_csv", "test_csv", "encoder", "head", "layer", "petl", "petl_state", "task",
            "compute_cost", "augmentation", "opt_class", "lr_annealing", "epoch_counter", "checkpointer",
            "train_logger", "number_of_epochs", "train_dataloader_opts", "valid_dataloader_opts", "crop_seconds",
            "eval_window_seconds", "max_eval_seconds", "max_valid_seconds", "few_shot_k", "few_shot_seed",
            "bootstrap_resamples", "bootstrap_seed", "results_file", "record_train_ids", "num_threads",
            "feature_cache", "weight_decay_vectors")
#: results.json keys the run writes itself (extra_results of the model may not reuse them)
RESERVED_KEYS = ("task", "main_metric", "status", "valid", "test", "test_ci95", "bootstrap", "n_items", "params",
                 "epochs", "best_epoch", "seconds_per_epoch", "epoch_seconds", "train_seconds", "valid_history",
                 "n_train", "world_size", "config")
#: the keys every recipe's yaml sets (the run reads them without a default)
REQUIRED_KEYS = ("seed", "output_folder", "encoder", "head", "layer", "petl_state", "task", "compute_cost",
                 "opt_class", "epoch_counter", "checkpointer", "train_logger", "number_of_epochs",
                 "train_dataloader_opts", "valid_dataloader_opts")
RUN_OPTIONS = ("device", "precision", "eval_precision", "max_grad_norm", "nonfinite_patience",
               "grad_accumulation_factor", "ckpt_interval_steps", "ckpt_interval_minutes", "distributed_backend")
#: errors raised below the core that are the user's to fix (one line, exit 2)
USER_ERRORS = (PetlError, AudioError, DatasetError, ManifestError)


# ------------------------------------------------------------------------------------ entry point
@contextlib.contextmanager
def recipe_main():
    """The entry point of a recipe: a user's problem is one ``error:`` line and an exit code."""
    try:
        yield
    except USER_ERRORS as exc:
        _exit(exc, getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        _exit("interrupted (Ctrl-C): rerun the same command to resume from the last complete checkpoint", 130)


def _exit(problem: BaseException | str, code: int):
    """``error: <message>`` once on stderr (:func:`petl_core.entry.fail`) and in the run's ``log.txt``
    (the file handlers only, so that the console does not show it twice), then exit with ``code``."""
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, error_message(problem), None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
    sys.exit(fail(problem, code))


# ------------------------------------------------------------------------------------ setup
def declared_keys(brain_class) -> set[str]:
    """The hparams keys the code reads: the run flow's and the Brain's (``hparams_keys`` of every
    class of ``brain_class``'s MRO: a recipe's own Brain declares the keys it reads)."""
    keys = set(RUN_KEYS)
    for cls in brain_class.__mro__:
        keys.update(vars(cls).get("hparams_keys", ()))
    return keys


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


def setup(argv, brain_class, recipe_file: str | None = None):
    """``(hparams, run_opts)``: arguments, device, DDP, hparams (checked, built), experiment folder.
    ``recipe_file`` (the recipe's ``train.py``) is copied into the output folder."""
    check_command_line(argv)
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    device = device_for_rank(run_opts["device"])
    if device != run_opts["device"]:
        run_opts = dataclasses.replace(run_opts, device=device)
    check_device(run_opts["device"])
    sb.utils.distributed.ddp_init_group(run_opts)
    text = resolve(hparams_file, overrides)
    tree = resolved_tree(text)
    missing = [key for key in REQUIRED_KEYS if key not in tree]
    if missing:  # before the unread-key check: a deleted checkpointer leaves save_folder unread
        raise ConfigError(f"{hparams_file}: no key(s) {', '.join(missing)}: every recipe's yaml sets them (the run "
                          "reads them); add them back (see a recipe's hparams/default.yaml)")
    check_values(tree)  # before any object is built
    out = resolved_node(text, "output_folder")
    if os.path.exists(out) and not os.path.isdir(out):  # the checkpointer would fail deep inside
        raise ConfigError(f"output_folder {out} is a file, not a folder: give another --output_folder")
    try:
        hparams = build(hparams_file, text)
    except ConfigError:
        raise
    except ImportError as exc:  # hyperpyyaml: "There is no such entity as torch.optim.Adamm"
        raise ConfigError(f"{hparams_file}: a !new:/!name:/!apply: target does not exist ({exc}): check its "
                          "spelling and that its package is installed") from None
    except (ValueError, OSError, TypeError) as exc:  # e.g. unknown backbone/method, no weights
        raise ConfigError(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc
    unread = unread_keys(hparams, declared_keys(brain_class))
    if unread:
        raise ConfigError(f"{hparams_file}: key(s) {', '.join(unread)} are read by nothing (no !ref in the yaml, not "
                          f"declared by {brain_class.__name__}.hparams_keys or the run): remove them or use them")
    if recipe_file:  # as the user typed it (results.json config.command, the model card)
        same = os.path.abspath(sys.argv[0]) == os.path.abspath(recipe_file)
        hparams.command = shlex.join(["python", sys.argv[0] if same else recipe_file, *argv])
    if hparams.get("num_threads"):
        torch.set_num_threads(int(hparams["num_threads"]))  # 1 is much faster on a shared CPU
    on_main_then_broadcast(_claim_output_folder, out, hparams_file, hparams.text, recipe_file)  # errors: all ranks
    return hparams, run_opts


def _claim_output_folder(out: str, hparams_file: str, resolved_text: str, recipe_file: str | None) -> None:
    output_folder.claim(out)
    changed = output_folder.check_same_settings(out, resolved_text)
    if changed:
        extend = (" (a larger number_of_epochs extends a run that has no lr_annealing: a schedule is planned over "
                  "the run's number of epochs)" if "number_of_epochs" in changed else "")
        raise ConfigError(f"{out} holds a run with other settings ({', '.join(changed)} differ): it would train "
                          "nothing and report the new settings; rerun it with its own settings, or give another "
                          f"--output_folder{extend}")
    output_folder.write_experiment_files(out, hparams_file, resolved_text, recipe_file)


# ------------------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class RecipeData:
    """What a run trains and evaluates on: the fitted task, the manifests, the datasets."""

    task: object
    manifests: dict
    train_csv: str  # the few-shot subset when few_shot_k is set
    train: object = None
    valid: object = None
    test: object = None

    def with_datasets(self, task, train, valid, test) -> "RecipeData":
        return dataclasses.replace(self, task=task, train=train, valid=valid, test=test)


def check_visible(paths) -> None:
    """Every rank sees ``paths`` (written by rank 0), else one error on every rank naming them."""
    missing = [p for p in paths if not os.path.isfile(p)]
    lost = {rank: files for rank, files in enumerate(all_ranks(missing)) if files}
    if lost:
        detail = "; ".join(f"rank {r}: {', '.join(files)}" for r, files in lost.items())
        raise DataError(f"files prepared by rank 0 are not visible on every process ({detail}): the output folder "
                        "and the data must be on storage that every node shares (or node-local copies at the same "
                        "path)")


def _check_manifests(manifests: dict, encode, check_audio: bool) -> None:
    for split in ("train", "valid", "test"):  # every problem of every manifest, before anything trains
        check_manifest(manifests[split], encode, check_audio=check_audio)


def prepare_manifests(hparams, prepare=None) -> RecipeData:
    """Manifests (``prepare`` on global rank 0), checked, the task fitted on them, the few-shot
    training subset; the datasets are the caller's (:func:`clip_datasets`)."""
    manifest_folder = hparams.get("manifest_folder") or os.path.join(hparams["output_folder"], "manifests")
    if prepare is not None:
        manifests = on_main_then_broadcast(prepare, data_folder=hparams["data_folder"],
                                           save_folder=manifest_folder, **(hparams.get("prepare") or {}))
    else:
        manifests = {"train": hparams["train_csv"], "valid": hparams["valid_csv"], "test": hparams["test_csv"]}
    check_visible([manifests[s] for s in ("train", "valid", "test")])
    own = prepare is None or bool(hparams.get("validate_audio"))  # prepare validated its own
    on_main_then_broadcast(_check_manifests, manifests, None, own)  # readable, columns, IDs, audio
    try:
        task = hparams["task"].fitted(manifests["train"])  # class/tag lists from the FULL training manifest
    except ValueError as exc:
        raise DataError(f"{manifests['train']}: {exc}") from exc
    on_main_then_broadcast(_check_manifests, manifests, task.encode, False)  # labels the task knows
    train_csv = manifests["train"]
    k = hparams.get("few_shot_k")
    if k not in (None, 0) and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise ConfigError(f"few_shot_k must be a positive integer (or 0/null = all data), got {k!r}")
    if k:
        out = os.path.join(hparams["output_folder"], f"train_few_shot_k{k}_s{hparams['few_shot_seed']}.csv")
        train_csv = on_main_then_broadcast(write_few_shot_manifest, manifests["train"], out, int(k),
                                           int(hparams["few_shot_seed"]), multi_label=not task.scalar,
                                           class_of=task.few_shot_class, short=task.few_shot_short)
        check_visible([train_csv])
    return RecipeData(task=task, manifests=manifests, train_csv=train_csv)


def clip_datasets(hparams, prepare=None) -> RecipeData:
    """:func:`prepare_manifests` and the clip datasets (``sig``, ``label_enc``) of the fitted task."""
    data = prepare_manifests(hparams, prepare)
    sr = hparams["encoder"].sample_rate
    caps = {split: eval_cap(hparams, split) for split in ("valid", "test")}  # max_eval/valid_seconds
    return data.with_datasets(
        data.task,
        train=make_dataset(data.train_csv, data.task, sr, train=True, crop_seconds=hparams.get("crop_seconds")),
        valid=make_dataset(data.manifests["valid"], data.task, sr, train=False, max_eval_seconds=caps["valid"]),
        test=make_dataset(data.manifests["test"], data.task, sr, train=False, max_eval_seconds=caps["test"]))


# -------------------------------------------------------------------------------- fit and test
def fit_and_test(brain, data: RecipeData) -> dict:
    """Train, evaluate valid and test on the best-validation checkpoint, write results.json.
    A run stopped by non-finite losses writes its results, then raises :class:`RunStopped`."""
    hparams = brain.recipe_hparams
    train_opts, eval_opts = dict(hparams["train_dataloader_opts"]), dict(hparams["valid_dataloader_opts"])
    steps = math.ceil(math.ceil(len(data.train) / world_size()) / int(train_opts.get("batch_size", 1)))
    steps = math.ceil(steps / int(brain.grad_accumulation_factor or 1))
    total_steps = max(1, steps * int(hparams["number_of_epochs"]))
    brain.scheduler_fn = make_scheduler_fn(hparams.get("lr_annealing"), total_steps)
    task, t0, status = brain.task, time.time(), "ok"
    try:
        # the loader draws its worker seed from its own generator, not from the global random state,
        # so a run resumed from a checkpoint (RandomState) draws exactly what the original drew
        loader_rng = torch.Generator().manual_seed(int(hparams["seed"]))
        brain.fit(hparams["epoch_counter"], data.train, data.valid,
                  train_loader_kwargs={"shuffle": True, **train_opts, "generator": loader_rng},
                  valid_loader_kwargs=eval_opts)
    except NonFiniteLossError as exc:
        status = f"stopped: {exc}"
    except CheckpointMismatchError as exc:
        raise CheckpointMismatchError(f"{exc} (checkpoints in {brain.checkpointer.checkpoints_dir})") from exc
    results = {"task": task.name, "main_metric": task.main_metric, "status": status, "valid": {}, "test": {}}
    train_seconds = time.time() - t0
    if status == "ok":
        evaluated = {}
        for split in ("valid", "test"):
            brain.eval_name = split
            try:
                brain.evaluate(getattr(data, split), max_key=task.main_metric, test_loader_kwargs=dict(eval_opts))
            except AudioError as exc:  # e.g. NaN samples, found only when a file is decoded
                raise DataError(f"{exc} (in the {split} set; training finished, checkpoints in "
                                f"{brain.checkpointer.checkpoints_dir}: fix or drop the file, then rerun the same "
                                "command to evaluate without training again)") from exc
            evaluated[split] = brain.eval_result
        test = evaluated["test"]
        n_boot, boot_seed = int(hparams.get("bootstrap_resamples", 1000)), int(hparams.get("bootstrap_seed", 0))
        ci = on_main_then_broadcast(bootstrap_ci, lambda idx: task.summarise(test["items"], idx),
                                    test["n_items"], n_boot, boot_seed)
        results.update(valid=evaluated["valid"]["metrics"], test=test["metrics"], test_ci95=ci,
                       bootstrap={"resamples": n_boot, "seed": boot_seed, "level": 0.95},
                       n_items={s: evaluated[s]["n_items"] for s in ("valid", "test")})
        results.update(extra_results(brain.model, reserved=RESERVED_KEYS))  # e.g. learned layer weights
    kept = brain.checkpointer.find_checkpoint(max_key=task.main_metric) if status == "ok" else None
    results.update(  # best_epoch: the checkpoint the evaluations used (ties: the one kept)
        params=brain.counts, epochs=len(brain.epoch_seconds), best_epoch=kept.meta.get("epoch") if kept else None,
        seconds_per_epoch=(sum(brain.epoch_seconds) / len(brain.epoch_seconds)) if brain.epoch_seconds else None,
        epoch_seconds=brain.epoch_seconds, train_seconds=train_seconds, valid_history=brain.valid_history,
        n_train=len(data.train), world_size=world_size(), config=resolved_config(brain, hparams, data))
    if if_main_process():
        path = write_results(hparams["output_folder"], results, hparams.get("results_file", "results.json"))
        logger.info("results written to %s: test %s", path, results["test"])
    if status != "ok":
        raise RunStopped(status)
    return results


def resolved_config(brain, hparams, data: RecipeData) -> dict:
    """results.json ``config``: the hparams (objects by repr), the backbone's and method's
    settings, the fitted task, the run options, the manifests."""
    config = plain(hparams)
    state = hparams["petl_state"]
    config.update(backbone=resolved_node(hparams, "encoder"),
                  method={"name": state.method, "options": state.options},
                  task=brain.task.describe(), run_options={k: plain(getattr(brain, k, None)) for k in RUN_OPTIONS},
                  hparams_file=hparams.file, train_csv=data.train_csv, manifests=data.manifests)
    if getattr(hparams, "command", ""):
        config["command"] = hparams.command
    if hparams.get("opt_class") is not None and getattr(hparams["opt_class"], "keywords", None):
        func = hparams["opt_class"].func
        config["optimizer"] = {"class": getattr(func, "__name__", repr(func)), **plain(hparams["opt_class"].keywords)}
    return config


def load_run_hparams(folder: str, overrides=None):
    """A run's hparams rebuilt from its ``hyperparams.yaml`` (the objects as the run built them)."""
    return load_hparams(os.path.join(folder, "hyperparams.yaml"), overrides)
