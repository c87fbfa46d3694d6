#!/usr/bin/env python
"""Metric vs layer for a recipe and backbone, in one command: a table (csv + markdown) and a plot.

Layer probing (seed 003 / MARBLE style, the default): every kept hidden state is extracted ONCE
into a shared feature cache (``<root>/feature_cache``: the probe caches every layer's pooled
embedding per clip, see :class:`lobes.heads.AudioClassifier`), then a probe is trained per layer
and one on the learned weighted sum of all layers — each is the recipe's own training run
(``tools/run_grid.py``, ``--layer=<k>`` / ``--layer=weighted``), so a row equals what
``train.py ... --layer=<k>`` gives, only the backbone runs once instead of once per layer:

    python tools/layer_sweep.py recipes/GTZAN/genre --root results/sweep \\
        --set backbone=mert_95m --set method=mlp --set crop_seconds=null

The weighted-sum run goes first: its ``layer_weights`` (in ``results.json``) tell how many states
there are, and it fills the cache. Training inputs are cached only when they are deterministic
(no random crop, no augmentation: set ``crop_seconds=null`` and no augmentation through ``--set``
when the recipe has them), and only a frozen backbone caches pooled layers (a probing method).
Use one ``--root`` per configuration: finished runs are skipped (resumable, as run_grid) and the
cache keys name the clips, not the backbone.

PETL depth sweep (seed 001, Fig. 3: 3/6/9/12 layers): ``--num_layers 3,6,9,12`` runs the recipe
(its method, e.g. ``--set method=lora``) with the backbone truncated to each depth, through the
override ``--num_layers_override`` (default ``encoder={num_layers: N}``).

Outputs in ``--root``: ``layer_sweep.csv`` / ``.md`` (layer, valid and test main metric, test
95 % CI, seconds), ``layer_sweep.png`` (metric vs layer; the weighted sum as a dashed line),
``layer_weights.png`` (the learned softmax weights), ``layer_sweep.json`` (rows, wall time).
``python tools/layer_sweep.py --plot_weights RUN_FOLDER`` plots the weights of any weighted run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

import run_grid  # the sibling tool (this script's folder is on sys.path)
from petl_core.cli_args import int_range, interpreter
from petl_core.entry import fail

WEIGHTED = "weighted"


class SweepError(RuntimeError):
    """A run of the sweep failed, or the weighted run gave no layers to sweep (exit status 1)."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", help="recipe folder or train script (as for run_grid)")
    p.add_argument("--hparams", default=None, help="hparams file relative to the recipe folder")
    p.add_argument("--root", default=os.path.join("results", "layer_sweep"), help="output folder")
    p.add_argument("--set", action="append", default=[], dest="sets", help="key=value for every run (repeatable)")
    p.add_argument("--layers", type=parse_layers, default=None,
                   help="layers to probe (>= 0): 'a-b' or 'a,b,c' (default: every kept state)")
    p.add_argument("--no_weighted", action="store_true", help="skip the weighted-sum probe (then give --layers)")
    p.add_argument("--num_layers", type=parse_depths, default=None,
                   help="PETL depth sweep instead: depths (>= 1) '3,6,9,12'")
    p.add_argument("--num_layers_override", default="encoder={{num_layers: {n}}}",
                   help="override that sets the depth, {n} = the depth (default: %(default)s)")
    p.add_argument("--python", type=interpreter, default=sys.executable, help="interpreter for the recipe")
    p.add_argument("--verbose", action="store_true", help="stream each run's output")
    p.add_argument("--plot_weights", metavar="RUN_FOLDER", help="only plot the layer weights of a finished run")
    args = p.parse_args(argv)
    if not args.plot_weights and not args.recipe:
        p.error("give a recipe (or --plot_weights RUN_FOLDER)")
    if args.no_weighted and not args.layers and not args.num_layers:
        p.error("--no_weighted needs --layers (the weighted run tells how many layers there are)")
    if args.plot_weights:
        if not os.path.isfile(os.path.join(args.plot_weights, run_grid.RESULTS_FILE)):
            p.error(f"--plot_weights {args.plot_weights}: no {run_grid.RESULTS_FILE} there (not a finished run)")
        return args
    key, _, template = args.num_layers_override.partition("=")
    if not key or "{n}" not in template:
        p.error(f"--num_layers_override {args.num_layers_override!r} needs the form key=...{{n}}...")
    try:
        args.set_pairs = dict(run_grid.parse_pair(s, "--set") for s in args.sets)
        run_grid.resolve_recipe(args.recipe, args.hparams)  # the recipe and its hparams exist
    except (ValueError, FileNotFoundError) as exc:
        p.error(str(exc))
    if os.path.isfile(args.root):
        p.error(f"--root {args.root} is a file, not a folder")
    return args


def parse_layers(text: str, low: int = 0) -> list[int]:
    """``'0-3'`` -> [0, 1, 2, 3]; ``'1,4'`` -> [1, 4]; every index >= ``low``, none twice (argparse type).

    >>> parse_layers("0-2,5")
    [0, 1, 2, 5]
    """
    out = []
    index = int_range(low)
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        try:
            first, last = index(first), index(last) if sep else None
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected 'a-b' or 'a,b,c' of integers >= {low}") from None
        if last is not None and last < first:
            raise argparse.ArgumentTypeError(f"{text!r}: range {part.strip()} is empty (a-b needs a <= b)")
        out += list(range(first, last + 1)) if last is not None else [first]
    if len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"{text!r} names a layer twice")
    return out


def parse_depths(text: str) -> list[int]:
    """``--num_layers``: depths >= 1 (as :func:`parse_layers`)."""
    return parse_layers(text, low=1)


def grid_args(args, axis: str, values: list, extra_sets: list[str]) -> argparse.Namespace:
    """run_grid's arguments for one axis over the recipe."""
    sets = {**args.set_pairs, **dict(run_grid.parse_pair(s, "--set") for s in extra_sets)}
    return argparse.Namespace(recipes=[args.recipe], hparams=args.hparams, axes={axis: values},
                              overrides={k: run_grid.parse_value(v) for k, v in sets.items()}, root=args.root,
                              torchrun=None, python=args.python)


def run_all(runs, verbose: bool) -> list[dict]:
    """Execute (or skip when done) every run; one timing record each. Exits on a failed run."""
    records = []
    for run in runs:
        if run.done:
            records.append({"run": run, "seconds": None})
            print(f"[done] {run.name}", flush=True)
            continue
        start = time.time()
        ok, message = run_grid.execute(run, verbose)
        print(f"[{'ok' if ok else 'FAILED'}] {run.name}: {message}", flush=True)
        if not ok:
            raise SweepError(f"run {run.name} failed ({message})")
        records.append({"run": run, "seconds": time.time() - start})
    return records


def row_of(record: dict, key: str, value) -> dict:
    with open(os.path.join(record["run"].output_folder, run_grid.RESULTS_FILE), encoding="utf-8") as f:
        res = json.load(f)
    main = res["main_metric"]
    low, high = (res.get("test_ci95") or {}).get(main, [None, None])
    return {key: value, "metric": main, "valid": res["valid"].get(main), "test": res["test"].get(main),
            "test_ci_low": low, "test_ci_high": high, "seconds": record["seconds"],
            "layer_weights": res.get("layer_weights"), "folder": record["run"].output_folder}


def write_table(rows: list[dict], key: str, root: str) -> tuple[str, str]:
    columns = [key, "metric", "valid", "test", "test_ci_low", "test_ci_high", "seconds"]
    csv_path, md_path = os.path.join(root, "layer_sweep.csv"), os.path.join(root, "layer_sweep.md")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    def cell(v):
        return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    with open(md_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return csv_path, md_path


def plot_sweep(rows: list[dict], key: str, path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in rows if r[key] != WEIGHTED]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = [r[key] for r in points]
    for split, style in (("test", "o-"), ("valid", "s--")):
        ax.plot(xs, [r[split] for r in points], style, label=split)
    if all(r["test_ci_low"] is not None for r in points):
        ax.fill_between(xs, [r["test_ci_low"] for r in points], [r["test_ci_high"] for r in points], alpha=0.2)
    for r in rows:
        if r[key] == WEIGHTED and r["test"] is not None:
            ax.axhline(r["test"], color="k", ls=":", label="weighted sum (test)")
    ax.set_xlabel("layer" if key == "layer" else "layers kept")
    ax.set_ylabel(rows[0]["metric"])
    ax.set_xticks(xs)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_weights(weights: list[float], path: str, title: str = "learned layer weights") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(len(weights)), weights)
    ax.set_xlabel("hidden state (0 = embeddings)")
    ax.set_ylabel("softmax weight")
    ax.set_title(title)
    ax.set_xticks(range(len(weights)))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sweep_layers(args) -> tuple[list[dict], str]:
    cache = os.path.abspath(os.path.join(args.root, "feature_cache"))
    sets = [f"feature_cache={cache}"]
    weighted = []
    if not args.no_weighted:
        (record,) = run_all(run_grid.build_plan(grid_args(args, "layer", [WEIGHTED], sets)), args.verbose)
        weighted = [row_of(record, "layer", WEIGHTED)]
        if not os.path.isdir(cache) or not os.listdir(cache):
            print("warning: the feature cache is empty (the backbone is not frozen, or the training inputs are "
                  "random): every layer's run will run the backbone again", file=sys.stderr)
    layers = args.layers or list(range(len(weighted[0]["layer_weights"] or [])))
    if not layers:
        raise SweepError("the weighted run wrote no layer_weights; give --layers")
    records = run_all(run_grid.build_plan(grid_args(args, "layer", layers, sets)), args.verbose)
    return [row_of(rec, "layer", k) for rec, k in zip(records, layers)] + weighted, "layer"


def sweep_depths(args) -> tuple[list[dict], str]:
    depths = args.num_layers
    key, _, template = args.num_layers_override.partition("=")
    values = [template.format(n=n) for n in depths]
    runs = run_grid.build_plan(grid_args(args, key, values, []))
    return [row_of(rec, "num_layers", n) for rec, n in zip(run_all(runs, args.verbose), depths)], "num_layers"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.plot_weights:
        with open(os.path.join(args.plot_weights, run_grid.RESULTS_FILE), encoding="utf-8") as f:
            weights = json.load(f).get("layer_weights")
        if not weights:
            return fail(f"{args.plot_weights}/results.json has no layer_weights (not a --layer=weighted run)", 2)
        print(plot_weights(weights, os.path.join(args.plot_weights, "layer_weights.png")))
        return 0
    os.makedirs(args.root, exist_ok=True)
    start = time.time()
    try:
        rows, key = sweep_depths(args) if args.num_layers else sweep_layers(args)
    except (ValueError, FileNotFoundError) as exc:
        return fail(exc, 2)
    except SweepError as exc:
        return fail(exc)
    wall = time.time() - start
    csv_path, md_path = write_table(rows, key, args.root)
    outputs = [csv_path, md_path, plot_sweep(rows, key, os.path.join(args.root, "layer_sweep.png"))]
    weighted = [r for r in rows if r[key] == WEIGHTED and r["layer_weights"]]
    if weighted:
        outputs.append(plot_weights(weighted[0]["layer_weights"], os.path.join(args.root, "layer_weights.png")))
    with open(os.path.join(args.root, "layer_sweep.json"), "w", encoding="utf-8") as f:
        json.dump({"rows": rows, "wall_seconds": wall, "recipe": args.recipe, "sets": args.sets}, f, indent=2)
    with open(md_path, encoding="utf-8") as f:
        print(f.read())
    print(f"sweep wall time {wall:.1f} s; wrote " + ", ".join(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
