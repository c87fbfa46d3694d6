#!/usr/bin/env python
"""Run a grid of recipe trainings: recipes × the product of override axes (backbone, method, seed, ...).

Each run is ``python <recipe>/train.py <hparams> --<key>=<value>... --output_folder=<root>/<recipe>/<run>``
where the keys are the axis names and ``--set`` pairs, so the tool knows nothing about recipe keys:

    python tools/run_grid.py --recipe recipes/SynthMusic/key --recipe recipes/SynthMusic/tempo \
        --axis backbone=tiny_ast,tiny_mert --axis method=lora,adapter --axis seed=1,2,3 \
        --set number_of_epochs=2 --root results/grid

or the same from a yaml file (command-line flags add to / override it):

    recipes: [recipes/SynthMusic/key, recipes/SynthMusic/tempo]
    hparams: hparams/train.yaml          # relative to each recipe folder (optional)
    axes: {backbone: [tiny_ast, tiny_mert], method: [lora, adapter], seed: [1, 2, 3]}
    set: {number_of_epochs: 2}
    root: results/grid

A recipe is a folder holding ``train.py`` (its ``hparams/train.yaml`` or ``hparams/default.yaml`` is
passed when it exists) or a script path, optionally ``script.py:hparams.yaml``. Scaling curves are
more axes, named like the recipe's own overrides (``--axis few_shot_k=1,5``,
``--axis "encoder={num_layers: 2},{num_layers: 4}"`` merges into the backbone piece,
``--axis "petl={options: {rank: 2}},{options: {rank: 8}}"`` into the method's options).
``backbone``/``method`` values are piece names: the file names in ``recipes/hparams_common/backbones/``
(``ast_audioset``, ``mert_95m``, ``musicfm_msd``, ``tiny_ast``...) and ``recipes/hparams_common/methods/``
(``lora``, ``adapter``, ``prompt``, ``ft``...).

Resumable: a run whose ``results.json`` exists is skipped. The plan is printed first; ``--dry_run``
checks every recipe and hparams file, prints the commands and runs nothing. Runs go one after another
(``--torchrun N`` launches each with ``torchrun --nproc_per_node=N``); each run's output goes to
``<output_folder>/run_grid.log``. A failing run (non-zero exit or no results.json) is reported and the
grid goes on; the exit status is 1 if any run failed, 2 (one ``error:`` line, nothing run) for bad
arguments, a malformed grid file or a recipe that does not exist.
"""
from __future__ import annotations

import argparse
import itertools
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field

from petl_core.cli_args import add_option, int_range, interpreter
from petl_core.entry import fail

RESULTS_FILE = "results.json"
LOG_FILE = "run_grid.log"
#: hparams files looked for in ``<recipe>/hparams/`` when none is given
DEFAULT_HPARAMS = ("train.yaml", "default.yaml")


@dataclass
class Run:
    recipe: str
    name: str
    output_folder: str
    overrides: dict = field(default_factory=dict)
    command: list = field(default_factory=list)

    @property
    def done(self) -> bool:
        return os.path.exists(os.path.join(self.output_folder, RESULTS_FILE))


# ------------------------------------------------------------------------------------- parsing
def parse_value(text: str):
    """``'3'`` -> 3, ``'0.5'`` -> 0.5, ``'true'`` -> True, else the string."""
    if not isinstance(text, str):
        return text
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_pair(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip().lstrip("-")
    if not sep or not key:
        raise ValueError(f"{what} must look like key=value, got {text!r}")
    return key, value.strip()


def parse_axis(text: str) -> tuple[str, list]:
    key, values = parse_pair(text, "--axis")
    items = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
    if not items:
        raise ValueError(f"--axis {key} has no values")
    return key, items


def format_value(value) -> str:
    if isinstance(value, bool):
        return str(value)  # SpeechBrain / hyperpyyaml read True/False
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


GRID_KEYS = ("recipes", "axes", "set", "root", "hparams", "torchrun", "python")


def load_grid_file(path: str) -> dict:
    """The grid yaml, checked: ``ValueError`` naming the file and the key for anything malformed."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            grid = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise ValueError(f"{path}:{line} not valid yaml ({getattr(exc, 'problem', None) or exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the grid file ({exc})") from None
    if not isinstance(grid, dict):
        raise ValueError(f"{path}: a grid file must be a mapping ({', '.join(GRID_KEYS)})")
    unknown = set(grid) - set(GRID_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                         f"valid: {', '.join(GRID_KEYS)}")
    recipes = grid.get("recipes") or []
    recipes = [recipes] if isinstance(recipes, str) else recipes
    if not isinstance(recipes, list) or not all(isinstance(r, str) for r in recipes):
        raise ValueError(f"{path}: recipes must be a list of recipe folders or scripts, got {grid['recipes']!r}")
    grid["recipes"] = recipes
    axes = grid.get("axes") or {}
    if not isinstance(axes, dict):
        raise ValueError(f"{path}: axes must be a mapping key -> list of values, got {axes!r}")
    grid["axes"] = {str(k): (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in axes.items()}
    empty = [k for k, v in grid["axes"].items() if not v]
    if empty:
        raise ValueError(f"{path}: axis {empty[0]} has no values")
    sets = grid.get("set") or {}
    if not isinstance(sets, dict):
        raise ValueError(f"{path}: set must be a mapping key -> value, got {sets!r}")
    grid["set"] = {str(k): v for k, v in sets.items()}
    for key in ("root", "hparams", "python"):
        if grid.get(key) is not None and not isinstance(grid[key], str):
            raise ValueError(f"{path}: {key} must be a path, got {grid[key]!r}")
    torchrun = grid.get("torchrun")
    if torchrun is not None and (isinstance(torchrun, bool) or not isinstance(torchrun, int) or torchrun < 1):
        raise ValueError(f"{path}: torchrun must be a number of processes >= 1, got {torchrun!r}")
    return grid


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("grid", nargs="?", help="yaml grid file (optional)")
    p.add_argument("--recipe", action="append", default=[], help="recipe folder or train script (repeatable; "
                   "comma-separated lists are accepted)")
    p.add_argument("--hparams", default=None, help="hparams file relative to each recipe folder "
                   "(default: hparams/train.yaml or hparams/default.yaml when it exists)")
    p.add_argument("--axis", action="append", default=[], help="key=v1,v2,... (repeatable)")
    p.add_argument("--set", action="append", default=[], dest="sets", help="key=value for every run (repeatable)")
    p.add_argument("--root", default=None, help="output root (default: results/grid)")
    add_option(p, "--dry_run", old="--dry-run", action="store_true",
               help="check the recipes, print the plan and commands, run nothing")
    p.add_argument("--torchrun", type=int_range(1), default=None, help="launch each run with torchrun "
                   "--nproc_per_node=N (N >= 1)")
    p.add_argument("--python", type=interpreter, default=None, help="interpreter for the recipes (default: this one)")
    p.add_argument("--verbose", action="store_true", help="stream each run's output instead of logging it")
    args = p.parse_args(argv)
    try:
        grid = load_grid_file(args.grid) if args.grid else {"recipes": [], "axes": {}, "set": {}}
        recipes = list(grid["recipes"])
        for item in args.recipe:
            recipes += [r.strip() for r in item.split(",") if r.strip()]
        axes = dict(grid["axes"])
        for item in args.axis:
            key, values = parse_axis(item)
            axes[key] = values
        sets = dict(grid["set"])
        for item in args.sets:
            key, value = parse_pair(item, "--set")
            sets[key] = parse_value(value)
    except (ValueError, OSError) as exc:
        p.error(str(exc))
    if not recipes:
        p.error("no recipe: give --recipe or a grid file with recipes")
    overlap = sorted(set(axes) & set(sets))
    if overlap:
        p.error(f"{', '.join(overlap)} given both as --axis and --set")
    if "output_folder" in axes or "output_folder" in sets:
        p.error("output_folder is set by the grid (use --root)")
    args.recipes, args.axes, args.overrides = recipes, axes, sets
    args.root = args.root or grid.get("root") or os.path.join("results", "grid")
    args.hparams = args.hparams if args.hparams is not None else grid.get("hparams")
    args.torchrun = args.torchrun if args.torchrun is not None else grid.get("torchrun")
    args.python = args.python or grid.get("python") or sys.executable
    if os.path.isfile(args.root):
        p.error(f"--root {args.root} is a file, not a folder")
    try:
        interpreter(args.python)  # also the grid file's
    except argparse.ArgumentTypeError as exc:
        p.error(f"python: {exc}")
    return args


# ---------------------------------------------------------------------------------------- plan
def resolve_recipe(recipe: str, hparams: str | None) -> tuple[str, str | None, str]:
    """``(script, hparams file or None, short name)`` of a recipe folder or script."""
    script, _, explicit = recipe.partition(":")
    if os.path.isdir(script):
        folder, script = script, os.path.join(script, "train.py")
    else:
        folder = os.path.dirname(script) or "."
    if not os.path.isfile(script):
        raise FileNotFoundError(f"recipe {recipe}: {script} not found (give a recipe folder holding train.py, "
                                "or a script)")
    hp = explicit or hparams
    if hp:
        hp_path = hp if os.path.isabs(hp) or os.path.exists(hp) else os.path.join(folder, hp)
        if not os.path.exists(hp_path):
            raise FileNotFoundError(f"hparams file {hp_path} not found for recipe {recipe}")
    else:
        candidates = [os.path.join(folder, "hparams", n) for n in DEFAULT_HPARAMS]
        hp_path = next((c for c in candidates if os.path.exists(c)), None)
    name = recipe_name(folder)
    if hp_path and os.path.basename(hp_path) not in DEFAULT_HPARAMS:  # one recipe, several hparams files
        name += "-" + os.path.splitext(os.path.basename(hp_path))[0]
    return script, hp_path, name


def recipe_name(folder: str) -> str:
    """``recipes/SynthMusic/key`` -> ``SynthMusic-key`` (the last two folders)."""
    parts = [p for p in os.path.normpath(os.path.abspath(folder)).split(os.sep) if p]
    if parts and parts[-1] == "hparams":
        parts = parts[:-1]
    return "-".join(parts[-2:]) if len(parts) >= 2 else (parts[-1] if parts else "recipe")


def slug(value) -> str:
    text = format_value(value)
    text = os.path.basename(text.rstrip("/")) if "/" in text else text
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "x"


def build_plan(args) -> list[Run]:
    runs = []
    keys = list(args.axes)
    for recipe in args.recipes:
        script, hp_path, rname = resolve_recipe(recipe, args.hparams)
        for combo in itertools.product(*(args.axes[k] for k in keys)):
            axis_values = dict(zip(keys, combo))
            name = "_".join(f"{k}-{slug(v)}" for k, v in axis_values.items()) or "run"
            output_folder = os.path.join(args.root, rname, name)
            overrides = {**args.overrides, **axis_values, "output_folder": output_folder}
            if args.torchrun:
                launcher = [args.python, "-m", "torch.distributed.run", f"--nproc_per_node={args.torchrun}"]
            else:
                launcher = [args.python]
            command = launcher + [script] + ([hp_path] if hp_path else [])
            command += [f"--{k}={format_value(v)}" for k, v in overrides.items()]
            runs.append(Run(recipe=rname, name=name, output_folder=output_folder, overrides=overrides,
                            command=command))
    names = [r.output_folder for r in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"two runs would share an output folder: {duplicates[0]} (axis values differing only "
                         "in characters not allowed in folder names?)")
    return runs


def print_plan(runs: list[Run], dry_run: bool, out=None) -> None:
    out = out or sys.stdout
    todo = [r for r in runs if not r.done]
    print(f"grid: {len(runs)} runs, {len(runs) - len(todo)} already done (results.json exists), "
          f"{len(todo)} to run", file=out)
    for r in runs:
        status = "done" if r.done else "todo"
        print(f"  [{status}] {r.recipe}/{r.name}", file=out)
        if dry_run and not r.done:
            print(f"         {shlex.join(r.command)}", file=out)


# ------------------------------------------------------------------------------------- execute
def execute(run: Run, verbose: bool) -> tuple[bool, str]:
    """Run one training; ``(ok, message)``."""
    os.makedirs(run.output_folder, exist_ok=True)
    log_path = os.path.join(run.output_folder, LOG_FILE)
    start = time.time()
    try:
        if verbose:
            proc = subprocess.run(run.command)
        else:
            with open(log_path, "w") as log:
                log.write("$ " + shlex.join(run.command) + "\n")
                log.flush()
                proc = subprocess.run(run.command, stdout=log, stderr=subprocess.STDOUT)
    except OSError as exc:
        return False, f"cannot start: {exc}"
    elapsed = time.time() - start
    if proc.returncode != 0:
        return False, f"exit status {proc.returncode} after {elapsed:.0f} s{tail(log_path, verbose)}"
    if not run.done:
        return False, f"finished without writing {RESULTS_FILE} ({elapsed:.0f} s){tail(log_path, verbose)}"
    return True, f"{elapsed:.0f} s"


def tail(path: str, verbose: bool, lines: int = 5) -> str:
    if verbose or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as fh:
        last = fh.read().strip().splitlines()[-lines:]
    return "".join(f"\n      | {line}" for line in last) + f"\n      (log: {path})"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = build_plan(args)
    except (ValueError, FileNotFoundError) as exc:
        return fail(exc, 2)
    print_plan(runs, args.dry_run)
    if args.dry_run:
        return 0
    todo = [r for r in runs if not r.done]
    failed = []
    try:
        from tqdm import tqdm
        bar = tqdm(todo, desc="grid", unit="run", file=sys.stderr)
    except ImportError:  # pragma: no cover
        bar = todo
    for run in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(f"{run.recipe}/{run.name}")
        ok, message = execute(run, args.verbose)
        status = "ok" if ok else "FAILED"
        print(f"[{status}] {run.recipe}/{run.name}: {message}", file=sys.stderr if not ok else sys.stdout,
              flush=True)
        if not ok:
            failed.append(run)
    if hasattr(bar, "close"):
        bar.close()
    print(f"grid finished: {len(todo) - len(failed)} ran, {len(runs) - len(todo)} skipped, {len(failed)} failed")
    for run in failed:
        print(f"  failed: {run.recipe}/{run.name}  ({os.path.join(run.output_folder, LOG_FILE)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
