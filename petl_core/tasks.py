"""Tasks: what is true of a task type — label encoding, the targets the loss compares with, the
label transforms under augmentation, and the metrics.

One class per kind of task; the Brain is task-agnostic and calls:

* ``encode(label_string) -> tensor``: the raw label carried by batches (class index, multi-hot
  vector, key index or BPM);
* ``transform(labels, pitch_steps=..., stretch_rates=...)``: the labels after augmentation (a pitch
  shift rotates a key, a time stretch scales a BPM);
* ``cost_targets(labels)``: what the yaml's ``compute_cost`` (the only loss) compares the logits with,
  derived from the (transformed) labels: class indices, multi-hot floats, soft BPM-bin
  distributions, standardised regression targets; ``cost_options``: keyword arguments the task
  passes to ``compute_cost`` (``label_smoothing``), checked against its signature before training
  (:func:`check_cost_options`);
* ``item_metrics(logits, labels)``: metric building blocks per item; ``summarise(items, idx)``:
  the metrics (of a bootstrap resample ``idx``); ``main_metric`` picks the best-validation
  checkpoint (``main_metric_direction``: ``"max"``, higher is better).

A task is never changed once built. What a task learns from the training manifest (the class or
tag list where the yaml gives none, a regression's mean/std) comes back as a new task:
``task.fitted(train_csv)``.

Tempo (seed 001, ``grid: linear``, the default): 300 one-BPM classes (class k = ``min_bpm + k``
BPM) with soft targets 1 at the true bin and 0.5 at ±1 and ±2 bins. The soft target is normalised
to a distribution and trained with cross-entropy (rather than 300 independent BCE terms, which the
negatives dominate); the estimate is the arg-max bin. ``grid: log`` (the SynthMusic default): bins
at 2 % spacing from 30 to 300 BPM with Gaussian soft targets, see :class:`TempoTask`.

Example:
    >>> import torch
    >>> task = KeyTask()
    >>> task.num_outputs, task.decode(int(task.encode("A minor")))
    (24, 'A minor')
    >>> int(task.transform(task.encode("A minor")[None], pitch_steps=torch.tensor([3]))[0]) == int(task.encode("C minor"))
    True
    >>> KeyTask(label_smoothing=0.1).cost_options
    {'label_smoothing': 0.1}
"""
from __future__ import annotations

import copy
import csv
import inspect

import numpy as np
import torch
import torch.nn.functional as F

from petl_core import metrics as M
from petl_core.errors import ConfigError
from petl_core.music import KEYS

KEY_CLASSES = list(KEYS)


class Task:
    name = "task"
    main_metric = "accuracy"
    #: the main metric's better direction (``"max"``: higher is better), as SpeechBrain's
    #: ``EpochCounterWithStopper(direction=...)`` names it
    main_metric_direction = "max"
    num_outputs: int
    #: labels are one number per item (batched as ``[B]``); tagging labels are vectors
    scalar = True

    def encode(self, label: str) -> torch.Tensor:
        raise NotImplementedError

    def transform(self, labels: torch.Tensor, pitch_steps=None, stretch_rates=None) -> torch.Tensor:
        """Labels after pitch shift by ``pitch_steps`` semitones / time stretch by ``stretch_rates``."""
        return labels

    def cost_targets(self, labels: torch.Tensor) -> torch.Tensor:
        """What ``compute_cost`` compares the logits with."""
        raise NotImplementedError

    @property
    def cost_options(self) -> dict:
        """Keyword arguments of ``compute_cost`` that the task's options set (none by default)."""
        return {}

    def item_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict:
        """Arrays aligned with items; :meth:`summarise` turns (a resample of) them into metrics."""
        raise NotImplementedError

    def summarise(self, items: dict, idx: np.ndarray | None = None) -> dict:
        return {k: float(np.mean(v if idx is None else v[idx])) for k, v in items.items()}

    def describe(self) -> dict:
        return {"name": self.name, "num_outputs": self.num_outputs, "main_metric": self.main_metric}

    #: few-shot sampling of a class with fewer than k training items: "error", or "all" (use them all)
    few_shot_short = "error"

    def few_shot_class(self, label: str) -> str:
        """The class a training item counts for in few-shot sampling (k items per class)."""
        return label

    def fitted(self, train_csv: str) -> "Task":
        """The task with what it learns from the training manifest (SpeechBrain's
        ``load_or_create`` of a label encoder): a new task; this one is unchanged."""
        return self

    def _with(self, **attributes) -> "Task":
        """A copy of the task with ``attributes`` set (the original is not changed)."""
        new = copy.copy(self)
        new.__dict__.update(attributes)
        return new


def check_cost_options(task: Task, compute_cost) -> None:
    """A task option that goes to ``compute_cost`` must be one it takes, and not set twice.

    >>> import torch.nn.functional as F
    >>> check_cost_options(ClassificationTask(label_smoothing=0.1), F.cross_entropy)  # taken
    >>> check_cost_options(ClassificationTask(label_smoothing=0.1), F.binary_cross_entropy_with_logits)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    petl_core.errors.ConfigError: task option label_smoothing=0.1 goes to compute_cost (binary_cross_...) ...
    """
    options = task.cost_options
    if not options:
        return
    func = getattr(compute_cost, "func", compute_cost)
    name = getattr(func, "__name__", repr(func))
    given = set(getattr(compute_cost, "keywords", None) or {})
    try:
        parameters = inspect.signature(compute_cost).parameters
    except (TypeError, ValueError):  # a builtin without a signature: the call will tell
        return
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    for key, value in options.items():
        if key in given:
            raise ConfigError(f"label option {key} is set twice: in task ({value}) and in compute_cost ({name}); "
                              f"keep one")
        if key not in parameters and not takes_any:
            raise ConfigError(f"task option {key}={value} goes to compute_cost ({name}), which does not take it: "
                              f"use a compute_cost that takes {key} (e.g. torch.nn.functional.cross_entropy) or "
                              "remove the option")


class ClassificationTask(Task):
    """Single-label classification over ``classes`` (cross-entropy, accuracy)."""

    name = "classification"
    main_metric = "accuracy"

    def __init__(self, classes: list[str] | None = None, label_smoothing: float = 0.0) -> None:
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0.0 <= label_smoothing <= 1.0:
            raise ConfigError(f"label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        if classes is not None:
            self.__dict__.update(_class_list(classes))

    def with_classes(self, classes: list[str]) -> "ClassificationTask":
        """The task over ``classes`` (a new task)."""
        return self._with(**_class_list(classes))

    def fitted(self, train_csv):
        """The classes (sorted) of the training manifest, unless given."""
        if hasattr(self, "classes"):
            return self
        return self.with_classes(sorted(set(read_labels(train_csv))))

    def cost_targets(self, labels):
        """Class indices (``compute_cost``: cross-entropy)."""
        return labels

    @property
    def cost_options(self):
        return {"label_smoothing": self.label_smoothing} if self.label_smoothing else {}

    def encode(self, label: str) -> torch.Tensor:
        if label not in self.index:
            raise ValueError(f"label {label!r} is not one of the {self.num_outputs} training classes")
        return torch.tensor(self.index[label], dtype=torch.long)

    def decode(self, index: int) -> str:
        return self.classes[index]

    def item_metrics(self, logits, labels):
        pred = logits.argmax(-1).cpu().numpy()
        return {"accuracy": (pred == labels.cpu().numpy()).astype(float)}

    def describe(self):
        out = {**super().describe(), "classes": self.classes}
        return {**out, "label_smoothing": self.label_smoothing} if self.label_smoothing else out


class KeyTask(ClassificationTask):
    """24 keys (``C major`` … ``B minor``, sharps); metric: mir_eval weighted score."""

    name = "key"
    main_metric = "weighted_score"

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__(KEY_CLASSES, label_smoothing)

    def encode(self, label: str) -> torch.Tensor:
        return torch.tensor(key_index(label), dtype=torch.long)

    def transform(self, labels, pitch_steps=None, stretch_rates=None):
        if pitch_steps is None:
            return labels
        return rotate_key(labels, pitch_steps)

    def item_metrics(self, logits, labels):
        pred = logits.argmax(-1).cpu().tolist()
        refs = [KEY_CLASSES[i] for i in labels.cpu().tolist()]
        ests = [KEY_CLASSES[i] for i in pred]
        return {
            "weighted_score": M.key_scores(refs, ests),
            "accuracy": np.array([r == e for r, e in zip(refs, ests)], dtype=float),
        }


class TempoTask(Task):
    """Tempo as classification over BPM bins with soft targets; metrics Accuracy1/2 (madmom).

    Two bin grids (``grid``):

    * ``"linear"`` (seed 001, the default): ``num_bins`` one-BPM classes (class k = ``min_bpm + k``
      BPM), soft targets ``soft`` = 1 / 0.5 / 0.5 at the true bin and ±1, ±2 bins, estimate = the
      arg-max bin. ``max_bpm``, ``spacing``, ``sigma`` and ``decode`` are ignored.
    * ``"log"``: bins log-spaced by a factor ``1 + spacing`` from ``min_bpm`` up to ``max_bpm``
      (bin k = ``min_bpm * (1 + spacing) ** k``; ``num_bins`` is derived, e.g. 117 bins for 2 %
      from 30 to 300 BPM), Gaussian soft targets of ``sigma`` bins centred at the exact
      (fractional) log-position of the BPM, so the equal-width relative tolerance of Accuracy1/2
      maps to a fixed number of bins at every tempo. ``decode="argmax"`` returns the arg-max bin's
      BPM; ``decode="parabolic"`` (default) refines it to sub-bin resolution with the vertex of
      the parabola through the log-probabilities of the arg-max bin and its two neighbours (exact
      for a Gaussian-shaped output, like the targets).

    Either way the target is normalised to a distribution and trained with cross-entropy.
    """

    name = "tempo"
    GRIDS = ("linear", "log")
    DECODERS = ("argmax", "parabolic")
    METRICS = ("acc1", "acc2")

    def __init__(self, num_bins: int | None = None, min_bpm: float | None = None, soft: tuple = (1.0, 0.5, 0.5),
                 tolerance: float = M.TEMPO_TOLERANCE, grid: str = "linear", max_bpm: float = 300.0,
                 spacing: float = 0.02, sigma: float = 1.5, decode: str = "parabolic", main_metric: str = "acc1",
                 few_shot_band: float = 0.1) -> None:
        if main_metric not in self.METRICS:
            raise ValueError(f"unknown tempo main_metric {main_metric!r}; valid: {', '.join(self.METRICS)}")
        if not few_shot_band > 0:
            raise ValueError(f"few_shot_band must be > 0 (relative width of a tempo band), got {few_shot_band!r}")
        self.main_metric = main_metric  # checkpoint selection; the papers report Accuracy1
        self.few_shot_short = "all"  # sparse extreme tempo bands contribute what they have
        self.few_shot_band = float(few_shot_band)
        if grid not in self.GRIDS:
            raise ValueError(f"unknown tempo grid {grid!r}; valid: {', '.join(self.GRIDS)}")
        if decode not in self.DECODERS:
            raise ValueError(f"unknown tempo decode {decode!r}; valid: {', '.join(self.DECODERS)}")
        self.grid = grid
        self.tolerance = tolerance
        self.decode_mode = decode
        if grid == "linear":
            self.num_outputs = 300 if num_bins is None else int(num_bins)
            self.min_bpm = 1.0 if min_bpm is None else float(min_bpm)
            self.soft = tuple(float(s) for s in soft)
            return
        self.min_bpm = 30.0 if min_bpm is None else float(min_bpm)
        self.max_bpm = float(max_bpm)
        self.spacing = float(spacing)
        self.sigma = float(sigma)
        if not 0 < self.min_bpm < self.max_bpm or self.spacing <= 0 or self.sigma <= 0:
            raise ValueError(f"log tempo grid needs 0 < min_bpm < max_bpm, spacing > 0, sigma > 0; got "
                             f"{self.min_bpm}, {self.max_bpm}, {self.spacing}, {self.sigma}")
        self.log_step = float(np.log1p(self.spacing))
        derived = int(np.floor(np.log(self.max_bpm / self.min_bpm) / self.log_step + 1e-9)) + 1
        if num_bins is not None and int(num_bins) != derived:
            raise ValueError(f"num_bins={num_bins} does not match the log grid {self.min_bpm}-{self.max_bpm} BPM "
                             f"at {self.spacing:.0%} spacing ({derived} bins); leave num_bins out")
        self.num_outputs = derived

    def encode(self, label: str) -> torch.Tensor:
        bpm = float(label)
        if not np.isfinite(bpm) or bpm <= 0:
            raise ValueError(f"invalid tempo label {label!r} (expected a positive BPM)")
        return torch.tensor(bpm, dtype=torch.float32)

    def few_shot_class(self, label: str) -> str:
        """Tempo band of the BPM: bands ``few_shot_band`` (10 %) wide on a log axis from 1 BPM, so
        k examples are drawn per band rather than per distinct BPM string.

        >>> t = TempoTask()
        >>> t.few_shot_class("120.0") == t.few_shot_class("125.1"), t.few_shot_class("120.0") == t.few_shot_class("135")
        (True, False)
        """
        band = int(np.floor(np.log(float(self.encode(label))) / np.log1p(self.few_shot_band)))
        lo, hi = np.exp(band * np.log1p(self.few_shot_band)), np.exp((band + 1) * np.log1p(self.few_shot_band))
        return f"{lo:.1f}-{hi:.1f} BPM"

    def transform(self, labels, pitch_steps=None, stretch_rates=None):
        if stretch_rates is None:
            return labels
        return labels * stretch_rates.to(labels)

    # ------------------------------------------------------------------ grid <-> BPM
    def position(self, bpm: torch.Tensor) -> torch.Tensor:
        """Fractional bin position of ``bpm`` (clamped to the grid)."""
        bpm = bpm.float()
        if self.grid == "linear":
            pos = bpm - self.min_bpm
        else:
            pos = torch.log(bpm.clamp(min=1e-6) / self.min_bpm) / self.log_step
        return pos.clamp(0, self.num_outputs - 1)

    def bin_bpm(self, position: torch.Tensor) -> torch.Tensor:
        """BPM of a (fractional) bin position."""
        position = position.float()
        if self.grid == "linear":
            return position + self.min_bpm
        return self.min_bpm * torch.exp(position * self.log_step)

    def bins(self, bpm: torch.Tensor) -> torch.Tensor:
        return torch.round(self.position(bpm)).long().clamp(0, self.num_outputs - 1)

    def soft_targets(self, bpm: torch.Tensor) -> torch.Tensor:
        """Target distributions ``[B, num_bins]`` (rows sum to 1).

        Linear grid: 1 at the true bin, ``soft[d]`` at ±d bins. Log grid: a Gaussian of ``sigma``
        bins around the fractional position of the BPM, truncated at 4 sigma.
        """
        grid = torch.arange(self.num_outputs, device=bpm.device)[None]
        if self.grid == "linear":
            centre = self.bins(bpm)
            dist = (grid - centre[:, None]).abs()
            weights = torch.zeros(len(bpm), self.num_outputs, device=bpm.device)
            for d, w in enumerate(self.soft):
                weights[dist == d] = w
        else:
            dist = grid.float() - self.position(bpm)[:, None]
            weights = torch.exp(-0.5 * (dist / self.sigma) ** 2)
            weights = torch.where(dist.abs() <= 4 * self.sigma, weights, torch.zeros_like(weights))
        return weights / weights.sum(1, keepdim=True)

    def cost_targets(self, labels):
        """Each clip's BPM as a distribution over the bins (``compute_cost``: cross-entropy)."""
        return self.soft_targets(labels)

    def predict_bpm(self, logits):
        logits = logits.float()
        peak = logits.argmax(-1)
        if self.grid == "linear" or self.decode_mode == "argmax":
            return self.bin_bpm(peak.float())
        logp = F.log_softmax(logits, -1)
        left = logp.gather(1, (peak - 1).clamp(min=0)[:, None])[:, 0]
        right = logp.gather(1, (peak + 1).clamp(max=self.num_outputs - 1)[:, None])[:, 0]
        centre = logp.gather(1, peak[:, None])[:, 0]
        curvature = left - 2 * centre + right  # <= 0 at a maximum
        offset = torch.where(curvature < -1e-6, 0.5 * (left - right) / curvature.clamp(max=-1e-6),
                             torch.zeros_like(curvature))
        interior = (peak > 0) & (peak < self.num_outputs - 1)
        offset = torch.where(interior, offset.clamp(-0.5, 0.5), torch.zeros_like(offset))
        return self.bin_bpm(peak.float() + offset)

    def item_metrics(self, logits, labels):
        return M.tempo_scores(self.predict_bpm(logits).cpu().tolist(), labels.cpu().tolist(), self.tolerance)

    def describe(self):
        out = {**super().describe(), "grid": self.grid, "min_bpm": self.min_bpm, "tolerance": self.tolerance}
        if self.grid == "linear":
            return {**out, "soft": list(self.soft)}
        return {**out, "max_bpm": self.max_bpm, "spacing": self.spacing, "sigma": self.sigma,
                "decode": self.decode_mode}


class TaggingTask(Task):
    """Multi-label tagging (tags joined by ``;``): BCE-with-logits, macro mAP and ROC-AUC."""

    name = "tagging"
    main_metric = "mAP"
    scalar = False

    def __init__(self, tags: list[str] | None = None) -> None:
        if tags is not None:
            self.__dict__.update(_tag_list(tags))

    def with_tags(self, tags: list[str]) -> "TaggingTask":
        """The task over ``tags`` (a new task)."""
        return self._with(**_tag_list(tags))

    def fitted(self, train_csv):
        """Every tag (sorted) of the training manifest, unless given."""
        if hasattr(self, "tags"):
            return self
        return self.with_tags(sorted({t for label in read_labels(train_csv) for t in split_tags(label)}))

    def encode(self, label: str) -> torch.Tensor:
        target = torch.zeros(self.num_outputs)
        for tag in split_tags(label):
            if tag not in self.index:
                raise ValueError(f"tag {tag!r} is not one of the {self.num_outputs} training tags")
            target[self.index[tag]] = 1.0
        return target

    def cost_targets(self, labels):
        """The clip's tags as a float multi-hot vector (``compute_cost``: binary cross-entropy)."""
        return labels.float()

    def item_metrics(self, logits, labels):
        return {"scores": torch.sigmoid(logits.float()).cpu().numpy(), "targets": labels.cpu().numpy()}

    def summarise(self, items, idx=None):
        scores, targets = items["scores"], items["targets"]
        if idx is not None:
            scores, targets = scores[idx], targets[idx]
        return M.tagging_metrics(scores, targets)

    def describe(self):
        return {**super().describe(), "tags": self.tags}


class RegressionTask(Task):
    """Regression of ``targets`` (names; the label holds one number per target, joined by ``;``).

    The model outputs standardised targets ``(y - mean) / std`` (``mean``/``std`` per target;
    with ``standardize=True`` :meth:`fitted` computes them on the training manifest, as MARBLE
    standardises Emomusic); the recipe's ``compute_cost`` compares the outputs with them
    (:meth:`cost_targets`; MSE, or any other, e.g. ``torch.nn.functional.l1_loss``). Metrics (:func:`petl_core.metrics.
    regression_metrics`) are computed in the original units: R² and Pearson's r per target and
    their means; ``r2`` (the mean R²) picks the best-validation checkpoint.
    """

    name = "regression"
    main_metric = "r2"
    scalar = False

    def __init__(self, targets: list[str], mean: list[float] | None = None, std: list[float] | None = None,
                 standardize: bool = False) -> None:
        if standardize and (mean is not None or std is not None):
            raise ValueError("regression task: give mean/std only with standardize: false (standardize computes "
                             "them from the training manifest)")
        self.standardize = bool(standardize)
        if not targets or len(set(targets)) != len(targets):
            raise ValueError(f"regression needs distinct target names, got {targets}")
        self.targets = [str(t) for t in targets]
        self.num_outputs = len(self.targets)
        mean = [0.0] * self.num_outputs if mean is None else [float(m) for m in mean]
        std = [1.0] * self.num_outputs if std is None else [float(v) for v in std]
        if len(mean) != self.num_outputs or len(std) != self.num_outputs or not all(v > 0 for v in std):
            raise ValueError(f"regression mean/std need {self.num_outputs} values (std > 0), got {mean}, {std}")
        self.mean, self.std = torch.tensor(mean), torch.tensor(std)

    def encode(self, label: str) -> torch.Tensor:
        try:
            values = [float(v) for v in str(label).split(";")]
        except ValueError:
            values = []
        if len(values) != self.num_outputs or not all(np.isfinite(values)):
            raise ValueError(f"regression label {label!r} must hold {self.num_outputs} finite numbers joined by ';' "
                             f"({';'.join(self.targets)})")
        return torch.tensor(values, dtype=torch.float32)

    def fitted(self, train_csv):
        """With ``standardize``: the task with the targets' mean and std on the training manifest."""
        if not self.standardize:
            return self
        mean, std = target_statistics(read_labels(train_csv), self)
        return self._with(mean=torch.tensor(mean), std=torch.tensor(std))

    def standardized(self, labels: torch.Tensor) -> torch.Tensor:
        """``(labels - mean) / std``: what the outputs are trained to be."""
        return (labels.float() - self.mean.to(labels.device)) / self.std.to(labels.device)

    def cost_targets(self, labels):
        """``(y - mean) / std`` per target (``compute_cost``: e.g. MSE)."""
        return self.standardized(labels)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Outputs in the targets' units."""
        return logits.float() * self.std.to(logits.device) + self.mean.to(logits.device)

    def item_metrics(self, logits, labels):
        return {"predictions": self.predict(logits).cpu().numpy(), "targets": labels.float().cpu().numpy()}

    def summarise(self, items, idx=None):
        pred, ref = items["predictions"], items["targets"]
        if idx is not None:
            pred, ref = pred[idx], ref[idx]
        return M.regression_metrics(pred, ref, self.targets)

    def describe(self):
        return {**super().describe(), "targets": self.targets, "standardize": self.standardize,
                "mean": self.mean.tolist(), "std": self.std.tolist()}


def target_statistics(labels: list[str], task: RegressionTask) -> tuple[list[float], list[float]]:
    """Per-target mean and (population) standard deviation of regression labels."""
    values = torch.stack([task.encode(label) for label in labels]).double()
    std = values.std(0, unbiased=False)
    if len(values) < 2 or not bool((std > 0).all()):
        raise ValueError(f"cannot standardise regression targets {task.targets}: the training labels need at least "
                         "two distinct values per target (or set standardize: false)")
    return values.mean(0).tolist(), std.tolist()


# ------------------------------------------------------------------------------------ helpers
def split_tags(label: str) -> list[str]:
    return [t.strip() for t in str(label).split(";") if t.strip()]


def key_index(label: str) -> int:
    """Index into :data:`KEY_CLASSES` of a mir_eval key string (flats accepted)."""
    import mir_eval

    try:
        mir_eval.key.validate_key(label)
        tonic, mode = mir_eval.key.split_key_string(label)
    except ValueError as exc:
        raise ValueError(f"invalid key label {label!r}: {exc}") from None
    if tonic is None or mode not in ("major", "minor"):
        raise ValueError(f"key label {label!r} must be '<tonic> major' or '<tonic> minor'")
    return tonic % 12 + (12 if mode == "minor" else 0)


def rotate_key(indices: torch.Tensor, semitones: torch.Tensor) -> torch.Tensor:
    """Transpose key indices by ``semitones`` within their mode."""
    mode = indices // 12
    return mode * 12 + (indices % 12 + semitones.to(indices)) % 12


def read_labels(csv_path: str) -> list[str]:
    with open(csv_path, newline="", encoding="utf-8") as f:
        return [row["label"] for row in csv.DictReader(f)]


def _class_list(classes: list[str]) -> dict:
    if len(classes) < 2:
        raise ValueError(f"classification needs at least 2 classes, got {classes}")
    return {"classes": list(classes), "index": {c: i for i, c in enumerate(classes)}, "num_outputs": len(classes)}


def _tag_list(tags: list[str]) -> dict:
    if not tags:
        raise ValueError("tagging needs at least one tag")
    return {"tags": list(tags), "index": {t: i for i, t in enumerate(tags)}, "num_outputs": len(tags)}
