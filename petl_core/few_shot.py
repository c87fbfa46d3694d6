"""Few-shot subsets of a training manifest: k examples per class, seeded and stratified.

* single-label (``classification``, ``key``, ``tempo``): exactly ``k`` items per class, drawn
  with ``numpy.random.default_rng(seed)`` from the rows of that class; a clear error names every
  class with fewer than ``k`` items (``short="all"``: such a class contributes all its items).
  The class of a row is ``class_of(label)``, the task's :meth:`~petl_core.tasks.Task.few_shot_class`:
  the label itself, or for tempo a band of BPM (k examples per tempo band, not per distinct BPM);
* multi-label (``tagging``): greedy stratification: tags are visited from the rarest; for each
  tag, clips carrying it are drawn at random until the subset holds at least ``k`` clips with the
  tag (a clip counts for all its tags, so frequent tags can exceed ``k``); error if a tag occurs
  in fewer than ``k`` clips.

The subset depends only on the manifest rows, ``k`` and ``seed`` (no global RNG), so every DDP
rank computes the same one. Only the training split is ever subsampled.

Example:
    >>> rows = [{"ID": str(i), "label": "ab"[i % 2]} for i in range(10)]
    >>> sub = select_few_shot(rows, k=2, seed=3)
    >>> sorted(r["label"] for r in sub)
    ['a', 'a', 'b', 'b']
    >>> sub == select_few_shot(rows, k=2, seed=3)
    True
"""
from __future__ import annotations

import csv
import logging
import os
from collections import defaultdict
from typing import Callable

import numpy as np

from petl_core.errors import DataError

logger = logging.getLogger(__name__)


class FewShotError(DataError):
    """A class has fewer than k training examples."""


def _tags(label: str) -> list[str]:
    return [t.strip() for t in str(label).split(";") if t.strip()]


def select_few_shot(rows: list[dict], k: int, seed: int, multi_label: bool = False,
                    label_key: str = "label", class_of: Callable[[str], str] | None = None,
                    short: str = "error") -> list[dict]:
    """The few-shot subset of ``rows`` (manifest order kept)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise FewShotError(f"few_shot_k must be a positive integer, got {k!r}")
    if short not in ("error", "all"):
        raise ValueError(f"short must be 'error' or 'all', got {short!r}")
    rng = np.random.default_rng(int(seed))
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        labels = _tags(row[label_key]) if multi_label else [str(row[label_key])]
        for label in labels:
            by_class[class_of(label) if class_of else label].append(i)
    too_few = {c: len(ix) for c, ix in by_class.items() if len(ix) < k}
    if too_few and short == "error":
        detail = ", ".join(f"{c!r} ({n})" for c, n in sorted(too_few.items()))
        raise FewShotError(f"few-shot k={k}: {len(too_few)} class(es) have fewer than {k} training examples: {detail}")
    if too_few:
        logger.info("few-shot k=%d: %d class(es) with fewer items used whole: %s", k, len(too_few), sorted(too_few))
    chosen: set[int] = set()
    if not multi_label:
        for c in sorted(by_class):
            chosen.update(int(i) for i in rng.choice(by_class[c], size=min(k, len(by_class[c])), replace=False))
    else:
        count: dict[str, int] = defaultdict(int)
        for tag in sorted(by_class, key=lambda t: (len(by_class[t]), t)):
            candidates = [i for i in rng.permutation(by_class[tag]).tolist() if i not in chosen]
            while count[tag] < k and candidates:
                i = candidates.pop(0)
                chosen.add(i)
                for t in _tags(rows[i][label_key]):
                    count[t] += 1
    return [rows[i] for i in sorted(chosen)]


def write_few_shot_manifest(train_csv: str, out_csv: str, k: int, seed: int, multi_label: bool = False,
                            class_of: Callable[[str], str] | None = None, short: str = "error") -> str:
    """Write the few-shot subset of ``train_csv`` to ``out_csv`` (atomically); return ``out_csv``."""
    with open(train_csv, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    subset = select_few_shot(rows, k, seed, multi_label, class_of=class_of, short=short)
    os.makedirs(os.path.dirname(os.path.abspath(out_csv)), exist_ok=True)
    tmp = f"{out_csv}.tmp{os.getpid()}"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(subset)
    os.replace(tmp, out_csv)
    return out_csv
