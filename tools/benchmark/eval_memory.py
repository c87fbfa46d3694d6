"""Peak memory of evaluating ONE long track through the Brain's evaluation path
(``ClipBrain.compute_forward``: ``--eval-window`` s windows), ``--eval-chunk-size`` windows per
forward vs all windows in one forward, each in a fresh subprocess (``methods --eval-seconds``).

Example:
    python -m tools.benchmark methods --backbone mert --methods ft --quick --no-extras --no-memory \\
        --eval-seconds 30,120 --eval-chunk-size 4 --out /tmp/bench_eval
"""
from __future__ import annotations

import logging
import math

import torch

from tools.benchmark.common import BenchmarkError, PeakMemory, build_base, classifier
from tools.benchmark.workers import run_workers

logger = logging.getLogger("benchmark")


def add_arguments(p) -> None:
    p.add_argument("--eval-seconds", default="", help="comma-separated track lengths (s): evaluation peak memory")
    p.add_argument("--eval-window", type=float, default=5.0, help="evaluation window (s) for --eval-seconds")
    p.add_argument("--eval-chunk-size", type=int, default=None,
                   help="windows per forward for --eval-seconds (default: the Brain's eval_chunk_size default)")


def check_arguments(args) -> None:
    try:
        args.eval_seconds = [float(x) for x in str(args.eval_seconds).split(",") if x.strip()]
    except ValueError as exc:
        raise BenchmarkError(f"--eval-seconds: comma-separated numbers ({exc})") from None
    if any(x <= 0 for x in args.eval_seconds) or args.eval_window <= 0:
        raise BenchmarkError("--eval-seconds and --eval-window must be > 0")
    if args.eval_chunk_size is None:
        from petl_core.brain import DEFAULT_EVAL_CHUNK_SIZE
        args.eval_chunk_size = DEFAULT_EVAL_CHUNK_SIZE
    if args.eval_chunk_size < 1:
        raise BenchmarkError("--eval-chunk-size must be >= 1")


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
    """For each ``--eval-seconds`` length: chunked (``--eval-chunk-size``) and all windows at once."""
    specs = []
    for seconds in args.eval_seconds:
        windows = max(1, math.ceil(seconds / args.eval_window))
        specs += [f"eval:{seconds}:{chunk}" for chunk in sorted({min(args.eval_chunk_size, windows), windows})]
    return [row for row in run_workers(args, "methods", specs).values() if row]


def print_rows(rows: list[dict], window: float) -> None:
    for row in rows:
        print(f"evaluation, {row['track_seconds']:.0f} s track ({row['windows']} windows of {window} s), "
              f"{row['chunk']} per forward: peak {row['peak_mem_mb']:.0f} MB")
