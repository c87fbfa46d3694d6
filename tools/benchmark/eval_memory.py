"""Peak memory of evaluating ONE long track through the Brain's evaluation path
(``ClipBrain.compute_forward``: ``--eval_window`` s windows), ``--eval_chunk_size`` windows per
forward vs all windows in one forward, each in a fresh subprocess (``methods --eval_seconds``).

Example:
    python -m tools.benchmark methods --backbone mert --methods ft --quick --no_extras --no_memory \\
        --eval_seconds 30,120 --eval_chunk_size 4 --out /tmp/bench_eval
"""
from __future__ import annotations

import logging
import math

import torch

from petl_core.cli_args import add_option, int_range
from tools.benchmark.common import POSITIVE, PeakMemory, build_base, classifier, comma_separated
from tools.benchmark.workers import run_workers

logger = logging.getLogger("benchmark")


def add_arguments(p) -> None:
    add_option(p, "--eval_seconds", old="--eval-seconds", type=comma_separated(POSITIVE), default="",
               help="comma-separated track lengths (s): evaluation peak memory")
    add_option(p, "--eval_window", old="--eval-window", type=POSITIVE, default=5.0,
               help="evaluation window (s) for --eval_seconds")
    add_option(p, "--eval_chunk_size", old="--eval-chunk-size", type=int_range(1), default=None,
               help="windows per forward for --eval_seconds (default: the Brain's eval_chunk_size default)")


def check_arguments(args) -> None:
    if args.eval_chunk_size is None:
        from petl_core.brain import DEFAULT_EVAL_CHUNK_SIZE
        args.eval_chunk_size = DEFAULT_EVAL_CHUNK_SIZE


def worker(args, spec: str) -> dict:
    """Peak memory (MiB, above the model and the input) of one ``SECONDS:CHUNK`` evaluation."""
    import speechbrain as sb
    from speechbrain.dataio.batch import PaddedBatch

    from petl_core.clip_brain import ClipBrain
    from petl_core.tasks import KeyTask

    seconds, chunk = spec.split(":")
    backbone = build_base(args.backbone, args.config, args.num_layers, args.eval_window, args.seed)
    model = classifier(backbone.requires_grad_(False), trains=False).to(args.device)
    sr = backbone.sample_rate
    brain = ClipBrain(modules={"model": model}, task=KeyTask(), compute_cost=torch.nn.functional.cross_entropy,
                      eval_window=int(args.eval_window * sr),
                      eval_chunk_size=int(chunk), run_opts={"device": args.device, "noprogressbar": True,
                                                            "precision": args.precision})
    brain.modules.eval()
    g = torch.Generator().manual_seed(args.seed)
    batch = PaddedBatch([{"id": "track", "sig": 0.1 * torch.randn(int(float(seconds) * sr), generator=g),
                          "label_enc": torch.tensor([0])}])
    meter = PeakMemory(args.device)
    meter.start()
    with torch.no_grad(), brain.evaluation_ctx:
        brain.compute_forward(batch, sb.Stage.TEST)
    windows = max(1, -(-int(float(seconds) * sr) // int(args.eval_window * sr)))
    return {"track_seconds": float(seconds), "windows": windows, "chunk": min(int(chunk), windows),
            "peak_mem_mb": meter.peak() / 2**20}


def measure(args) -> list[dict]:
    """For each ``--eval_seconds`` length: chunked (``--eval_chunk_size``) and all windows at once."""
    specs = []
    for seconds in args.eval_seconds:
        windows = max(1, math.ceil(seconds / args.eval_window))
        specs += [f"eval:{seconds}:{chunk}" for chunk in sorted({min(args.eval_chunk_size, windows), windows})]
    return [row for row in run_workers(args, "methods", specs).values() if row]


def print_rows(rows: list[dict], window: float) -> None:
    for row in rows:
        print(f"evaluation, {row['track_seconds']:.0f} s track ({row['windows']} windows of {window} s), "
              f"{row['chunk']} per forward: peak {row['peak_mem_mb']:.0f} MB")
