"""Activation (gradient) checkpointing: peak memory and training-step time with vs without.

The backbone is built twice with the same weights, ``build_backbone(..., gradient_checkpointing=
False / True)`` (each layer's activations recomputed in the backward pass instead of stored), the
method applied (default: full fine-tuning of a 6-layer MusicFM, seed 001's setting without a fit):

* time: training steps of both in turn (round-robin, alternating order) at ``--batch``, paired
  ratio with-÷-without, 95 % bootstrap interval, verdict against :data:`TIME_TARGET`;
* memory: peak of the second training step in a fresh subprocess per setting and per batch size
  of ``--memory_batches``; the slope over batch sizes is the per-clip memory (activations), the
  intercept what does not grow with the batch (weights, gradients, optimizer state). The ratio
  with-÷-without at the largest batch is checked against :data:`MEMORY_TARGET`, and the memory
  of ``--fit_batch`` clips is extrapolated and compared with ``--fit_gb`` (seed 001: 16 clips of
  5 s in bf16 on a 24 GB GPU). On CUDA the numbers are ``max_memory_allocated``; on a CPU the
  resident set (an estimate of what a GPU would hold: use ``--precision bf16`` as the run would).

Example:
    python -m tools.benchmark checkpointing --backbone musicfm --method ft --seconds 5 --precision bf16 \\
        --memory_batches 1,2 --threads 1 --out /tmp/ckpt
"""
from __future__ import annotations

import json
import logging
import os
import time

import torch

from petl_core.cli_args import add_option, int_range
from tools.benchmark.common import (
    POSITIVE, BenchmarkError, PeakMemory, TrainStep, add_run_options, build_base, build_model, comma_separated,
    make_batch, paired_ratio, round_robin, verdict,
)
from tools.benchmark.workers import run_workers, worker_result

logger = logging.getLogger("benchmark")

TIME_TARGET = 1.4  # with ÷ without, training step (issue 22)
MEMORY_TARGET = 0.5  # with ÷ without, peak memory of a training step
SETTINGS = {"without": False, "with": True}


def add_arguments(p) -> None:
    from lobes import BACKBONES

    p.add_argument("--backbone", default="musicfm", choices=sorted(BACKBONES))
    p.add_argument("--method", default="ft", help="ft, linear or a petl_modules method (its default options)")
    add_run_options(p, batch=2, seconds=5.0, repeats=5, warmup=1, layers="6 MusicFM/MERT, 12 others")
    add_option(p, "--memory_batches", old="--memory-batches", type=comma_separated(int_range(1)), default="1,2",
               help="comma-separated batch sizes (>= 2 of them) for the per-clip memory")
    add_option(p, "--fit_batch", old="--fit-batch", type=int_range(1), default=16,
               help="batch whose memory is extrapolated")
    add_option(p, "--fit_gb", old="--fit-gb", type=POSITIVE, default=24.0,
               help="memory the --fit_batch must fit in (GB)")


def check_arguments(args) -> None:
    from petl_modules import METHODS

    if args.method not in METHODS:
        raise BenchmarkError(f"--method: unknown method {args.method!r}; valid: {', '.join(sorted(METHODS))}")
    args.memory_batches = sorted(set(args.memory_batches))
    if len(args.memory_batches) < 2:
        raise BenchmarkError("--memory_batches: at least two different batch sizes, e.g. 1,2")


def build_step(args, checkpointing: bool, batch: int) -> TrainStep:
    """A training step of ``--method`` on the backbone built with ``gradient_checkpointing``."""
    try:
        backbone = build_base(args.backbone, args.config, args.num_layers, args.seconds, args.seed,
                              gradient_checkpointing=checkpointing)
    except TypeError as exc:
        if "gradient_checkpointing" in str(exc):
            raise BenchmarkError("this version of lobes has no gradient_checkpointing option: "
                                 "build_backbone(name, ..., gradient_checkpointing=True) is needed") from None
        raise
    model, _ = build_model(backbone, args.method, {}, args.device)
    wav, labels = make_batch(batch, args.seconds, backbone.sample_rate, args.device, args.seed)
    return TrainStep(model, wav, labels, args.device, args.precision)


def memory_worker(args, spec: str) -> dict:
    """Peak memory (MiB) of the second training step of ``SETTING:BATCH`` in this fresh process."""
    setting, batch = spec.split(":")
    meter = PeakMemory(args.device)
    baseline = meter.current()
    step = build_step(args, SETTINGS[setting], int(batch))
    step()  # allocates the optimizer state
    meter.start(baseline)
    step()
    return {"peak_mem_mb": meter.peak() / 2**20, "memory_method": meter.method}


def per_clip_fit(points: dict[int, float]) -> dict:
    """Least-squares line ``peak = fixed + per_clip * batch`` through ``{batch: peak_mb}``."""
    xs, ys = list(points), list(points.values())
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    per_clip = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return {"per_clip_mb": per_clip, "fixed_mb": my - per_clip * mx}


def measure_memory(args) -> dict:
    specs = [f"{s}:{b}" for s in SETTINGS for b in args.memory_batches]
    results = run_workers(args, "checkpointing", specs)
    if not all(r.get("peak_mem_mb") for r in results.values()):
        raise BenchmarkError("a memory subprocess failed (see the warnings above)")
    memory = {}
    for setting in SETTINGS:
        points = {b: results[f"{setting}:{b}"]["peak_mem_mb"] for b in args.memory_batches}
        fit = per_clip_fit(points)
        predicted = fit["fixed_mb"] + args.fit_batch * fit["per_clip_mb"]
        memory[setting] = {"peak_mem_mb": points, **fit, "fit_batch_mb": predicted,
                           "fits": predicted * 2**20 <= args.fit_gb * 1e9,
                           "memory_method": results[f"{setting}:{args.memory_batches[0]}"]["memory_method"]}
    largest = args.memory_batches[-1]
    ratio = memory["with"]["peak_mem_mb"][largest] / memory["without"]["peak_mem_mb"][largest]
    return {"settings": memory, "ratio_at_batch": largest, "ratio": ratio, "target": MEMORY_TARGET,
            "verdict": "meets" if ratio <= MEMORY_TARGET else "misses",
            "per_clip_ratio": memory["with"]["per_clip_mb"] / memory["without"]["per_clip_mb"]}


def run(args) -> dict:
    start = time.perf_counter()
    steps = {setting: build_step(args, on, args.batch) for setting, on in SETTINGS.items()}
    losses = {s: float(step()) for s, step in steps.items()}
    times = round_robin(steps, args.repeats, args.warmup, args.device, alternate=True, clock=args.clock)
    summary = paired_ratio(times["with"], times["without"])
    del steps
    report = {"backbone": args.backbone, "method": args.method, "config": args.config,
              "num_layers": args.num_layers, "device": args.device, "precision": args.precision,
              "threads": torch.get_num_threads(), "clock": args.clock, "batch": args.batch, "seconds": args.seconds,
              "first_loss": losses, "raw_step_s": times,
              "time": {"ratio": summary, "target": TIME_TARGET, "verdict": verdict(summary, TIME_TARGET)},
              "memory": None if args.no_memory else measure_memory(args),
              "fit": {"batch": args.fit_batch, "seconds": args.seconds, "gb": args.fit_gb}}
    report["wall_s"] = time.perf_counter() - start
    return report


def print_report(report: dict) -> None:
    t = report["time"]
    print(f"\nactivation checkpointing, {report['backbone']} {report['method']} ({report['config']}), "
          f"{report['device']} {report['precision']}, {report['seconds']} s clips")
    print(f"training step with ÷ without (batch {report['batch']}): {t['ratio']['median']:.2f} "
          f"[{t['ratio']['ci'][0]:.2f}, {t['ratio']['ci'][1]:.2f}] (target <= {t['target']}: {t['verdict']})")
    mem = report["memory"]
    if mem:
        print(f"peak memory with ÷ without (batch {mem['ratio_at_batch']}): {mem['ratio']:.2f} "
              f"(target <= {mem['target']}: {mem['verdict']}); per clip: {mem['per_clip_ratio']:.2f}")
        fit = report["fit"]
        for setting, m in mem["settings"].items():
            print(f"  {setting:<8} fixed {m['fixed_mb']:,.0f} MB + {m['per_clip_mb']:,.0f} MB per clip -> "
                  f"{fit['batch']} clips: {m['fit_batch_mb'] / 1024:,.1f} GiB "
                  f"({'fits' if m['fits'] else 'does not fit'} in {fit['gb']:g} GB)")
    print(f"wall time: {report['wall_s']:.0f} s")


def main(args) -> int:
    check_arguments(args)
    if args.worker:
        print(worker_result(memory_worker(args, args.worker)), flush=True)
        return 0
    os.makedirs(args.out, exist_ok=True)
    report = run(args)
    path = os.path.join(args.out, "checkpointing.json")
    with open(path, "w") as fh:
        json.dump(report, fh, indent=2)
    print_report(report)
    print(f"wrote {path}")
    return 0
