"""``python -m tools.benchmark <measurement> [options]`` (also ``python tools/benchmark.py``).

Measurements: ``methods`` (the default when none is named: every PETL method vs FT and the plain
backbone), ``peers`` (the toolkit vs transformers + peft), ``checkpointing`` (activation
checkpointing: memory and time with vs without). ``--help`` after a measurement lists its options.
A bad option ends in one ``error:`` line and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

import torch

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
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (1 on a shared CPU)")
    p.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                   help="timings in elapsed time, or in CPU time of the process (CPU only: on a shared machine "
                        "with --threads 1, not inflated by the other jobs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--_worker", dest="worker", default=None, help=argparse.SUPPRESS)
    module.add_arguments(p)
    args = p.parse_args(rest)
    args.measurement, args.argv, args.module = measurement, rest, module
    if args.device == "cuda" and not torch.cuda.is_available():
        raise BenchmarkError("--device cuda: CUDA is not available on this machine (use --device cpu)")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise BenchmarkError(f"--out {args.out} is a file: give a folder (it is created if missing)")
    if args.clock == "cpu" and args.device == "cuda":
        raise BenchmarkError("--clock cpu measures CPU work: use the wall clock with --device cuda")
    if args.threads is not None and args.threads < 1:
        raise BenchmarkError("--threads must be >= 1")
    return args


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
        print(f"error: {exc}", file=sys.stderr)
        return 2
