"""Evaluation metrics, computed with the libraries made for them.

* macro mAP and macro ROC-AUC for tagging (``sklearn.metrics``; classes without a positive, or
  without a negative, in the evaluated set are skipped for that metric, as an undefined AP/AUC);
* key weighted score from ``mir_eval.key.weighted_score``. NOTE: mir_eval credits 0.5 only when the
  estimate is a perfect fifth ABOVE the reference (peft-music credited a fifth in both
  directions); we report mir_eval's definition;
* regression R² (``sklearn.metrics.r2_score``, per target and averaged as ``multioutput=
  "uniform_average"``) and Pearson's r (``scipy.stats.pearsonr``);
* tempo Accuracy1 / Accuracy2 from ``madmom.evaluation.tempo.TempoEvaluation`` (tolerance 4 %,
  Accuracy2 also accepts ×2, ½, ×3, ⅓ of the annotated tempo);
* seeded bootstrap confidence intervals for any of them.

Example:
    >>> key_scores(["C major", "C major"], ["G major", "A minor"]).tolist()
    [0.5, 0.3]
    >>> tempo_scores([120.0], [60.0])["acc2"].tolist()
    [1.0]
"""
from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

TEMPO_TOLERANCE = 0.04


def key_scores(references: Sequence[str], estimates: Sequence[str]) -> np.ndarray:
    """Per-item ``mir_eval.key.weighted_score`` (fifth above 0.5, relative 0.3, parallel 0.2)."""
    import mir_eval

    return np.array([mir_eval.key.weighted_score(r, e) for r, e in zip(references, estimates)], dtype=float)


def tempo_scores(detections: Sequence[float], annotations: Sequence[float], tolerance: float = TEMPO_TOLERANCE) -> dict:
    """Per-item Accuracy1 / Accuracy2 (0/1) from madmom's ``TempoEvaluation``."""
    from madmom.evaluation.tempo import TempoEvaluation

    acc1, acc2 = [], []
    for det, ann in zip(detections, annotations):
        with warnings.catch_warnings():  # madmom warns that no tempo strengths were given
            warnings.simplefilter("ignore")
            ev = TempoEvaluation([float(det)], [float(ann)], tolerance=tolerance, double=True, triple=True)
        acc1.append(float(ev.acc1))
        acc2.append(float(ev.acc2))
    return {"acc1": np.array(acc1), "acc2": np.array(acc2)}


def tagging_metrics(scores: np.ndarray, targets: np.ndarray) -> dict:
    """Macro mAP and ROC-AUC over the tags that are defined on this set."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores, targets = np.asarray(scores, dtype=float), np.asarray(targets, dtype=int)
    positives = targets.sum(0)
    has_pos = positives > 0
    has_both = has_pos & (positives < len(targets))
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["mAP"] = (
            float(average_precision_score(targets[:, has_pos], scores[:, has_pos], average="macro"))
            if has_pos.any() else float("nan")
        )
        out["roc_auc"] = (
            float(roc_auc_score(targets[:, has_both], scores[:, has_both], average="macro"))
            if has_both.any() else float("nan")
        )
    return out


def regression_metrics(predictions: np.ndarray, targets: np.ndarray, names: Sequence[str]) -> dict:
    """R² (``sklearn.metrics.r2_score``) and Pearson's r (``scipy.stats.pearsonr``) per target
    (``r2_<name>``, ``pearson_<name>``) and their means over targets (``r2``, ``pearson``).
    ``predictions``/``targets``: ``[N, len(names)]``. Undefined values (fewer than 2 items, a
    constant column) are NaN."""
    from scipy.stats import pearsonr
    from sklearn.metrics import r2_score

    predictions = np.asarray(predictions, dtype=float).reshape(len(predictions), -1)
    targets = np.asarray(targets, dtype=float).reshape(len(targets), -1)
    out = {}
    for j, name in enumerate(names):
        pred, ref = predictions[:, j], targets[:, j]
        defined = len(ref) >= 2 and np.ptp(ref) > 0
        out[f"r2_{name}"] = float(r2_score(ref, pred)) if defined else float("nan")
        out[f"pearson_{name}"] = float(pearsonr(pred, ref).statistic) if defined and np.ptp(pred) > 0 else float("nan")
    out["r2"] = float(np.mean([out[f"r2_{n}"] for n in names]))
    out["pearson"] = float(np.mean([out[f"pearson_{n}"] for n in names]))
    return out


def bootstrap_ci(
    metric_fn: Callable[[np.ndarray], dict],
    n_items: int,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """Percentile bootstrap: ``metric_fn(indices) -> {name: value}`` on resampled item indices.

    Returns ``{name: [low, high]}`` (95 % by default); seeded, so reproducible.
    """
    if n_items == 0:
        return {}
    rng = np.random.default_rng(seed)
    samples: dict[str, list] = {}
    for _ in range(n_resamples):
        idx = rng.integers(0, n_items, n_items)
        for name, value in metric_fn(idx).items():
            samples.setdefault(name, []).append(value)
    return {
        name: [float(np.nanpercentile(v, 100 * alpha / 2)), float(np.nanpercentile(v, 100 * (1 - alpha / 2)))]
        for name, v in samples.items()
    }
