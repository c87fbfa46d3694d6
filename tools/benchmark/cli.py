"""``python -m tools.benchmark <measurement> [options]`` (also ``python tools/benchmark.py``).

Measurements: ``methods`` (the default when none is named: every PETL method vs FT and the plain
backbone), ``peers`` (the toolkit vs transformers + peft), ``checkpointing`` (activation
checkpointing: memory and time with vs without). ``--help`` after a measurement lists its options.
Options use underscores (``--num_layers``); the old dash spellings (``--num-layers``) still work, with
a deprecation line. Every number is range-checked when the options are parsed: a bad option ends in
one ``error:`` line and exit status 2, before anything is built.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

import torch

from petl_core.cli_args import device, int_range
from petl_core.entry import fail
from tools.benchmark.common import BenchmarkError

MEASUREMENTS = {
    "methods": "tools.benchmark.methods",
    "peers": "tools.benchmark.peers",
    "checkpointing": "tools.benchmark.checkpointing",
}


def parse_args(argv=None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0)
    if not argv or argv[0] not in MEASUREMENTS:
        argv = ["methods", *argv]  # the original single measurement
    measurement, rest = argv[0], argv[1:]
    module = importlib.import_module(MEASUREMENTS[measurement])
    p = argparse.ArgumentParser(prog=f"python -m tools.benchmark {measurement}",
                                description=module.__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu",
                   choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast")
    p.add_argument("--threads", type=int_range(1), default=None, help="torch.set_num_threads (1 on a shared CPU)")
    p.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                   help="timings in elapsed time, or in CPU time of the process (CPU only: on a shared machine "
                        "with --threads 1, not inflated by the other jobs)")
    p.add_argument("--seed", type=int_range(0), default=0)
    p.add_argument("--_worker", dest="worker", default=None, help=argparse.SUPPRESS)
    module.add_arguments(p)
    args = p.parse_args(rest)
    args.measurement, args.module, args.worker_argv = measurement, module, worker_argv(p, args)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise BenchmarkError(f"--out {args.out} is a file: give a folder (it is created if missing)")
    if args.clock == "cpu" and args.device == "cuda":
        raise BenchmarkError("--clock cpu measures CPU work: use the wall clock with --device cuda")
    return args


def worker_argv(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The parsed options, in their current spelling, for the worker subprocesses
    (:func:`tools.benchmark.workers.worker_command`): an old spelling given here is not repeated there."""
    argv = []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.help == argparse.SUPPRESS or value is None or value is False:
            continue  # help, the hidden --_worker and old spellings, options not given and without default
        if action.nargs == 0:
            argv.append(action.option_strings[0])
        else:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            argv.append(f"{action.option_strings[0]}={text}")
    return argv


def main(argv=None) -> int:
    from petl_modules import PetlError

    try:
        args = parse_args(argv)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
        logging.getLogger("lobes").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
        if args.threads:
            torch.set_num_threads(args.threads)
        return args.module.main(args)
    except (BenchmarkError, PetlError) as exc:
        return fail(exc, exit_code=2)
