#!/usr/bin/env python3
"""Few-shot runs over S seeds: mean ± std of the test metrics.

Runs the recipe's ``train.py`` once per seed as a subprocess, with ``--few_shot_k=K
--few_shot_seed=S --output_folder=<out>/k<K>_s<S>`` (plus any extra overrides), then reads every
run's ``results.json`` and writes ``<out>/few_shot_k<K>.json`` with per-seed and mean/std figures.

    python tools/few_shot.py recipes/SynthMusic/key/train.py recipes/SynthMusic/key/hparams/default.yaml \
        --k 8 --seeds 0 1 2 --out results/key_few_shot -- --number_of_epochs=5

Everything after ``--`` is passed to every run, except the options the tool sets itself
(``--output_folder``, ``--few_shot_k``, ``--few_shot_seed``, ``--results_file``: refused, use
``--out``/``--k``/``--seeds``). A run that fails is reported and the summary covers the others (exit
code 1 if any failed); bad arguments: one ``error:`` line, exit code 2, nothing run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

from petl_core.cli_args import int_range
from petl_core.results import load_results, write_results

#: recipe overrides the tool sets for each run (given after ``--`` they would be ignored or misplace results)
OWN_OVERRIDES = {"output_folder": "--out", "few_shot_k": "--k", "few_shot_seed": "--seeds",
                 "results_file": "nothing (the tool reads <run>/results.json)"}


def summarise(runs: dict[int, dict]) -> dict:
    """{metric: {"mean", "std", "n"}} over the runs' test metrics (std with ddof=1 when n > 1)."""
    names = sorted({m for r in runs.values() for m in r["test"]})
    out = {}
    for name in names:
        values = np.array([r["test"][name] for r in runs.values() if r["test"].get(name) is not None], dtype=float)
        if len(values):
            out[name] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                         "n": int(len(values))}
    return out


def parse_args(argv: list[str], extra: list[str]) -> argparse.Namespace:
    """The tool's arguments (before ``--``); ``extra``: the overrides after it, checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train_py", help="the recipe's train.py")
    parser.add_argument("hparams", help="its hparams yaml")
    parser.add_argument("--k", type=int_range(1), required=True, help="examples per class (>= 1)")
    parser.add_argument("--seeds", type=int_range(0), nargs="+", default=[0, 1, 2], help="few-shot seeds (>= 0)")
    parser.add_argument("--out", required=True, help="folder for the runs and the summary")
    args = parser.parse_args(argv)
    for path in (args.train_py, args.hparams):
        if not os.path.isfile(path):
            parser.error(f"{path}: file not found")
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds: {args.seeds} repeats a seed (each seed is one run)")
    for token in extra:
        key = token[2:].partition("=")[0] if token.startswith("--") else None
        if key in OWN_OVERRIDES:
            parser.error(f"{token} after --: the tool sets {key} itself for each run; use {OWN_OVERRIDES[key]}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"--out {args.out} is a file, not a folder")
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    args = parse_args(argv, extra)
    runs, failed = {}, []
    for seed in args.seeds:
        folder = os.path.join(args.out, f"k{args.k}_s{seed}")
        cmd = [sys.executable, args.train_py, args.hparams, f"--output_folder={folder}", f"--few_shot_k={args.k}",
               f"--few_shot_seed={seed}", *extra]
        print(f"[few_shot] k={args.k} seed={seed}: {' '.join(cmd)}", flush=True)
        proc = subprocess.run(cmd)
        if proc.returncode != 0 or not os.path.exists(os.path.join(folder, "results.json")):
            failed.append(seed)
            why = f"exit {proc.returncode}" if proc.returncode else f"exit 0 but no results.json in {folder}"
            print(f"[few_shot] seed {seed} FAILED ({why})", file=sys.stderr)
            continue
        runs[seed] = load_results(folder)
    summary = {"k": args.k, "seeds": args.seeds, "failed_seeds": failed, "test": summarise(runs),
               "runs": {str(s): {"test": r["test"], "valid": r["valid"]} for s, r in runs.items()}}
    # write_results requires test/valid; "valid" holds the mean of the runs' validation figures
    summary["valid"] = summarise({s: {"test": r["valid"]} for s, r in runs.items()})
    path = write_results(args.out, summary, name=f"few_shot_k{args.k}.json")
    for name, v in summary["test"].items():
        print(f"[few_shot] k={args.k} test {name}: {v['mean']:.4f} ± {v['std']:.4f} (n={v['n']})")
    print(f"[few_shot] summary: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
