#!/usr/bin/env python
"""Collect the ``results.json`` of training runs into CSV, Markdown tables and plots.

    python tools/collect_results.py results/grid [more roots...] --out results/tables

Reads every ``results.json`` below the roots with :func:`petl_core.results.read_runs` (one
``pandas.DataFrame`` row per run; every key optional except ``test``); the tables are pandas
group-bys (mean, sample std, count) pivoted to rows × columns. Writes to the folder ``--out``
(created; an existing *file* there is an error):

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
Values in [0, 1] are shown in percent (``--no_percent``: as is; the old spelling ``--no-percent`` still
works, with a deprecation line). ``--digits`` is 0 to 10; a value outside is refused before anything is read.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys

import numpy as np
import pandas as pd

from petl_core.cli_args import add_option, int_range
from petl_core.entry import fail
from petl_core.results import RUN_COLUMNS, read_runs

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
COUNTS = {"trainable": "trainable_params", "total": "total_params", "head": "head_params"}
CSV_COLUMNS = ["task", "backbone", "method", "seed", "few_shot_k", "num_layers", "trainable", "total", "head",
               "seconds_per_epoch", "backbone_config", "method_config", "path"]


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def reported_metrics(runs: pd.DataFrame) -> list[str]:
    """The test metrics some of ``runs`` report (columns ``test_<metric>`` with a value)."""
    return [c[5:] for c in runs.columns if c.startswith("test_") and not c.startswith("test_ci_")
            and runs[c].notna().any()]


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
    collisions = pd.Series(labels).pipe(lambda s: s[s.duplicated(keep=False)])
    for label, keys_ in collisions.groupby(collisions).groups.items():  # truncated labels that collide: numbered
        for i, key in enumerate(sorted(keys_), 1):
            labels[key] = f"{label[:-1]} #{i})"
    return labels


def label_configurations(runs: pd.DataFrame) -> dict[str, str]:
    """Replace each run's ``backbone``/``method`` name by its configuration label (the names stay in
    ``backbone_name``/``method_name``); returns ``{label: configuration JSON}`` of the labels that
    differ from their name."""
    legend = {}
    for field in ("backbone", "method"):
        canonical = runs[f"{field}_config"].map(_canonical)
        labels = {name: config_labels(name, list(group)) for name, group in runs.groupby(field)[f"{field}_config"]}
        runs[f"{field}_name"] = runs[field]
        runs[field] = [labels[name][key] for name, key in zip(runs[field], canonical)]
        renamed = runs[field] != runs[f"{field}_name"]
        legend.update(dict(zip(runs.loc[renamed, field], canonical[renamed])))
    return legend


# --------------------------------------------------------------------------------------- metrics
def default_metrics(keys) -> list[str]:
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


def choose_metrics(runs: pd.DataFrame, overrides: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per task: ``--metric``, else the runs' declared ``main_metric`` (the most frequent one that the
    runs report; mAP with ROC-AUC beside it, frame metrics with their companions), else
    :func:`default_metrics`."""
    keys = {task: set(reported_metrics(group)) for task, group in runs.groupby("task")}
    for task, names in overrides.items():
        if task not in keys:
            raise CollectError(f"--metric {task}=...: no runs of task {task!r}; "
                               f"tasks: {', '.join(sorted(keys)) or 'none'}")
        unknown = [n for n in names if n not in keys[task]]
        if unknown:
            raise CollectError(f"--metric {task}={','.join(names)}: unknown metric(s) {', '.join(unknown)}; "
                               f"{task} runs report: {', '.join(sorted(keys[task]))}")
    def reports_main(run) -> bool:
        return isinstance(run["main_metric"], str) and pd.notna(run.get(f"test_{run['main_metric']}"))

    reported = runs.apply(reports_main, axis=1) if len(runs) else pd.Series(dtype=bool)
    declared = runs[reported].groupby("task")["main_metric"].agg(lambda s: s.value_counts().index[0])
    chosen = {}
    for task, k in sorted(keys.items()):
        if overrides.get(task):
            chosen[task] = overrides[task]
        elif task in declared:
            main = declared[task]
            extra = [m for m in default_metrics(k) if m != main] if norm(main) in ("map", "rocauc") else []
            chosen[task] = [main] + extra + [m for m in COMPANIONS.get(main, []) if m in k]
        else:
            chosen[task] = default_metrics(k)
    return chosen


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric.lower(), METRIC_LABELS.get(norm(metric), metric))


def column_header(task: str, metric: str) -> str:
    return f"{task} ({metric_label(metric)})"


def order_key(order: list[str]):
    """Sort key: position of the (base) name in ``order``, then the label."""
    def key(label: str):
        name = str(label).split(" (")[0]
        return (order.index(name) if name in order else len(order), str(label))
    return key


# ------------------------------------------------------------------------------------- aggregate
def main_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Runs of the main tables: no few-shot, each backbone at its most frequent depth (runs that do
    not say their depth are kept: they ran the default configuration)."""
    full = runs[runs["few_shot_k"].isna()]
    notes, keep = [], pd.Series(True, index=full.index)
    for backbone, depths in full.dropna(subset=["num_layers"]).groupby("backbone")["num_layers"]:
        counts = depths.value_counts()
        if len(counts) > 1:
            chosen = max(counts.index, key=lambda n: (counts[n], n))
            others = ", ".join(sorted(str(n) for n in counts.index if n != chosen))
            notes.append(f"{backbone}: runs with num_layers={chosen}; other depths ({others}) are in "
                         "layers_vs_metric.png")
            keep &= (full["backbone"] != backbone) | full["num_layers"].isna() | (full["num_layers"] == chosen)
    return full[keep], notes


def long_metrics(runs: pd.DataFrame, metrics: dict[str, list[str]], percent: bool) -> pd.DataFrame:
    """One row per (run, shown metric): the run's columns plus ``column`` (the table header, e.g.
    ``ESC50 (Acc)``), ``metric`` (its label, ``Acc``) and ``value``, in percent when ``percent`` and
    every value of the column is in [0, 1]."""
    parts = []
    for task, names in metrics.items():
        for metric in names:
            sel = runs[(runs["task"] == task) & runs.get(f"test_{metric}", pd.Series(dtype=float)).notna()]
            if len(sel):
                values = sel[f"test_{metric}"].astype(float)
                scale = 100.0 if percent and values.between(0.0, 1.0).all() else 1.0
                parts.append(sel.assign(column=column_header(task, metric), metric=metric_label(metric),
                                        value=values * scale))
    return pd.concat(parts) if parts else runs.iloc[:0].assign(column=[], metric=[], value=[])


def mean_std_table(long: pd.DataFrame, index: list[str], column: str, digits: int) -> pd.DataFrame:
    """Rows ``index``, one column per value of ``column``: ``mean ± sample std`` of ``value`` (no ± for
    one run), the best mean of each column in **bold** when the column has several rows; ``-`` if empty."""
    stats = long.groupby(index + [column])["value"].agg(["mean", "std"])
    by_column = stats.groupby(level=column)["mean"]
    best = np.isclose(stats["mean"], by_column.transform("max"), rtol=1e-12, atol=1e-12) & \
        (by_column.transform("size") > 1)
    text = stats["mean"].map(lambda m: f"{m:.{digits}f}") + \
        stats["std"].map(lambda s: "" if pd.isna(s) else f" ± {s:.{digits}f}")
    text = text.where(~best, "**" + text + "**")
    return text.unstack(column).fillna("-")


def markdown(table: pd.DataFrame, align: list[str]) -> str:
    """A Markdown table of ``table``, its index first (pandas' ``to_markdown`` needs tabulate)."""
    flat = table.reset_index()
    lines = ["| " + " | ".join(map(str, flat.columns)) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in flat.itertuples(index=False)]
    return "\n".join(lines)


def human(n) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def params_text(values: pd.Series) -> str:
    values = sorted(values.dropna().unique())
    if not values:
        return "-"
    return human(values[0]) if len(values) == 1 else f"{human(values[0])}–{human(values[-1])}"


def table_main(runs: pd.DataFrame, metrics: dict, percent: bool, digits: int, legend: dict | None = None) -> str:
    """The main tables; ``legend`` (:func:`label_configurations`) is listed under them."""
    kept, notes = main_runs(runs)
    out = ["# Main results", ""]
    long = long_metrics(kept, metrics, percent)
    if long.empty:
        return "\n".join(out + ["No full-data runs found.", ""])
    columns = list(dict.fromkeys(long["column"]))
    seeds = "/".join(map(str, sorted(long.groupby(["task", "backbone", "method"])["path"].nunique().unique())))
    out += [f"Mean over seeds (± sample std when several; {seeds} run(s) per cell), test set, "
            f"{'percent' if percent else 'raw values'}; best per column in bold.", ""]
    out += [f"- {n}" for n in notes] + ([""] if notes else [])
    # (a) method × backbone
    table = mean_std_table(long, ["method", "backbone"], "column", digits)[columns]
    table = table.sort_index(key=lambda level: level.map(order_key(METHOD_ORDER if level.name == "method"
                                                                    else BACKBONE_ORDER)))
    table.index.names = ["Method", "Backbone"]
    out += ["## Methods × backbones (seed 001, Table 2 layout)", "",
            markdown(table, ["---", "---"] + ["---:"] * len(columns)), ""]
    # (b) one table per backbone with trainable parameters
    out += ["## Per backbone, with trainable parameters (seed 002, Tables I/II layout)", ""]
    for backbone in sorted(long["backbone"].unique(), key=order_key(BACKBONE_ORDER)):
        sel = long[long["backbone"] == backbone]
        table = mean_std_table(sel, ["method"], "column", digits)
        table = table[[c for c in columns if c in table.columns]]
        table.insert(0, "Trainable params", kept[kept["backbone"] == backbone].groupby("method")["trainable"]
                     .agg(params_text))
        table = table.sort_index(key=lambda level: level.map(order_key(METHOD_ORDER)))
        table.index.name = "Method"
        out += [f"### {backbone}", "", markdown(table, ["---", "---:"] + ["---:"] * (table.shape[1] - 1)), ""]
    if legend:
        out += ["## Configurations", "", "Names run with several configurations, labelled by what differs:", ""]
        out += [f"- `{label}`: `{config}`" for label, config in sorted(legend.items())] + [""]
    return "\n".join(out)


def table_fewshot(runs: pd.DataFrame, metrics: dict, percent: bool, digits: int) -> str:
    few = runs[runs["few_shot_k"].notna()]
    out = ["# Few-shot results", ""]
    if few.empty:
        return "\n".join(out + ["No few-shot runs found (config.few_shot_k).", ""])
    out += ["Test metric, mean ± sample std over seeds; columns: k examples per class; best per column in bold.",
            ""]
    long = long_metrics(few, metrics, percent).assign(k=lambda d: "k=" + d["few_shot_k"].astype(str))
    for (task, backbone, _, metric), sel in sorted(long.groupby(["task", "backbone", "column", "metric"]),
                                                key=lambda g: (g[0][0], order_key(BACKBONE_ORDER)(g[0][1]))):
        table = mean_std_table(sel, ["method"], "k", digits)
        table = table[sorted(table.columns, key=lambda c: int(c[2:]))]
        table = table.sort_index(key=lambda level: level.map(order_key(METHOD_ORDER)))
        table.index.name = "Method"
        out += [f"## {task}, {backbone} ({metric})", "", markdown(table, ["---"] + ["---:"] * table.shape[1]), ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------- plots
def _panels(runs: pd.DataFrame, metrics: dict, percent: bool) -> list[tuple[str, str, pd.DataFrame]]:
    """``(task, y label, long rows)`` per task that has runs: its first metric, scaled as in the tables."""
    first = {task: names[:1] for task, names in metrics.items()}
    long = long_metrics(runs, first, percent)
    panels = []
    for task, names in first.items():
        sel = long[long["task"] == task]
        if len(sel):
            percent_scale = bool(percent) and sel[f"test_{names[0]}"].between(0.0, 1.0).all()
            panels.append((task, metric_label(names[0]) + (" (%)" if percent_scale else ""), sel))
    return panels


def _figure(n: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4), squeeze=False)
    return plt, fig, axes[0]


def plot_params(runs: pd.DataFrame, metrics: dict, percent: bool, path: str) -> bool:
    """Metric vs trainable parameters (head excluded), one panel per task. The x axis is symlog
    (linear below 1), so methods that train no backbone parameter (linear/MLP probes) sit at 0;
    the points of one method name on one backbone are joined (e.g. a rank sweep)."""
    panels = _panels(runs[runs["few_shot_k"].isna() & runs["trainable"].notna()], metrics, percent)
    if not panels:
        return False
    plt, fig, axes = _figure(len(panels))
    for ax, (task, ylabel, sel) in zip(axes, panels):
        means = sel.groupby(["backbone", "method_name", "method", "trainable"])["value"].mean().reset_index()
        backbones = sorted(means["backbone"].unique(), key=order_key(BACKBONE_ORDER))
        labels = []
        for b, backbone in enumerate(backbones):
            of_backbone = means[means["backbone"] == backbone]
            for method in sorted(of_backbone["method_name"].unique(), key=order_key(METHOD_ORDER)):
                pts = of_backbone[of_backbone["method_name"] == method].sort_values(["trainable", "value"])
                xs, ys = pts["trainable"].astype(float).tolist(), pts["value"].tolist()
                line = ax.plot(xs, ys, marker="os^Dv<>p"[b % 8], linestyle="-" if len(pts) > 1 else "none")[0]
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
        ax.set(xlabel="trainable parameters (head excluded; symlog, 0 = probe)", ylabel=ylabel, title=task)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def plot_layers(runs: pd.DataFrame, metrics: dict, percent: bool, path: str) -> bool:
    """Metric vs number of layers, one panel per task run at several depths (seed 001 Fig. 3)."""
    full = runs[runs["few_shot_k"].isna() & runs["num_layers"].notna()]
    depths = full.groupby(["task", "backbone", "method"])["num_layers"].nunique()
    swept = sorted(depths[depths > 1].index.get_level_values("task").unique())
    panels = _panels(full[full["task"].isin(swept)], metrics, percent)
    if not panels:
        return False
    plt, fig, axes = _figure(len(panels))
    for ax, (task, ylabel, sel) in zip(axes, panels):
        means = sel.groupby(["backbone", "method", "num_layers"])["value"].mean()
        for (backbone, method), curve in sorted(means.groupby(level=["backbone", "method"]),
                                                key=lambda g: (order_key(BACKBONE_ORDER)(g[0][0]),
                                                               order_key(METHOD_ORDER)(g[0][1]))):
            if len(curve) > 1:
                ax.plot(curve.index.get_level_values("num_layers").astype(float), curve.values, marker="o",
                        label=f"{method} ({backbone})")
        ax.set(xlabel="number of layers", ylabel=ylabel, title=task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------------------ csv
def write_csv(runs: pd.DataFrame, path: str) -> None:
    """``results.csv``: one row per run, the configurations as JSON, every metric (empty where absent)."""
    table = runs.assign(backbone_config=runs["backbone_config"].map(lambda c: _canonical(c) if c else ""),
                        method_config=runs["method_config"].map(lambda c: _canonical(c) if c else ""))
    order = table.apply(lambda r: (r["task"], order_key(BACKBONE_ORDER)(r["backbone"]),
                                   order_key(METHOD_ORDER)(r["method"]), str(r["few_shot_k"]), str(r["num_layers"]),
                                   str(r["seed"])), axis=1) if len(table) else pd.Series(dtype=object)
    table = table.loc[sorted(table.index, key=lambda i: order[i])]
    table = table[CSV_COLUMNS + [c for c in runs.columns if c not in RUN_COLUMNS]]
    table.rename(columns=COUNTS).to_csv(path, index=False)


# ----------------------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="folders searched recursively for results.json (or files)")
    p.add_argument("--out", required=True, help="output folder (created; not an existing file)")
    p.add_argument("--metric", action="append", default=[], help="TASK=metric[,metric]: metric(s) of a task")
    add_option(p, "--no_percent", old="--no-percent", action="store_true", help="show metrics in [0, 1] as they are")
    p.add_argument("--digits", type=int_range(0, 10), default=None,
                   help="decimals, 0 to 10 (default 1 in percent, 3 otherwise)")
    args = p.parse_args(argv)
    args.metrics = {}
    for item in args.metric:
        task, sep, names = item.partition("=")
        if not sep or not task or not names:
            p.error(f"--metric must look like TASK=metric[,metric], got {item!r}")
        args.metrics[task] = [n.strip() for n in names.split(",") if n.strip()]
    return args


def collect(roots, out, metric_overrides=None, percent=True, digits=None) -> dict:
    """Read the runs below ``roots`` and write the CSV, tables and plots into the folder ``out``."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise CollectError(f"--out {out}: is a file, not a folder; give a folder for results.csv and the tables")
    runs = read_runs(roots)
    legend = label_configurations(runs)
    metrics = choose_metrics(runs, metric_overrides or {}) if len(runs) else {}
    os.makedirs(out, exist_ok=True)
    digits = digits if digits is not None else (1 if percent else 3)
    written = {"csv": os.path.join(out, "results.csv")}
    write_csv(runs, written["csv"])
    for name, text in (("table_main.md", table_main(runs, metrics, percent, digits, legend)),
                       ("table_fewshot.md", table_fewshot(runs, metrics, percent, digits))):
        with open(os.path.join(out, name), "w", encoding="utf-8") as fh:
            fh.write(text)
        written[name] = os.path.join(out, name)
    for name, plot in (("params_vs_metric.png", plot_params), ("layers_vs_metric.png", plot_layers)):
        path = os.path.join(out, name)
        if plot(runs, metrics, percent, path):
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
        return fail(exc, 2)
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
