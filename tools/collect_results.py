#!/usr/bin/env python
"""Collect the ``results.json`` of training runs into CSV, Markdown tables and plots.

    python tools/collect_results.py results/grid [more roots...] --out results/tables

Reads every ``results.json`` below the roots (keys ``test``, ``valid``, ``test_ci``, ``params``,
``seconds_per_epoch``, ``config``; all optional except ``test``) and writes to ``--out``:

* ``results.csv``: one row per run (task, backbone, method, seed, few_shot_k, num_layers,
  parameters, the backbone and method configurations as JSON and every test/valid metric);
* ``table_main.md``: (a) rows method × backbone, columns tasks (seed 001, Table 2) and (b) one
  table per backbone, rows methods, columns tasks, with the trainable parameters (seed 002,
  Tables I/II). Cells are the mean over seeds, ``± std`` (sample std) when there are several; the
  best mean of each column is **bold**. Few-shot runs are left out, and where a backbone was run
  with several depths only its most frequent ``num_layers`` is used (the others are ablations);
* ``table_fewshot.md``: per task and backbone, rows methods, columns k, mean ± std over seeds;
* ``params_vs_metric.png`` (metric vs trainable parameters, symlog x: linear up to 1, so a probe with
  0 trainable backbone parameters is drawn at 0) and ``layers_vs_metric.png`` (metric vs number of
  layers, seed 001 Fig. 3), each only when there is something to draw.

Rows keep configurations apart: runs are grouped by backbone *configuration* (``config.backbone``
without ``num_layers``, which is its own column) and method *configuration* (``config.method``), not
by name alone. When one name was run with several configurations, each gets a label with what
differs, e.g. ``musicfm (config=tiny)`` and ``musicfm (hidden_size=96, num_hidden_layers=2, …)``;
``table_main.md`` lists every label's full configuration.

The metric of a task is chosen from what its runs report: a key weighted score, else tempo Acc2,
else mAP and ROC-AUC (two columns), else accuracy, else the first metric; frame-level tasks show
their main metric with its companions (beat: Beat F, Downbeat F, CMLt, AMLt; chord: MajMin, Root,
MIREX, duration-weighted); ``--metric
TASK=name[,name]`` picks others (an unknown task or metric is an error naming the valid ones).
Values in [0, 1] are shown in percent (``--no-percent``: as is).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import re
import statistics
import sys
from collections import Counter, defaultdict

logger = logging.getLogger("collect_results")


class CollectError(ValueError):
    """A bad request (e.g. an unknown ``--metric``); the message names the valid choices."""

METHOD_ORDER = ["ft", "linear", "probe", "mlp", "lora", "adapter", "convpass", "conformer_adapter", "prompt",
                "prefix", "bitfit", "ssf"]
BACKBONE_ORDER = ["ast", "mert", "musicfm", "hubert", "wav2vec2", "data2vec"]
METRIC_LABELS = {"accuracy": "Acc", "acc": "Acc", "map": "mAP", "roc_auc": "ROC-AUC", "rocauc": "ROC-AUC",
                 "auc": "ROC-AUC", "acc2": "Acc2", "weighted_score": "Weighted", "key_weighted_score": "Weighted",
                 "beat_f": "Beat F", "downbeat_f": "Downbeat F", "cmlt": "CMLt", "amlt": "AMLt",
                 "majmin": "MajMin", "root": "Root", "mirex": "MIREX"}
#: frame-level tasks: the columns shown beside their main metric (as mAP with ROC-AUC)
COMPANIONS = {"beat_f": ["downbeat_f", "cmlt", "amlt"], "majmin": ["root", "mirex"]}


# --------------------------------------------------------------------------------------- loading
def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _name(value, default=None):
    """``{'name': 'lora', ...}`` or ``'lora'`` -> ``'lora'``."""
    if isinstance(value, dict):
        value = value.get("name", default)
    return default if value is None else str(value)


def _settings(value, drop=("name",)) -> dict:
    """The configuration of a ``{'name': ..., **settings}`` mapping (``{}`` for a plain name); unset
    entries (``None``, ``{}``) are left out, so ``'lora'`` and ``{'name': 'lora', 'options': {}}`` match."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k not in drop and v is not None and v != {}}


def _int_or_none(value):
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def task_name(data: dict, config: dict, path: str) -> str:
    """``Dataset-task``: ``config.dataset``/``recipe`` (else the recipe folder of ``config.hparams_file``)
    and the task (``results.task`` or ``config.task``)."""
    dataset = _name(config.get("dataset")) or _name(config.get("recipe"))
    hparams_file = config.get("hparams_file")
    if not dataset and isinstance(hparams_file, str):
        parts = os.path.normpath(hparams_file).split(os.sep)
        if "recipes" in parts[:-1]:
            i = len(parts) - 1 - parts[::-1].index("recipes")
            dataset = parts[i + 1] if i + 2 < len(parts) else None
    task = _name(data.get("task")) or _name(config.get("task"))
    if dataset and task and norm(task) not in norm(dataset):
        return f"{dataset}-{task}"
    if dataset or task:
        return str(dataset or task)
    # run_grid layout: <root>/<Dataset-task>/<run>/results.json
    return os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(path)))) or "task"


def load_run(path: str) -> dict | None:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        logger.warning("skipping %s: %s", path, exc)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("test"), dict) or not data["test"]:
        logger.warning("skipping %s: no 'test' metrics", path)
        return None
    config = data.get("config") or {}
    params = data.get("params") or {}
    method = config.get("method")
    few = _int_or_none(config.get("few_shot_k"))
    num_layers = config.get("num_layers")
    if num_layers is None and isinstance(config.get("backbone"), dict):
        num_layers = config["backbone"].get("num_layers")
    return {
        "path": path,
        "task": task_name(data, config, path),
        "main_metric": data.get("main_metric") if isinstance(data.get("main_metric"), str) else None,
        "backbone": _name(config.get("backbone"), "?"),
        "method": _name(method, "?"),
        "backbone_config": _settings(config.get("backbone"), ("name", "num_layers")),
        "method_config": _settings(method),
        "seed": config.get("seed"),
        "few_shot_k": few if few and few > 0 else None,
        "num_layers": _int_or_none(num_layers),
        "trainable": _int_or_none(params.get("trainable")),
        "total": _int_or_none(params.get("total")),
        "head": _int_or_none(params.get("head")),
        "seconds_per_epoch": data.get("seconds_per_epoch"),
        "test": {k: v for k, v in data["test"].items() if _is_number(v)},
        "valid": {k: v for k, v in (data.get("valid") or {}).items() if _is_number(v)},
        "test_ci": data.get("test_ci") or data.get("test_ci95") or {},
    }


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def find_results(roots: list[str]) -> list[str]:
    paths = []
    for root in roots:
        if os.path.isfile(root):
            paths.append(root)
            continue
        if not os.path.isdir(root):
            logger.warning("%s does not exist", root)
        for folder, _, files in os.walk(root):
            if "results.json" in files:
                paths.append(os.path.join(folder, "results.json"))
    return sorted(set(paths))


# -------------------------------------------------------------------------------- configurations
LABEL_ITEMS = 4  # settings shown in a label; the full configuration is listed in table_main.md


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _flat(config: dict, prefix: str = "") -> dict:
    """``{'config': {'hidden_size': 96}}`` -> ``{'config.hidden_size': 96}``."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_labels(name: str, configs: list[dict]) -> dict[str, str]:
    """``{canonical configuration: label}`` for the configurations run under one name: the bare name
    when there is one, else the name with the settings that tell them apart.

    >>> sorted(config_labels("lora", [{"rank": 2}, {"rank": 8}]).values())
    ['lora (rank=2)', 'lora (rank=8)']
    """
    unique = {_canonical(c): c for c in configs}
    if len(unique) == 1:
        return {key: name for key in unique}
    flats = {key: _flat(c) for key, c in unique.items()}
    keys = list(dict.fromkeys(k for f in flats.values() for k in f))  # in configuration order
    differing = [k for k in keys if len({_canonical(f[k]) if k in f else None for f in flats.values()}) > 1]
    labels = {}
    for key, flat in flats.items():
        shown = [k for k in differing if k in flat]
        short = [k.rsplit(".", 1)[-1] for k in shown]
        names = short if len(set(short)) == len(short) else shown
        items = [f"{n}={v if isinstance(v, str) else _canonical(v)}" for n, v in zip(names, (flat[k] for k in shown))]
        text = ", ".join(items[:LABEL_ITEMS]) + (", …" if len(items) > LABEL_ITEMS else "")
        labels[key] = f"{name} ({text or 'defaults'})"
    counts = Counter(labels.values())
    seen = Counter()
    for key in sorted(labels):  # truncated labels that collide get a number
        if counts[labels[key]] > 1:
            seen[labels[key]] += 1
            labels[key] = f"{labels[key][:-1]} #{seen[labels[key]]})"
    return labels


def label_configurations(runs: list[dict]) -> dict[str, str]:
    """Replace each run's ``backbone``/``method`` name by its configuration label (the names stay in
    ``backbone_name``/``method_name``); returns ``{label: configuration JSON}`` of the labels that
    differ from their name."""
    legend = {}
    for field in ("backbone", "method"):
        by_name = defaultdict(list)
        for r in runs:
            by_name[r[field]].append(r[f"{field}_config"])
        labels = {name: config_labels(name, configs) for name, configs in by_name.items()}
        for r in runs:
            r[f"{field}_name"] = r[field]
            r[field] = labels[r[field]][_canonical(r[f"{field}_config"])]
            if r[field] != r[f"{field}_name"]:
                legend[r[field]] = _canonical(r[f"{field}_config"])
    return legend


# --------------------------------------------------------------------------------------- metrics
def default_metrics(keys: set[str]) -> list[str]:
    """The metric(s) reported for a task whose runs have ``keys``."""
    by_norm = {norm(k): k for k in sorted(keys)}

    def find(*patterns):
        return [by_norm[n] for n in by_norm if any(p(n) for p in patterns)]

    weighted = find(lambda n: "weighted" in n)
    if weighted:
        return weighted[:1]
    acc2 = find(lambda n: n.endswith("acc2") or n == "accuracy2")
    if acc2:
        return acc2[:1]
    tagging = find(lambda n: n in ("map", "meanap", "averageprecision", "ap")) + \
        find(lambda n: n in ("rocauc", "auc", "auroc"))
    if tagging:
        return tagging
    acc = find(lambda n: n in ("accuracy", "acc", "acc1", "top1"))
    if acc:
        return acc[:1]
    return sorted(keys)[:1]


def choose_metrics(runs: list[dict], overrides: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per task: ``--metric``, else the runs' declared ``main_metric`` (mAP with ROC-AUC beside it),
    else :func:`default_metrics`."""
    keys, declared = defaultdict(set), defaultdict(Counter)
    for r in runs:
        keys[r["task"]] |= set(r["test"])
        if r.get("main_metric") and r["main_metric"] in r["test"]:
            declared[r["task"]][r["main_metric"]] += 1
    for task, names in overrides.items():
        if task not in keys:
            raise CollectError(f"--metric {task}=...: no runs of task {task!r}; tasks: {', '.join(sorted(keys)) or 'none'}")
        unknown = [n for n in names if n not in keys[task]]
        if unknown:
            raise CollectError(f"--metric {task}={','.join(names)}: unknown metric(s) {', '.join(unknown)}; "
                               f"{task} runs report: {', '.join(sorted(keys[task]))}")
    chosen = {}
    for task, k in sorted(keys.items()):
        if overrides.get(task):
            chosen[task] = overrides[task]
        elif declared[task]:
            main = declared[task].most_common(1)[0][0]
            extra = [m for m in default_metrics(k) if m != main] if norm(main) in ("map", "rocauc") else []
            extra += [m for m in COMPANIONS.get(main, []) if m in k]
            chosen[task] = [main] + extra
        else:
            chosen[task] = default_metrics(k)
    return chosen


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric.lower(), METRIC_LABELS.get(norm(metric), metric))


def order_key(order: list[str]):
    """Sort key: position of the (base) name in ``order``, then the label."""
    def key(label: str):
        name = label.split(" (")[0]
        return (order.index(name) if name in order else len(order), label)
    return key


# ------------------------------------------------------------------------------------- aggregate
def mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def main_runs(runs: list[dict]) -> tuple[list[dict], list[str]]:
    """Runs of the main tables: no few-shot, each backbone at its most frequent depth."""
    full = [r for r in runs if r["few_shot_k"] is None]
    notes = []
    depth = {}
    for backbone in {r["backbone"] for r in full}:
        # runs that do not say their depth are kept (they ran the default configuration)
        counts = Counter(r["num_layers"] for r in full if r["backbone"] == backbone and r["num_layers"] is not None)
        if len(counts) > 1:
            chosen = max(counts, key=lambda n: (counts[n], n))
            depth[backbone] = chosen
            others = sorted(str(n) for n in counts if n != chosen)
            notes.append(f"{backbone}: runs with num_layers={chosen}; other depths ({', '.join(others)}) are "
                         "in layers_vs_metric.png")
    kept = [r for r in full if r["backbone"] not in depth or r["num_layers"] in (None, depth[r["backbone"]])]
    return kept, notes


class Cell:
    def __init__(self, values: list[float], scale: float):
        self.n = len(values)
        self.mean, self.std = mean_std([v * scale for v in values])
        self.bold = False

    def text(self, digits: int) -> str:
        s = f"{self.mean:.{digits}f}" + (f" ± {self.std:.{digits}f}" if self.std is not None else "")
        return f"**{s}**" if self.bold else s


def metric_scale(runs: list[dict], metric: str, percent: bool) -> float:
    values = [r["test"][metric] for r in runs if metric in r["test"]]
    return 100.0 if percent and values and all(0.0 <= v <= 1.0 for v in values) else 1.0


def build_cells(runs, row_key, columns, percent):
    """``{row: {column: Cell}}``; columns are ``(task, metric)``; best mean per column bolded."""
    table = defaultdict(dict)
    for task, metric in columns:
        task_runs = [r for r in runs if r["task"] == task and metric in r["test"]]
        scale = metric_scale(task_runs, metric, percent)
        groups = defaultdict(list)
        for r in task_runs:
            groups[row_key(r)].append(r["test"][metric])
        cells = {row: Cell(vals, scale) for row, vals in groups.items()}
        if cells:
            best = max(c.mean for c in cells.values())
            for c in cells.values():
                c.bold = math.isclose(c.mean, best, rel_tol=1e-12, abs_tol=1e-12) and len(cells) > 1
        for row, cell in cells.items():
            table[row][(task, metric)] = cell
    return table


def markdown(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def column_header(task: str, metric: str, metrics: dict) -> str:
    return f"{task} ({metric_label(metric)})"


def human(n) -> str:
    if n is None:
        return "-"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def params_text(values: list[int]) -> str:
    values = sorted({v for v in values if v is not None})
    if not values:
        return "-"
    return human(values[0]) if len(values) == 1 else f"{human(values[0])}–{human(values[-1])}"


def seeds_text(runs) -> str:
    counts = Counter()
    for r in runs:
        counts[(r["task"], r["backbone"], r["method"])] += 1
    values = sorted(set(counts.values()))
    return "/".join(map(str, values))


def table_main(runs: list[dict], metrics: dict, percent: bool, digits: int, legend: dict | None = None) -> str:
    """The main tables; ``legend`` (:func:`label_configurations`) is listed under them."""
    kept, notes = main_runs(runs)
    columns = [(t, m) for t, ms in metrics.items() for m in ms if any(r["task"] == t for r in kept)]
    out = ["# Main results", ""]
    if not kept:
        return "\n".join(out + ["No full-data runs found.", ""])
    unit = "percent" if percent else "raw values"
    out += [f"Mean over seeds (± sample std when several; {seeds_text(kept)} run(s) per cell), test set, "
            f"{unit}; best per column in bold.", ""]
    out += [f"- {n}" for n in notes] + ([""] if notes else [])
    # (a) method × backbone
    cells = build_cells(kept, lambda r: (r["method"], r["backbone"]), columns, percent)
    rows = sorted(cells, key=lambda k: (order_key(METHOD_ORDER)(k[0]), order_key(BACKBONE_ORDER)(k[1])))
    header = ["Method", "Backbone"] + [column_header(t, m, metrics) for t, m in columns]
    body = [[m, b] + [cells[(m, b)][c].text(digits) if c in cells[(m, b)] else "-" for c in columns]
            for m, b in rows]
    out += ["## Methods × backbones (seed 001, Table 2 layout)", "",
            markdown(header, body, ["---", "---"] + ["---:"] * len(columns)), ""]
    # (b) one table per backbone with trainable parameters
    out += ["## Per backbone, with trainable parameters (seed 002, Tables I/II layout)", ""]
    for backbone in sorted({r["backbone"] for r in kept}, key=order_key(BACKBONE_ORDER)):
        b_runs = [r for r in kept if r["backbone"] == backbone]
        b_cols = [c for c in columns if any(r["task"] == c[0] for r in b_runs)]
        cells = build_cells(b_runs, lambda r: r["method"], b_cols, percent)
        header = ["Method", "Trainable params"] + [column_header(t, m, metrics) for t, m in b_cols]
        body = []
        for method in sorted(cells, key=order_key(METHOD_ORDER)):
            params = params_text([r["trainable"] for r in b_runs if r["method"] == method])
            body.append([method, params] + [cells[method][c].text(digits) if c in cells[method] else "-"
                                            for c in b_cols])
        out += [f"### {backbone}", "", markdown(header, body, ["---", "---:"] + ["---:"] * len(b_cols)), ""]
    if legend:
        out += ["## Configurations", "", "Names run with several configurations, labelled by what differs:", ""]
        out += [f"- `{label}`: `{config}`" for label, config in sorted(legend.items())] + [""]
    return "\n".join(out)


def table_fewshot(runs: list[dict], metrics: dict, percent: bool, digits: int) -> str:
    few = [r for r in runs if r["few_shot_k"] is not None]
    out = ["# Few-shot results", ""]
    if not few:
        return "\n".join(out + ["No few-shot runs found (config.few_shot_k).", ""])
    out += ["Test metric, mean ± sample std over seeds; columns: k examples per class; best per column in bold.",
            ""]
    for task in sorted({r["task"] for r in few}):
        for backbone in sorted({r["backbone"] for r in few if r["task"] == task}, key=order_key(BACKBONE_ORDER)):
            sel = [r for r in few if r["task"] == task and r["backbone"] == backbone]
            for metric in metrics.get(task, []):
                ks = sorted({r["few_shot_k"] for r in sel})
                scale = metric_scale(sel, metric, percent)
                cells = {}
                for k in ks:
                    groups = defaultdict(list)
                    for r in sel:
                        if r["few_shot_k"] == k and metric in r["test"]:
                            groups[r["method"]].append(r["test"][metric])
                    col = {m: Cell(v, scale) for m, v in groups.items()}
                    if len(col) > 1:
                        best = max(c.mean for c in col.values())
                        for c in col.values():
                            c.bold = math.isclose(c.mean, best, rel_tol=1e-12, abs_tol=1e-12)
                    for m, c in col.items():
                        cells[(m, k)] = c
                methods = sorted({m for m, _ in cells}, key=order_key(METHOD_ORDER))
                header = ["Method"] + [f"k={k}" for k in ks]
                body = [[m] + [cells[(m, k)].text(digits) if (m, k) in cells else "-" for k in ks] for m in methods]
                out += [f"## {task}, {backbone} ({metric_label(metric)})", "",
                        markdown(header, body, ["---"] + ["---:"] * len(ks)), ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------- plots
def _group_mean(runs, key, metric):
    groups = defaultdict(list)
    for r in runs:
        if metric in r["test"]:
            groups[key(r)].append(r["test"][metric])
    return {k: statistics.fmean(v) for k, v in groups.items()}


def plot_params(runs, metrics, percent, path) -> bool:
    """Metric vs trainable parameters (head excluded), one panel per task. The x axis is symlog
    (linear below 1), so methods that train no backbone parameter (linear/MLP probes) sit at 0;
    the points of one method name on one backbone are joined (e.g. a rank sweep)."""
    full = [r for r in runs if r["few_shot_k"] is None and r["trainable"] is not None]
    panels = [(t, ms[0]) for t, ms in metrics.items() if any(r["task"] == t for r in full)]
    if not panels:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (task, metric) in zip(axes[0], panels):
        sel = [r for r in full if r["task"] == task]
        scale = metric_scale(sel, metric, percent)
        means = _group_mean(sel, lambda r: (r["backbone"], r["method_name"], r["method"], r["trainable"]), metric)
        backbones = sorted({k[0] for k in means}, key=order_key(BACKBONE_ORDER))
        labels = []
        for backbone in backbones:
            marker = "os^Dv<>p"[backbones.index(backbone) % 8]
            for method in sorted({k[1] for k in means if k[0] == backbone}, key=order_key(METHOD_ORDER)):
                pts = sorted((p, v * scale) for (b, m, _, p), v in means.items() if b == backbone and m == method)
                xs, ys = zip(*pts)
                line = ax.plot(xs, ys, marker=marker, linestyle="-" if len(pts) > 1 else "none")[0]
                labels.append(ax.annotate(f"{method} ({backbone})", (xs[-1], ys[-1]), fontsize=7,
                                          color=line.get_color(), xytext=(3, 3), textcoords="offset points"))
        ax.set_xscale("symlog", linthresh=1, linscale=0.5)
        ax.margins(x=0.08, y=0.12)
        ax.autoscale_view()
        to_axes = ax.transData + ax.transAxes.inverted()
        for label in labels:  # labels of points on the right half extend leftwards: never clipped
            if to_axes.transform(label.xy)[0] > 0.5:
                label.set_horizontalalignment("right")
                label.xyann = (-3, 3)
        ax.set_xlabel("trainable parameters (head excluded; symlog, 0 = probe)")
        ax.set_ylabel(metric_label(metric) + (" (%)" if scale == 100 else ""))
        ax.set_title(task)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def plot_layers(runs, metrics, percent, path) -> bool:
    full = [r for r in runs if r["few_shot_k"] is None and r["num_layers"] is not None]
    depths = defaultdict(set)
    for r in full:
        depths[(r["task"], r["backbone"], r["method"])].add(r["num_layers"])
    tasks = sorted({k[0] for k, v in depths.items() if len(v) > 1})
    panels = [(t, metrics[t][0]) for t in tasks if t in metrics]
    if not panels:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (task, metric) in zip(axes[0], panels):
        sel = [r for r in full if r["task"] == task]
        scale = metric_scale(sel, metric, percent)
        means = _group_mean(sel, lambda r: (r["backbone"], r["method"], r["num_layers"]), metric)
        for (backbone, method) in sorted({k[:2] for k in means},
                                         key=lambda k: (order_key(BACKBONE_ORDER)(k[0]), order_key(METHOD_ORDER)(k[1]))):
            pts = sorted((n, v * scale) for (b, m, n), v in means.items() if b == backbone and m == method)
            if len(pts) < 2:
                continue
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", label=f"{method} ({backbone})")
        ax.set_xlabel("number of layers")
        ax.set_ylabel(metric_label(metric) + (" (%)" if scale == 100 else ""))
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------------------ csv
def write_csv(runs: list[dict], path: str) -> None:
    test_keys = sorted({k for r in runs for k in r["test"]})
    valid_keys = sorted({k for r in runs for k in r["valid"]})
    ci_keys = sorted({k for r in runs for k, v in r["test_ci"].items() if isinstance(v, (list, tuple)) and len(v) == 2})
    base = ["task", "backbone", "method", "seed", "few_shot_k", "num_layers", "trainable_params", "total_params",
            "head_params", "seconds_per_epoch", "backbone_config", "method_config", "path"]
    header = base + [f"test_{k}" for k in test_keys] + [f"valid_{k}" for k in valid_keys] + \
        [f"test_ci_{k}_{side}" for k in ci_keys for side in ("low", "high")]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for r in sorted(runs, key=lambda r: (r["task"], order_key(BACKBONE_ORDER)(r["backbone"]),
                                            order_key(METHOD_ORDER)(r["method"]), str(r["few_shot_k"]),
                                            str(r["num_layers"]), str(r["seed"]))):
            row = [r["task"], r["backbone"], r["method"], r["seed"], r["few_shot_k"], r["num_layers"], r["trainable"],
                   r["total"], r["head"], r["seconds_per_epoch"],
                   _canonical(r["backbone_config"]) if r["backbone_config"] else "",
                   _canonical(r["method_config"]) if r["method_config"] else "", r["path"]]
            row += [r["test"].get(k) for k in test_keys] + [r["valid"].get(k) for k in valid_keys]
            for k in ci_keys:
                ci = r["test_ci"].get(k)
                row += list(ci) if isinstance(ci, (list, tuple)) and len(ci) == 2 else [None, None]
            writer.writerow(["" if v is None else v for v in row])


# ----------------------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="folders searched recursively for results.json (or files)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--metric", action="append", default=[], help="TASK=metric[,metric]: metric(s) of a task")
    p.add_argument("--no-percent", action="store_true", help="show metrics in [0, 1] as they are")
    p.add_argument("--digits", type=int, default=None, help="decimals (default 1 in percent, 3 otherwise)")
    args = p.parse_args(argv)
    args.metrics = {}
    for item in args.metric:
        task, sep, names = item.partition("=")
        if not sep or not task or not names:
            p.error(f"--metric must look like TASK=metric[,metric], got {item!r}")
        args.metrics[task] = [n.strip() for n in names.split(",") if n.strip()]
    return args


def collect(roots, out, metric_overrides=None, percent=True, digits=None) -> dict:
    runs = [r for r in (load_run(p) for p in find_results(roots)) if r is not None]
    legend = label_configurations(runs)
    metrics = choose_metrics(runs, metric_overrides or {}) if runs else {}
    os.makedirs(out, exist_ok=True)
    digits = digits if digits is not None else (1 if percent else 3)
    written = {}
    write_csv(runs, os.path.join(out, "results.csv"))
    written["csv"] = os.path.join(out, "results.csv")
    for name, text in (("table_main.md", table_main(runs, metrics, percent, digits, legend)),
                       ("table_fewshot.md", table_fewshot(runs, metrics, percent, digits))):
        with open(os.path.join(out, name), "w") as fh:
            fh.write(text)
        written[name] = os.path.join(out, name)
    for name, fn in (("params_vs_metric.png", plot_params), ("layers_vs_metric.png", plot_layers)):
        path = os.path.join(out, name)
        if fn(runs, metrics, percent, path):
            written[name] = path
        elif os.path.exists(path):
            os.remove(path)  # stale plot of an earlier collection
    return {"runs": len(runs), "metrics": metrics, "written": written}


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        summary = collect(args.roots, args.out, args.metrics, not args.no_percent, args.digits)
    except CollectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if summary["runs"] == 0:
        print("no results.json with test metrics found under " + ", ".join(args.roots), file=sys.stderr)
        return 1
    print(f"{summary['runs']} runs; metrics: " +
          "; ".join(f"{t}: {', '.join(m)}" for t, m in summary["metrics"].items()))
    for path in summary["written"].values():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
