"""``run(...)``: everything a recipe's ``train.py`` does, shared by all recipes.

A recipe's ``train.py`` is three lines: import its dataset's ``prepare`` function and call
``run(sys.argv[1:], prepare)``. The steps:

1. SpeechBrain argument parsing (run options such as ``--device``, ``--precision``,
   ``--distributed_backend``, ``--ckpt_interval_steps`` and yaml overrides), DDP init
   (``ddp_init_group``), hyperparameters (:mod:`petl_core.config`);
2. experiment folder; data preparation on the main process only (the manifest paths are then
   broadcast); optional few-shot subset of the training manifest (written by the main process,
   deterministic, the same on every rank);
3. seeding, then backbone (``lobes.build_backbone``) + ``petl_modules.apply_petl`` + head;
4. :class:`petl_core.brain.PETLBrain` ``fit`` with a checkpointer holding only trainable tensors;
   evaluation of the valid and test sets on the best-validation checkpoint;
5. ``results.json`` (:mod:`petl_core.results`) with bootstrap CIs, parameter counts, seconds per
   epoch and the resolved configuration.

hparams keys used (besides the required ones of :mod:`petl_core.config`): ``task`` (dict),
``prepare`` (dict of extra kwargs for ``prepare``), ``save_folder``, ``head``, ``layer``,
``batch_size``, ``eval_batch_size``, ``num_workers``, ``optimizer`` (dict: ``name`` adam/adamw/sgd,
``lr``, ...), ``lr_schedule`` (``cosine`` per step, or ``constant``), ``lr_min``,
``crop_seconds``, ``eval_window_seconds``, ``max_eval_seconds``, ``augment`` (dict for
:class:`petl_core.augment.Augmenter`), ``bootstrap_resamples``, ``bootstrap_seed``,
``results_file``, ``record_train_ids``, ``num_threads`` (torch CPU threads), ``feature_cache``
(null; true = in memory; a folder: frozen-stage outputs cached per clip, see :mod:`lobes.cache`;
training inputs only when there is no random crop and no augmentation), plus any SpeechBrain run option (``max_grad_norm``,
``nonfinite_patience``, ``precision``...; the command line wins).
"""
from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time

import speechbrain as sb
import torch
from speechbrain.utils.distributed import ddp_barrier, ddp_broadcast, if_main_process, is_distributed_initialized

from lobes.audio import AudioError
from lobes.cache import FeatureCache
from petl_core.augment import Augmenter
from petl_core.brain import CheckpointMismatchError, NonFiniteLossError, PETLBrain
from petl_core.checkpointing import AtomicCheckpointer, RandomState
from petl_core.config import ConfigError, load_hparams, plain, split_overrides
from petl_core.data import make_dataset
from petl_core.few_shot import FewShotError, write_few_shot_manifest
from petl_core.manifest import DatasetError, ManifestError, check_manifest
from petl_core.metrics import bootstrap_ci
from petl_core.results import extra_results, write_results
from petl_core.tasks import build_task

logger = logging.getLogger(__name__)

#: results.json keys the run writes itself (extra_results of the model may not reuse them)
RESERVED_KEYS = ("task", "main_metric", "status", "valid", "test", "test_ci95", "bootstrap", "n_items", "params",
                 "epochs", "best_epoch", "seconds_per_epoch", "epoch_seconds", "train_seconds", "valid_history",
                 "n_train", "world_size", "config")
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed_initialized() else 1


def on_main_then_broadcast(fn, *args, **kwargs):
    """``fn`` on the main process only; its (picklable) result is sent to every rank."""
    result = fn(*args, **kwargs) if if_main_process() else None
    if is_distributed_initialized():
        ddp_barrier()
        result = ddp_broadcast(result, src=0)
    return result


def build_model(hparams: dict, num_outputs: int):
    """Backbone + PETL method + head, as configured."""
    from lobes import build_backbone
    from lobes.heads import AudioClassifier, build_head
    from petl_modules import apply_petl

    options = {k: v for k, v in hparams["backbone"].items() if k != "name"}
    backbone = build_backbone(hparams["backbone"]["name"], **options)
    method = hparams["method"]
    apply_petl(backbone, method["name"], method.get("options") or {})
    head = build_head(hparams.get("head", "mlp"), backbone.hidden_size, num_outputs)
    return AudioClassifier(backbone, head, layer=hparams.get("layer"))


def make_optimizer(options: dict):
    options = dict(options or {"name": "adamw", "lr": 1e-3})
    name = options.pop("name", "adamw")
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return functools.partial(OPTIMIZERS[name], **options)


def make_scheduler_fn(hparams: dict, steps_per_epoch: int):
    kind = hparams.get("lr_schedule", "cosine")
    if kind in (None, "constant"):
        return None
    if kind != "cosine":
        raise ConfigError(f"unknown lr_schedule {kind!r}; valid: cosine, constant")
    total = max(1, steps_per_epoch * int(hparams["number_of_epochs"]))
    eta_min = float(hparams.get("lr_min", 0.0))
    return lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=eta_min)


def _fail(message: str, code: int = 2):
    logger.error(message)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def run(argv=None, prepare=None):
    """Run a recipe end to end (see module docstring); returns the results dict (main process)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    try:
        hparams = load_hparams(hparams_file, overrides)
    except ConfigError as exc:
        _fail(str(exc))
    if hparams.get("num_threads"):
        torch.set_num_threads(int(hparams["num_threads"]))  # 1 is much faster on a shared CPU
    save_overrides = split_overrides(overrides)[0]  # backbone/method go in as resolved comments below
    sb.create_experiment_directory(experiment_directory=hparams["output_folder"],
                                   hyperparams_to_save=hparams_file, overrides=save_overrides)
    if if_main_process():
        import yaml

        with open(os.path.join(hparams["output_folder"], "hyperparams.yaml"), "a", encoding="utf-8") as f:
            f.write("\n# resolved backbone and method (presets merged, command line applied):\n")
            f.write("".join(f"# {line}\n" for line in yaml.safe_dump(
                {"backbone": hparams["backbone"], "method": hparams["method"]}, sort_keys=False).splitlines()))
    save_folder = hparams.get("save_folder") or os.path.join(hparams["output_folder"], "save")

    # ---------------------------------------------------------------- data preparation
    manifest_folder = hparams.get("manifest_folder") or os.path.join(hparams["output_folder"], "manifests")
    try:
        if prepare is not None:
            manifests = on_main_then_broadcast(prepare, data_folder=hparams["data_folder"],
                                               save_folder=manifest_folder, **(hparams.get("prepare") or {}))
        else:
            manifests = {s: hparams[f"{s}_csv"] for s in ("train", "valid", "test")}
        own_manifests = prepare is None or bool(hparams.get("validate_audio"))  # prepare validated its own
        for split in ("train", "valid", "test"):  # every problem of every manifest, before anything trains
            check_manifest(manifests[split], check_audio=own_manifests)
        task = build_task(hparams["task"], manifests["train"])  # class lists from the FULL training manifest
        for split in ("train", "valid", "test"):
            check_manifest(manifests[split], task.encode)
    except (DatasetError, ManifestError) as exc:
        _fail(str(exc))
    train_csv = manifests["train"]
    if hparams.get("few_shot_k"):
        out = os.path.join(hparams["output_folder"], f"train_few_shot_k{hparams['few_shot_k']}_s{hparams['few_shot_seed']}.csv")
        try:
            train_csv = on_main_then_broadcast(write_few_shot_manifest, manifests["train"], out,
                                               int(hparams["few_shot_k"]), int(hparams["few_shot_seed"]),
                                               multi_label=not task.scalar)
        except FewShotError as exc:
            _fail(str(exc))

    # ---------------------------------------------------------------- model
    sb.utils.seed.seed_everything(int(hparams["seed"]), verbose=False)
    try:
        model = build_model(hparams, task.num_outputs)
    except (ValueError, OSError) as exc:  # unknown backbone/method, invalid options, missing weights
        _fail(str(exc))
    from petl_modules import count_parameters

    counts = count_parameters(model, head=model.head)
    sr = model.backbone.sample_rate
    crop = hparams.get("crop_seconds")
    window = hparams.get("eval_window_seconds", crop)
    train_set = make_dataset(train_csv, task, sr, train=True, crop_seconds=crop)
    valid_set = make_dataset(manifests["valid"], task, sr, train=False, max_eval_seconds=hparams.get("max_eval_seconds"))
    test_set = make_dataset(manifests["test"], task, sr, train=False, max_eval_seconds=hparams.get("max_eval_seconds"))

    batch_size = int(hparams.get("batch_size", 16))
    steps_per_epoch = math.ceil(math.ceil(len(train_set) / world_size()) / batch_size)
    steps_per_epoch = math.ceil(steps_per_epoch / int(getattr(run_opts, "grad_accumulation_factor", 1) or 1))
    augment = hparams.get("augment") or {}
    augmenter = Augmenter(sr, seed=int(hparams["seed"]), **augment) if augment else None
    cache = hparams.get("feature_cache")  # null/false: off; true: in memory; a path: one file per clip
    if cache:
        model.backbone.feature_cache = FeatureCache(None if cache is True else str(cache))
    deterministic_train = not crop and augmenter is None
    epoch_counter = sb.utils.epoch_loop.EpochCounter(limit=int(hparams["number_of_epochs"]))
    checkpointer = AtomicCheckpointer(save_folder, recoverables={"counter": epoch_counter, "rng": RandomState()})
    train_logger = sb.utils.train_logger.FileTrainLogger(save_file=os.path.join(hparams["output_folder"], "train_log.txt"))
    brain_hparams = dict(hparams)
    if "max_nonfinite_steps" in hparams and "nonfinite_patience" not in hparams:
        brain_hparams["nonfinite_patience"] = int(hparams["max_nonfinite_steps"])
    brain = PETLBrain(
        modules={"model": model}, opt_class=make_optimizer(hparams.get("optimizer")), hparams=brain_hparams,
        run_opts=run_opts, checkpointer=checkpointer, task=task, augmenter=augmenter,
        eval_window=int(window * sr) if window else None,
        scheduler_fn=make_scheduler_fn(hparams, steps_per_epoch), train_logger=train_logger,
        weight_decay_vectors=bool(hparams.get("weight_decay_vectors", True)),
        feature_cache=bool(cache), cache_train_inputs=deterministic_train,
    )
    if hparams.get("record_train_ids"):
        brain.record_ids_file = os.path.join(hparams["output_folder"], f"train_ids_rank{brain.rank}.txt")
    logger.info("parameters: trainable %s / total %s (+ head %s)", f"{counts['trainable']:,}", f"{counts['total']:,}",
                f"{counts['head']:,}")

    loader = {"batch_size": batch_size, "num_workers": int(hparams.get("num_workers", 0))}
    eval_loader = {"batch_size": int(hparams.get("eval_batch_size", batch_size)),
                   "num_workers": int(hparams.get("num_workers", 0))}
    t0 = time.time()
    status = "ok"
    try:
        # the loader draws its worker seed from its own generator, not from the global random state,
        # so that a run resumed from a checkpoint (RandomState) draws exactly what the original drew
        loader_rng = torch.Generator().manual_seed(int(hparams["seed"]))
        brain.fit(epoch_counter, train_set, valid_set,
                  train_loader_kwargs={**loader, "shuffle": True, "generator": loader_rng},
                  valid_loader_kwargs=eval_loader)
    except NonFiniteLossError as exc:
        status = f"stopped: {exc}"
    except (AudioError, CheckpointMismatchError) as exc:
        _fail(f"{exc} (checkpoints in {save_folder})" if isinstance(exc, CheckpointMismatchError) else str(exc))
    train_seconds = time.time() - t0

    results = {"task": task.name, "main_metric": task.main_metric, "status": status, "valid": {}, "test": {}}
    if status == "ok":
        key = task.main_metric
        brain.eval_name = "valid"
        brain.evaluate(valid_set, max_key=key, test_loader_kwargs=dict(eval_loader))
        valid = brain.eval_result
        brain.eval_name = "test"
        brain.evaluate(test_set, max_key=key, test_loader_kwargs=dict(eval_loader))
        test = brain.eval_result
        n_boot, boot_seed = int(hparams.get("bootstrap_resamples", 1000)), int(hparams.get("bootstrap_seed", 0))
        ci = bootstrap_ci(lambda idx: task.summarise(test["items"], idx), test["n_items"], n_boot, boot_seed)
        results.update(valid=valid["metrics"], test=test["metrics"], test_ci95=ci,
                       bootstrap={"resamples": n_boot, "seed": boot_seed, "level": 0.95},
                       n_items={"valid": valid["n_items"], "test": test["n_items"]})
        results.update(extra_results(brain.model, reserved=RESERVED_KEYS))  # best-valid weights, e.g. learned layer weights
    best = max(brain.valid_history, key=lambda h: _finite(h.get(task.main_metric)), default=None)
    results.update(
        params=counts,
        epochs=len(brain.epoch_seconds),
        best_epoch=best["epoch"] if best else None,
        seconds_per_epoch=(sum(brain.epoch_seconds) / len(brain.epoch_seconds)) if brain.epoch_seconds else None,
        epoch_seconds=brain.epoch_seconds,
        train_seconds=train_seconds,
        valid_history=brain.valid_history,
        n_train=len(train_set),
        world_size=world_size(),
        config={**plain(hparams), "task_resolved": task.describe(),
                "run_options": {k: plain(getattr(brain, k, None)) for k in
                                ("device", "precision", "eval_precision", "max_grad_norm", "nonfinite_patience",
                                 "grad_accumulation_factor", "ckpt_interval_steps", "ckpt_interval_minutes",
                                 "distributed_backend")},
                "hparams_file": os.path.abspath(hparams_file), "train_csv": train_csv, "manifests": manifests},
    )
    if if_main_process():
        path = write_results(hparams["output_folder"], results, hparams.get("results_file", "results.json"))
        logger.info("results written to %s: test %s", path, results["test"])
    if status != "ok":
        _fail(status, code=3)
    return results


def _finite(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else -math.inf
