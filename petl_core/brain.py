"""Training mechanics: what every Brain of the toolkit does, whatever its task.

:class:`PETLBrain` is a ``speechbrain.core.Brain``; the clip Brain
(:class:`petl_core.clip_brain.ClipBrain`) and the frame Brain
(:class:`petl_core.frame_brain.FrameBrain`) add their forward pass and loss. What it changes in
SpeechBrain's ``Brain`` (see DESIGN.md §3):

* **optimiser over trainable parameters only** (the head + what ``apply_petl`` left trainable),
  optionally without weight decay on vectors (biases, norms), with an optional per-step LR
  scheduler (e.g. cosine) that is checkpointed;
* **gradient clipping over ALL parameter groups** (SpeechBrain clips ``param_groups[0]`` only);
* **frozen parts stay in eval mode**: ``fit`` calls ``modules.train()`` every epoch; the
  backbone's ``train()`` keeps frozen BatchNorm / fully frozen blocks in eval mode (tested);
* **unused trainable tensors** (no gradient after the first backward): a warning naming them;
  under DDP without ``find_unused_parameters`` an :class:`UnusedParametersError` (DDP itself would
  fail at the next step, naming parameter indices only);
* **non-finite losses**: the step is skipped with a warning (no backward, no optimiser step); after
  ``nonfinite_patience`` non-finite losses IN A ROW training stops with :class:`NonFiniteLossError`
  (SpeechBrain's own check counts per epoch and still steps). Under DDP the decision is agreed
  across ranks (all-reduce), so ranks never diverge. The finiteness flag and the loss reach the
  host together: one device synchronisation per training step;
* **checkpoints hold only trainable weights** (+ running statistics of trainable BatchNorm):
  :class:`petl_core.checkpointing.TrainableState` is the recoverable registered for the model;
* **early stopping**: after each validation the task's main metric goes to the epoch counter when
  it is SpeechBrain's ``EpochCounterWithStopper`` (its ``direction`` must be the task's
  ``main_metric_direction``), before the checkpoint is saved (so a resumed run continues the count);
* **DDP**: SyncBatchNorm conversion only on CUDA and only when a BatchNorm is trainable (it fails
  on CPU/gloo; under bf16 autocast it has not run yet: a GPU check); validation and test are
  sharded: rank r evaluates items r, r+W, … through the unwrapped model
  (:class:`petl_core.distributed.ShardSampler`, no padding), and the per-item outputs are
  gathered in the dataset's order, so every rank computes the metrics on the whole set, each item
  exactly once, equal to a single-process run (only the main process logs and writes);
* **evaluation**: the loss of a stage is the mean over its items (not over batches, so it does not
  depend on the sharding); the test runs on the best-validation checkpoint
  (``evaluate(..., max_key=task.main_metric)``); evaluation runs in the training precision
  (``--precision``) unless ``--eval_precision`` is given.

Progress bars are SpeechBrain's, shown only when stderr is a terminal (:meth:`PETLBrain.show_progress`).
Precision (``--precision=fp32|bf16|fp16``), intra-epoch checkpoints
(``--ckpt_interval_steps`` / ``--ckpt_interval_minutes``) are SpeechBrain's own.
"""
from __future__ import annotations

import logging
import math
import os
import sys
import time

import speechbrain as sb
import torch
from speechbrain.utils.autocast import AMPConfig, TorchAutocast
from speechbrain.utils.distributed import if_main_process, is_distributed_initialized
from torch.nn.parallel import DistributedDataParallel

from lobes.backbone import MaskedBatchNorm1d
from petl_core.build import brain_arguments
from petl_core.checkpointing import ProcessCount, RunHistory, StopperState, TrainableState
from petl_core.distributed import ShardSampler, gather_shards, world_size
from petl_core.errors import ConfigError, NonFiniteLossError, UnusedParametersError
from petl_modules import trainable_parameters

#: windows per forward pass in evaluation (hparams key ``eval_chunk_size``)
DEFAULT_EVAL_CHUNK_SIZE = 16

logger = logging.getLogger(__name__)


def sync_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with its BatchNorm layers replaced by ``SyncBatchNorm`` (statistics over every
    rank's batch), except :class:`lobes.backbone.MaskedBatchNorm1d`: torch's conversion would
    replace it with a plain SyncBatchNorm, whose statistics count the padding it masks out. A
    masked BatchNorm keeps its per-rank statistics of the valid tokens.

    >>> from lobes.backbone import MaskedBatchNorm1d
    >>> converted = sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm1d(4), MaskedBatchNorm1d(4)))
    >>> [type(m).__name__ for m in converted]
    ['SyncBatchNorm', 'MaskedBatchNorm1d']
    """
    if isinstance(module, MaskedBatchNorm1d):
        return module
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in list(module.named_children()):
        module.add_module(name, sync_batchnorm(child))
    return module


def close_epoch_row(train_logger) -> None:
    """Before a final evaluation is logged: SpeechBrain's ``WandBLogger`` logs an epoch's row with
    ``step=epoch``, which W&B keeps open, and a final evaluation without a step, which W&B would
    merge into that open row (the last epoch's ``valid/…`` values overwritten by the best
    checkpoint's). Committing the open row first gives the final evaluations rows of their own.
    Other loggers (file, TensorBoard) have no ``run`` and are left as they are."""
    run = getattr(train_logger, "run", None)
    if run is not None and callable(getattr(run, "log", None)) and if_main_process():
        run.log({}, commit=True)


#: SpeechBrain run options with a range: (kind, smallest value); outside it a run is refused before training
RUN_OPTION_RANGES = {"grad_accumulation_factor": (int, 1), "nonfinite_patience": (int, 0),
                     "max_grad_norm": (float, 0.0), "ckpt_interval_steps": (int, 0),
                     "ckpt_interval_minutes": (float, 0.0), "debug_batches": (int, 1), "debug_epochs": (int, 1)}
PRECISIONS = ("fp32", "bf16", "fp16")


def run_options(run_opts, hparams) -> dict:
    """The run options a Brain will use, by SpeechBrain's priority: command line > hparams > default."""
    from speechbrain.utils.run_opts import RunOptions

    opts = RunOptions.from_dictionary(run_opts) if isinstance(run_opts, dict) else (run_opts or RunOptions())
    given = set(getattr(opts, "overridden_args", ()) or ())
    return {key: opts[key] if key in given or key not in hparams else hparams[key]
            for key in RunOptions().as_dict()}


def check_run_options(options: dict) -> None:
    """Run options in their range (``--grad_accumulation_factor=0``, ``--max_grad_norm=-1``, ...),
    a known precision and no fp16 on CPU: one :class:`ConfigError` before anything trains.

    >>> check_run_options({"precision": "fp16", "eval_precision": None, "device": "cpu"})
    Traceback (most recent call last):
    petl_core.errors.ConfigError: --precision=fp16: fp16 needs a CUDA device (this run is on cpu); \
use --precision=bf16 or fp32 on CPU
    """
    for key, (kind, low) in RUN_OPTION_RANGES.items():
        value = options.get(key)
        if value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or value < low or (kind is int and not float(value).is_integer()):
            raise ConfigError(f"--{key}={value}: must be {'an integer' if kind is int else 'a number'} >= {low}")
    device = str(options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"))  # SpeechBrain's default
    for key in ("precision", "eval_precision"):
        value = options.get(key)
        if value is None:
            continue
        if value not in PRECISIONS:
            raise ConfigError(f"--{key}={value}: must be one of {', '.join(PRECISIONS)}")
        if value == "fp16" and not device.startswith("cuda"):
            raise ConfigError(f"--{key}=fp16: fp16 needs a CUDA device (this run is on {device}); use "
                              f"--{key}=bf16 or fp32 on CPU")


class PETLBrain(sb.Brain):
    """The training mechanics (see the module docstring); ``modules`` must hold ``model``.

    Subclasses define ``compute_forward`` and ``compute_objectives`` (calling :meth:`keep` with
    the evaluation outputs) and, when the stage loss is not :meth:`cost` of the kept outputs,
    :meth:`evaluation_loss`. :meth:`from_hparams` builds one from a recipe's hparams.

    Extra keyword arguments: ``task`` (a :class:`petl_core.tasks.Task`, fitted), ``compute_cost``
    (the loss, the yaml's), ``augmenter`` (:class:`petl_core.augment.Augmenter` or None),
    ``eval_window`` (samples, or None = whole clip), ``scheduler_fn`` (optimizer -> per-step LR
    scheduler, or None), ``train_logger``, ``weight_decay_vectors`` (False = no weight decay on
    1-D parameters), ``feature_cache`` (the backbone has a :class:`lobes.cache.FeatureCache`:
    evaluation inputs are cached by clip/window), ``cache_train_inputs`` (training inputs are
    deterministic — no random crop, no augmentation — so they are cached too) and
    ``eval_chunk_size`` (windows per evaluation forward pass; None = the hparams key
    ``eval_chunk_size``, default :data:`DEFAULT_EVAL_CHUNK_SIZE`).
    """

    #: hparams keys this Brain reads (the unread-key check adds those of every class in the MRO;
    #: a recipe's subclass declares the keys it reads itself)
    hparams_keys: tuple[str, ...] = ("eval_chunk_size",)

    def __init__(self, *args, task, compute_cost=None, augmenter=None, eval_window=None, scheduler_fn=None,
                 train_logger=None, weight_decay_vectors=True, feature_cache=False, cache_train_inputs=False,
                 eval_chunk_size=None, **kwargs):
        self.task = task
        self.compute_cost = compute_cost
        self.feature_cache_enabled = feature_cache
        self.cache_train_inputs = feature_cache and cache_train_inputs
        self.augmenter = augmenter
        self.eval_window = eval_window
        self.scheduler_fn = scheduler_fn
        self.scheduler = None
        self.train_logger = train_logger
        self.weight_decay_vectors = weight_decay_vectors
        self.epoch_seconds: list[float] = []
        self.nonfinite_in_a_row = 0
        self._unused_checked = False
        self.current_epoch = 0
        self.epoch_counter = None
        self.eval_result: dict | None = None
        self.valid_history: list[dict] = []
        self.eval_name = "test"  # label of the next evaluate() in the train log
        self.record_ids_file = None  # a file: the IDs of each training batch (the DDP data audit)
        super().__init__(*args, **kwargs)
        hparams = getattr(self, "hparams", None)  # sb.Brain sets it only when given
        if eval_chunk_size is None:
            eval_chunk_size = getattr(hparams, "eval_chunk_size", DEFAULT_EVAL_CHUNK_SIZE)
        if isinstance(eval_chunk_size, bool) or not isinstance(eval_chunk_size, int) or eval_chunk_size < 1:
            raise ConfigError(f"eval_chunk_size must be a positive integer (windows per forward pass), "
                              f"got {eval_chunk_size!r}")
        self.eval_chunk_size = eval_chunk_size
        run_opts = kwargs.get("run_opts") or {}
        given = set(run_opts) if isinstance(run_opts, dict) else set(run_opts.overridden_args)
        given |= set(vars(hparams)) if hparams is not None else set()
        if "eval_precision" not in given and self.eval_precision != self.precision:
            self.eval_precision = self.precision  # the training forward already runs in it
            self.evaluation_ctx = TorchAutocast(device_type=self.device_type,
                                                dtype=AMPConfig.from_name(self.precision).dtype)
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("model", TrainableState(self.model))
            self.checkpointer.add_recoverable("history", RunHistory(self), optional_load=True)
            self.processes = ProcessCount()
            self.checkpointer.add_recoverable("processes", self.processes, optional_load=True)

    @classmethod
    def from_hparams(cls, hparams, run_opts, task):
        """The Brain of a recipe: its model built from ``hparams`` for ``task`` (the fitted task,
        :func:`petl_core.recipe.prepare_manifests`), the yaml's objects (see :mod:`petl_core.build`)."""
        arguments, counts = brain_arguments(hparams, task, cls.build_model)
        check_run_options(run_options(run_opts, hparams))
        brain = cls(**arguments, run_opts=run_opts)
        brain.recipe_hparams, brain.counts = hparams, counts  # the run flow reads them (results.json)
        if hparams.get("record_train_ids"):
            brain.record_ids_file = os.path.join(hparams["output_folder"], f"train_ids_rank{brain.rank}.txt")
        logger.info("parameters: %s trainable (%s of the backbone and method + %s of the head) of %s in all",
                    f"{counts['trainable'] + counts['head']:,}", f"{counts['trainable']:,}", f"{counts['head']:,}",
                    f"{counts['total'] + counts['head']:,}")
        return brain

    def print_trainable_parameters(self):
        """Nothing: :meth:`from_hparams` logs the parameter counts once (those of results.json);
        SpeechBrain's own statistics rounded them and counted the head differently."""

    #: ``(hparams, task) -> model`` (:func:`petl_core.build.build_model`; the frame Brain builds a FrameModel)
    build_model = None

    # ------------------------------------------------------------------------------ helpers
    @property
    def model(self) -> torch.nn.Module:
        """The model without its DDP wrapper."""
        model = self.modules["model"]
        return model.module if isinstance(model, DistributedDataParallel) else model

    @property
    def rank(self) -> int:
        return torch.distributed.get_rank() if is_distributed_initialized() else 0

    @rank.setter
    def rank(self, value):  # sb.Brain assigns self.rank under torchrun
        pass

    # ------------------------------------------------------------------------------ loss
    def cost(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The yaml's ``compute_cost`` of ``logits`` and the task's targets of ``labels`` (with the
        task's options, e.g. ``label_smoothing``)."""
        if self.compute_cost is None:
            raise ConfigError(f"{type(self).__name__} has no compute_cost (the loss): give compute_cost")
        return self.compute_cost(logits.float(), self.task.cost_targets(labels), **self.task.cost_options)

    def keep(self, stage, outputs, labels, batch) -> None:
        """Keep evaluation outputs for the metrics (``on_stage_end``); nothing in training."""
        if stage not in (None, sb.Stage.TRAIN):
            self._logits.append(outputs.detach().float().cpu())
            self._labels.append(labels.detach().cpu())
            self._ids.extend(batch.id)

    def evaluation_loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of a whole evaluated set from its kept (gathered) outputs."""
        return self.cost(outputs, labels)

    def make_dataloader(self, dataset, stage, ckpt_prefix="dataloader-", **loader_kwargs):
        """SpeechBrain's loader; under DDP, validation and test sets are sharded without padding."""
        if stage != sb.Stage.TRAIN and world_size() > 1:
            loader_kwargs = {**loader_kwargs, "shuffle": False,
                             "sampler": ShardSampler(len(dataset), self.rank, world_size())}
        return super().make_dataloader(dataset, stage, ckpt_prefix, **loader_kwargs)

    # ------------------------------------------------------------------------------ stages
    def fit(self, epoch_counter, *args, progressbar=None, **kwargs):
        """SpeechBrain's ``fit``, with :meth:`watch_epoch_counter` and :meth:`show_progress`."""
        self.watch_epoch_counter(epoch_counter)
        return super().fit(epoch_counter, *args, progressbar=self.show_progress(progressbar), **kwargs)

    def evaluate(self, *args, progressbar=None, **kwargs):
        """SpeechBrain's ``evaluate`` with :meth:`show_progress`."""
        return super().evaluate(*args, progressbar=self.show_progress(progressbar), **kwargs)

    def show_progress(self, progressbar=None) -> bool:
        """SpeechBrain's tqdm bars only on a terminal: redirected to a file, each redraw is a ``\\r``
        line, thousands per epoch. ``progressbar=True`` (a caller's choice) shows them anyway;
        ``--noprogressbar`` hides them everywhere."""
        if progressbar is not None:
            return bool(progressbar)
        return not self.noprogressbar and sys.stderr.isatty()

    def on_fit_start(self):
        """SpeechBrain's (optimiser, DDP wrap, resume from the last checkpoint), then: training goes
        on only with the number of processes that started it (:class:`petl_core.checkpointing.ProcessCount`)."""
        super().on_fit_start()
        counter = self.epoch_counter
        trains_on = self.step > 0 or (counter is not None and counter.current < counter.limit
                                      and not getattr(counter, "should_stop", False))
        if self.checkpointer is not None:
            self.processes.check_resume(trains_on)

    def watch_epoch_counter(self, epoch_counter) -> None:
        """An early-stopping counter (``update_metric``: SpeechBrain's ``EpochCounterWithStopper``)
        is told the task's main metric after each validation; its state is checkpointed
        (:class:`petl_core.checkpointing.StopperState`); its direction must be the metric's."""
        self.epoch_counter = epoch_counter
        if not hasattr(epoch_counter, "update_metric"):
            return
        direction = getattr(epoch_counter, "direction", None)
        if direction != self.task.main_metric_direction:
            raise ConfigError(
                f"epoch_counter: direction {direction!r}, but the task's main metric {self.task.main_metric} "
                f"is better when {'higher' if self.task.main_metric_direction == 'max' else 'lower'}: set "
                f"direction: {self.task.main_metric_direction}")
        if self.checkpointer is not None and "early_stopping" not in self.checkpointer.recoverables:
            self.checkpointer.add_recoverable("early_stopping", StopperState(epoch_counter), optional_load=True)

    def on_stage_start(self, stage, epoch=None):
        self._logits, self._labels, self._ids = [], [], []
        if epoch is not None:
            self.current_epoch = epoch
        if stage == sb.Stage.TRAIN:
            self._t0 = time.time()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.epoch_seconds.append(time.time() - self._t0)
            self.train_stats = {"loss": stage_loss}
            return
        del stage_loss  # a mean over this rank's batches; the stage's loss is the mean over all items
        rows = gather_shards(list(zip(torch.cat(self._logits), torch.cat(self._labels), self._ids))
                             if self._ids else [])
        outputs, labels = torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])
        self._ids = [r[2] for r in rows]
        loss = float(self.evaluation_loss(outputs, labels))
        items = self.task.item_metrics(outputs, labels)
        metrics = self.task.summarise(items)
        stats = {"loss": loss, **metrics}
        if stage == sb.Stage.VALID:
            self.valid_history.append({"epoch": epoch, **stats})
            lr = self.optimizer.param_groups[0]["lr"] if getattr(self, "optimizer", None) else None
            if self.train_logger is not None:  # log_stats is main-only itself (and collective)
                self.train_logger.log_stats(
                    stats_meta={"epoch": epoch, "lr": lr, "train_seconds": round(self.epoch_seconds[-1], 2)
                                if self.epoch_seconds else None},
                    train_stats=getattr(self, "train_stats", None), valid_stats=stats,
                )
            key = self.task.main_metric
            value = metrics.get(key)
            value = value if value is not None and math.isfinite(value) else -1e9
            if hasattr(self.epoch_counter, "update_metric"):  # early stopping; saved with the checkpoint below
                self.epoch_counter.update_metric(value)
            if self.checkpointer is not None:
                meta = {key: value, "epoch": int(epoch), "loss": loss}
                self.checkpointer.save_and_keep_only(meta=meta, max_keys=[key], num_to_keep=1)
        else:
            self.eval_result = {"metrics": stats, "items": items, "ids": list(self._ids),
                                "n_items": len(self._ids)}
            if self.eval_name not in ("valid", "test"):
                raise ValueError(f"eval_name must be 'valid' or 'test', got {self.eval_name!r}")
            if self.train_logger is not None:  # log_stats is main-only itself (and collective)
                close_epoch_row(self.train_logger)
                # numbers only (TensorBoard/W&B loggers take no text); SpeechBrain's recipes' key
                loaded = self.checkpointer.find_checkpoint(max_key=self.task.main_metric) if self.checkpointer else None
                meta = {"Epoch loaded": loaded.meta["epoch"]} if loaded is not None and "epoch" in loaded.meta else {}
                self.train_logger.log_stats(stats_meta=meta, **{f"{self.eval_name}_stats": stats})

    # ------------------------------------------------------------------------------ optimiser
    def init_optimizers(self):
        params = [p for _, p in trainable_parameters(self.modules)]
        if not params:
            raise ValueError("nothing to train: no parameter has requires_grad (check the method)")
        if self.weight_decay_vectors:
            groups = [{"params": params}]
        else:
            groups = [{"params": [p for p in params if p.dim() > 1]},
                      {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]
            groups = [g for g in groups if g["params"]]
        self.optimizer = self.opt_class(groups)
        self.optimizers_dict = {"opt_class": self.optimizer}
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("optimizer", self.optimizer)
        if self.scheduler_fn is not None:
            self.scheduler = self.scheduler_fn(self.optimizer)
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable("scheduler", self.scheduler)

    def optimizers_step(self):
        """SpeechBrain's step, but the gradient norm is clipped over every parameter group."""
        if self.optimizers_dict is None:
            return
        valid_optimizers = self.freeze_optimizers(self.optimizers_dict)
        for opt in valid_optimizers.values():
            self.scaler.unscale_(opt)
        if self.max_grad_norm and self.max_grad_norm > 0:
            for opt in valid_optimizers.values():
                params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
                if params:
                    torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        if not self.scaler.is_enabled() and self.skip_nonfinite_grads:
            self.check_gradients()
        for opt in valid_optimizers.values():
            self.scaler.step(opt)
        self.scaler.update()
        for opt in valid_optimizers.values():
            opt.zero_grad(set_to_none=True)
        self.optimizer_step += 1
        if self.scheduler is not None:
            self.scheduler.step()

    def _check_unused_parameters(self) -> None:
        """After the first backward: trainable tensors without a gradient are trained for nothing;
        under DDP without ``find_unused_parameters`` they would crash the next step with an
        index-only message, so stop here naming them."""
        unused = [n for n, p in self.model.named_parameters() if p.requires_grad and p.grad is None]
        if not unused:
            return
        message = (f"{len(unused)} trainable tensor(s) got no gradient in the first training step: "
                   f"{', '.join(unused[:5])}{', ...' if len(unused) > 5 else ''}")
        if isinstance(self.modules["model"], DistributedDataParallel) and not self.find_unused_parameters:
            raise UnusedParametersError(f"{message}; DDP needs every trainable tensor in the loss: freeze them "
                                        f"(method options) or run with --find_unused_parameters")
        logger.warning("%s (they are trained for nothing: freeze them in the method options)", message)

    def _finite_and_value(self, loss: torch.Tensor) -> tuple[bool, float]:
        """Whether the loss is finite on every rank, and its value: one transfer to the host."""
        pair = torch.stack([torch.isfinite(loss.detach()).all().float(), loss.detach().float()])
        if is_distributed_initialized():
            finite = pair[:1].clone()
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
            pair = torch.cat([finite, pair[1:]])
        finite, value = pair.tolist()  # the step's one device synchronisation
        return finite > 0, value

    def fit_batch(self, batch):
        should_step = (self.step % self.grad_accumulation_factor) == 0
        self.on_fit_batch_start(batch, should_step)
        with self.no_sync(not should_step):
            with self.training_ctx:
                outputs = self.compute_forward(batch, sb.Stage.TRAIN)
                loss = self.compute_objectives(outputs, batch, sb.Stage.TRAIN)
            finite, value = self._finite_and_value(loss)
            if finite:
                self.scaler.scale(loss / self.grad_accumulation_factor).backward()
                if not self._unused_checked:
                    self._unused_checked = True
                    self._check_unused_parameters()
            elif isinstance(self.modules["model"], DistributedDataParallel):
                # DDP expects a backward after a training forward; run a zero one, then drop it
                (torch.nan_to_num(loss, nan=0.0, posinf=0.0, neginf=0.0) * 0.0).backward()
        if not finite:
            self.nonfinite_in_a_row += 1
            self.zero_grad(set_to_none=True)
            logger.warning("non-finite loss (%s) at epoch %d step %d: step skipped (%d in a row, patience %d)",
                           value, self.current_epoch, self.step, self.nonfinite_in_a_row, self.nonfinite_patience)
            if self.nonfinite_in_a_row >= self.nonfinite_patience:
                raise NonFiniteLossError(
                    f"training stopped: {self.nonfinite_in_a_row} non-finite losses in a row "
                    f"(nonfinite_patience={self.nonfinite_patience}); lower the learning rate or use fp32"
                )
            return torch.tensor(value)
        self.nonfinite_in_a_row = 0
        if should_step:
            self.optimizers_step()
        self.on_fit_batch_end(batch, outputs, loss, should_step)
        return torch.tensor(value)  # on the host already: SpeechBrain's running average syncs no more

    # ------------------------------------------------------------------------------ DDP
    def _wrap_distributed(self):
        """As SpeechBrain, but SyncBatchNorm only on CUDA and only for trainable BatchNorm (the
        offline default's FT and ``conformer_adapter``; SyncBatchNorm under bf16 autocast is a GPU
        check: it has not run here)."""
        if not self.distributed_launch:
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if not any(p.requires_grad for p in module.parameters()):
                continue
            trainable_bn = any(
                isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and any(p.requires_grad for p in m.parameters())
                for m in module.modules()
            )
            if self.device_type == "cuda" and trainable_bn:
                module = sync_batchnorm(module)
            device_ids = None if self.device_type == "cpu" else [self.device]
            self.modules[name] = DistributedDataParallel(
                module, device_ids=device_ids, find_unused_parameters=self.find_unused_parameters
            )

