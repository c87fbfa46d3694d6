#!/usr/bin/env python
"""Training-step time, peak memory and inference time of PETL methods, side by side.

For one backbone at its REAL configuration (random weights: speed and memory do not depend on the
values) and a list of methods, in ONE run:

* training step: forward + backward + AdamW step over the trainable tensors only, on a batch of
  ``--batch`` random clips of ``--seconds`` s, Linear head on the masked mean of the last layer;
* inference: ``no_grad`` forward in eval mode; LoRA / BitFit / SSF are first folded into the frozen
  weights with ``petl_modules.merge`` (``merged: true``);
* peak memory of one training step (see "Memory" below).

Timings are interleaved: after ``--warmup`` untimed steps per method, every repeat runs each method
once in turn (round-robin), so slow drifts of a shared machine hit all methods alike. Reported:
median and [min, max] over ``--repeats``. All methods share one copy of the frozen weights (each
has its own ``nn.Parameter`` objects, so ``requires_grad`` stays per method).

Memory (one fresh subprocess per method, so methods cannot see each other's allocations):
* CUDA: ``torch.cuda.max_memory_allocated`` during the second training step (the first one
  allocates the AdamW state) minus what was allocated before the model was built;
* CPU: the process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs`` right
  before the second training step, after ``malloc_trim``) minus the resident set after importing
  torch and before building the model. It therefore counts weights + gradients + optimizer state +
  activations + allocator slack, as the CUDA number does (without the caching allocator's reserve).
  Without a writable ``clear_refs`` the lifetime peak (``ru_maxrss``) is used and the json says so.

Timing noise: the spread ``(max - min) / median`` of each method's repeats is reported
(``noise`` in the json); above :data:`NOISE_WARN` a warning says the ratios are unreliable (a
loaded machine), with the method and the spread.

Optional, beside the model's cost (see docs/benchmarks.md):

* ``--eval-seconds 30,120,600``: peak memory of evaluating ONE track of each length through the
  Brain's evaluation path (``PETLBrain.compute_forward``: ``--eval-window`` s windows), the windows
  going through the model ``--eval-chunk-size`` at a time vs all in one forward (each in a fresh
  subprocess);
* ``--pipeline-workers 0,2``: the input pipeline alone — items/s of ``--seconds`` s random crops
  (``petl_core.data.make_dataset``, resampled to the backbone's rate) from long 44.1 kHz stereo
  FLAC and WAV files, by DataLoader ``num_workers`` — next to the items/s of each method's
  training step, so one sees which of the two bounds an epoch.

Methods: ``ft`` (full fine-tuning), ``probe`` (linear probe: frozen backbone + head), ``plain``
(the backbone without any method, inference only; always measured, it is the inference reference)
and the PETL methods of ``petl_modules`` with the options in :data:`METHOD_OPTIONS` (override with
``--method-options '{"lora": {"rank": 2}}'``).

Example:
    python tools/benchmark.py --backbone ast --methods ft,probe,lora,adapter --quick --out /tmp/bench_ast

Writes ``OUT/benchmark.json`` and ``OUT/benchmark.png`` (ratios with the targets) and prints a table.
"""
from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import json
import logging
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings

import torch
import torch.nn.functional as F

from lobes import build_backbone
from lobes.cache import FeatureCache
from lobes.heads import AudioClassifier, LinearHead

BACKBONE_CHOICES = ["ast", "mert", "musicfm"]
#: layers kept at the real configuration (seed 001 / seed 002 papers)
DEFAULT_LAYERS = {"ast": 12, "mert": 6, "musicfm": 6}
#: benchmark name -> petl_modules method name
REGISTRY_NAME = {"probe": "linear"}
#: options of each method (paper defaults; written into benchmark.json)
METHOD_OPTIONS = {
    "ft": {},
    "probe": {},
    "lora": {"rank": 8, "targets": ["q", "v"]},
    "adapter": {"style": "pfeiffer", "bottleneck": 64},
    "bitfit": {},
    "ssf": {},
    "prompt": {"num_prompts": 64, "deep": False},
    "prefix": {"num_prefixes": 32},
}
#: smaller sizes for the hidden tiny configuration (tests; hidden size 32)
TINY_OPTIONS = {"lora": {"rank": 2}, "adapter": {"bottleneck": 4}, "prompt": {"num_prompts": 4},
                "prefix": {"num_prefixes": 4}}
#: targets drawn on the plot (PETL train step vs FT, peak memory vs FT, inference vs plain)
TRAIN_TARGET = {"ast": 0.65, "mert": 0.40, "musicfm": 0.40}
MEM_TARGET = 0.6
MERGED_INFER_TOL = 0.03
ADAPTER_INFER_TARGET = 1.05
TRUNCATION_TARGET = 0.55  # forward of the kept layers / forward of all 12
PROBE_CACHE_TARGET = 20.0  # probing pass recomputing the backbone / pass served by the cache
NUM_CLASSES = 10
QUICK = dict(batch=2, seconds=2.0, repeats=3, warmup=1)
FULL = dict(batch=8, seconds=10.0, repeats=10, warmup=2)
MEMORY_TAG = "BENCHMARK_MEMORY "
#: spread (max - min) / median of the repeats above which the timings are flagged as noisy
NOISE_WARN = 0.25
#: the input pipeline's source files: rate, channels, count, length (s); fewer, shorter with --config tiny
PIPELINE_SOURCE = dict(sample_rate=44100, channels=2, files=6, seconds=60.0)
TINY_PIPELINE_SOURCE = dict(PIPELINE_SOURCE, files=2, seconds=8.0)

logger = logging.getLogger("benchmark")


# ---------------------------------------------------------------------------------------- args
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", required=True, choices=BACKBONE_CHOICES)
    p.add_argument("--methods", default="ft,probe,lora,adapter,bitfit,ssf,prompt,prefix",
                   help="comma-separated: ft, probe, plain and petl_modules methods")
    p.add_argument("--quick", action="store_true", help=f"short run: {QUICK}")
    p.add_argument("--num-layers", type=int, default=None, help="layers kept (default: 12 AST, 6 MERT/MusicFM)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--seconds", type=float, default=None, help="clip length in seconds")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--method-options", default=None, help="json {method: options} overriding the defaults")
    p.add_argument("--no-memory", action="store_true", help="skip the per-method memory subprocesses")
    p.add_argument("--no-extras", action="store_true",
                   help="skip the truncation (kept layers vs 12) and probe-cache measurements")
    p.add_argument("--memory-jobs", type=int, default=1,
                   help="memory subprocesses at a time (each holds a model: mind the RAM)")
    p.add_argument("--eval-seconds", default="", help="comma-separated track lengths (s): evaluation peak memory")
    p.add_argument("--eval-window", type=float, default=5.0, help="evaluation window (s) for --eval-seconds")
    p.add_argument("--eval-chunk-size", type=int, default=None,
                   help="windows per forward for --eval-seconds (default: the Brain's eval_chunk_size default)")
    p.add_argument("--pipeline-workers", default="", help="comma-separated DataLoader num_workers: input pipeline")
    p.add_argument("--pipeline-items", type=int, default=48, help="crops timed per pipeline setting")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    # hidden: tiny configuration for tests; memory worker mode
    p.add_argument("--config", default="real", choices=["real", "tiny"], help=argparse.SUPPRESS)
    p.add_argument("--_memory-worker", dest="memory_worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_eval-memory-worker", dest="eval_memory_worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        args.eval_seconds = [float(x) for x in args.eval_seconds.split(",") if x.strip()]
        args.pipeline_workers = [int(x) for x in args.pipeline_workers.split(",") if x.strip()]
    except ValueError as exc:
        p.error(f"--eval-seconds / --pipeline-workers: comma-separated numbers ({exc})")
    if any(x <= 0 for x in args.eval_seconds) or args.eval_window <= 0 or any(w < 0 for w in args.pipeline_workers):
        p.error("--eval-seconds and --eval-window must be > 0, --pipeline-workers >= 0")
    if args.eval_chunk_size is None:
        from petl_core.brain import DEFAULT_EVAL_CHUNK_SIZE
        args.eval_chunk_size = DEFAULT_EVAL_CHUNK_SIZE
    if args.eval_chunk_size < 1 or args.pipeline_items < 1:
        p.error("--eval-chunk-size and --pipeline-items must be >= 1")
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.num_layers is None and args.config == "real":
        args.num_layers = DEFAULT_LAYERS[args.backbone]
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if len(set(args.methods)) != len(args.methods):
        p.error("--methods names a method twice")
    options = copy.deepcopy(METHOD_OPTIONS)
    if args.config == "tiny":
        for method, small in TINY_OPTIONS.items():
            options[method] = {**options[method], **small}
    if args.method_options:
        try:
            extra = json.loads(args.method_options)
        except json.JSONDecodeError as exc:
            p.error(f"--method-options is not valid json: {exc}")
        if not isinstance(extra, dict):
            p.error("--method-options must be a json object {method: options}")
        options.update(extra)
    args.options = {m: options.get(m, {}) for m in args.methods if m != "plain"}
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but CUDA is not available")
    if args.batch < 1 or args.seconds <= 0 or args.repeats < 1 or args.warmup < 0:
        p.error("--batch, --repeats must be >= 1, --seconds > 0, --warmup >= 0")
    return args


# -------------------------------------------------------------------------------------- models
def build_base(args) -> torch.nn.Module:
    """The backbone without any method (random weights), inputs matched to ``--seconds``."""
    torch.manual_seed(args.seed)
    extra = {}
    if args.backbone == "ast":
        # AST works on fixed-length fbank clips: make that length the benchmark clip's length
        # (as recipes do per dataset); positional embeddings are resized, layers are unchanged.
        samples = int(round(args.seconds * 16000))
        extra["max_length"] = max(16, 1 + (samples - 400) // 160)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone(args.backbone, config=args.config, num_layers=args.num_layers, **extra)


def share_weights_copy(base: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``base`` whose parameters are new ``Parameter`` objects on the same storage."""
    memo = {}
    for p in base.parameters():
        memo[id(p)] = torch.nn.Parameter(p.data, requires_grad=p.requires_grad)
    for b in base.buffers():
        memo[id(b)] = b
    return copy.deepcopy(base, memo)


def apply_method(backbone, method: str, options: dict) -> bool:
    """Freeze/unfreeze/inject ``method`` in place; return whether it can be merged."""
    if method == "plain":
        backbone.requires_grad_(False)
        return False
    try:
        from petl_modules import METHODS, apply_petl
    except ImportError:
        if method not in ("ft", "probe"):
            raise
        backbone.requires_grad_(method == "ft")  # fallback while petl_modules is unavailable
        return False
    name = REGISTRY_NAME.get(method, method)
    apply_petl(backbone, name, options)
    return bool(METHODS[name].mergeable)


def build_model(backbone, method: str, options: dict, device) -> tuple[AudioClassifier, bool]:
    mergeable = apply_method(backbone, method, options)
    head = LinearHead(backbone.hidden_size, NUM_CLASSES)
    head.requires_grad_(method != "plain")
    return AudioClassifier(backbone, head).to(device), mergeable


def make_batch(args, sample_rate: int, device):
    g = torch.Generator().manual_seed(args.seed)
    wav = 0.1 * torch.randn(args.batch, int(round(args.seconds * sample_rate)), generator=g)
    labels = torch.randint(0, NUM_CLASSES, (args.batch,), generator=g)
    return wav.to(device), labels.to(device)


def autocast(args):
    if args.precision == "bf16":
        return torch.autocast(device_type=args.device, dtype=torch.bfloat16)
    return torch.autocast(device_type=args.device, enabled=False)


class Runner:
    """One method's model with its optimizer; ``train_step``/``infer`` are what gets timed."""

    def __init__(self, model, mergeable: bool, args, batch):
        self.model, self.mergeable, self.args, (self.wav, self.labels) = model, mergeable, args, batch
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-5) if self.params else None
        self.merged = False

    def train_step(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.args):
            logits = self.model(self.wav)
        loss = F.cross_entropy(logits.float(), self.labels)
        loss.backward()
        self.optimizer.step()

    def prepare_inference(self) -> None:
        self.model.eval()
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        if self.mergeable:
            from petl_modules import merge
            merge(self.model.backbone)
            self.merged = True

    @torch.no_grad()
    def infer(self) -> None:
        with autocast(self.args):
            self.model(self.wav)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def round_robin(runners: dict, fn_name: str, args) -> dict[str, list[float]]:
    """Warm-up each, then ``repeats`` rounds timing every runner once per round."""
    for _ in range(args.warmup):
        for runner in runners.values():
            getattr(runner, fn_name)()
    times = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, runner in runners.items():
            times[name].append(timed(getattr(runner, fn_name), args.device))
    return times


# -------------------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def memory_worker(args) -> dict:
    """Peak memory (MiB) of one training step of ``args.memory_worker`` in this fresh process."""
    method = args.memory_worker
    gc.collect()
    _malloc_trim()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
    else:
        baseline = (_status_kb("VmRSS") or 0) * 1024
    backbone = build_base(args)
    model, mergeable = build_model(backbone, method, args.options.get(method, {}), args.device)
    runner = Runner(model, mergeable, args, make_batch(args, backbone.sample_rate, args.device))
    runner.train_step()  # allocates the optimizer state
    gc.collect()
    sync(args.device)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        runner.train_step()
        sync(args.device)
        peak, how = torch.cuda.max_memory_allocated(), "cuda_max_memory_allocated"
    else:
        _malloc_trim()
        if _reset_peak_rss():
            runner.train_step()
            peak, how = (_status_kb("VmHWM") or 0) * 1024, "cpu_vmhwm_step_minus_baseline_rss"
        else:
            runner.train_step()
            peak, how = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "cpu_ru_maxrss_minus_baseline_rss"
    return {"method": method, "peak_mem_mb": (peak - baseline) / 2**20, "memory_method": how}


def memory_command(args, method: str) -> list[str]:
    cmd = [sys.executable, os.path.abspath(__file__), "--backbone", args.backbone, "--methods", method,
           "--config", args.config, "--device", args.device, "--precision", args.precision,
           "--batch", str(args.batch), "--seconds", str(args.seconds), "--repeats", "1", "--warmup", "0",
           "--seed", str(args.seed), "--method-options", json.dumps(args.options), "--out", args.out,
           "--_memory-worker", method]
    if args.num_layers is not None:
        cmd += ["--num-layers", str(args.num_layers)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    return cmd


def measure_memory(args, methods: list[str]) -> dict[str, dict]:
    """Peak memory of each method, each in a fresh subprocess (``--memory-jobs`` at a time)."""
    results, pending = {}, list(methods)
    running: list[tuple[str, subprocess.Popen]] = []
    while pending or running:
        while pending and len(running) < max(1, args.memory_jobs):
            method = pending.pop(0)
            logger.info("peak memory of %s (subprocess)", method)
            running.append((method, subprocess.Popen(memory_command(args, method), stdout=subprocess.PIPE,
                                                     stderr=subprocess.PIPE, text=True)))
        method, proc = running.pop(0)
        stdout, stderr = proc.communicate()
        results[method] = {"method": method, "peak_mem_mb": None, "memory_method": None}
        for line in stdout.splitlines():
            if line.startswith(MEMORY_TAG):
                results[method] = json.loads(line[len(MEMORY_TAG):])
                break
        else:
            tail = (stderr or stdout).strip().splitlines()[-3:]
            logger.warning("memory measurement of %s failed (exit %d): %s", method, proc.returncode, " | ".join(tail))
    return results


def _peak_start(device: str) -> int:
    """Collect, trim, reset the peak; return the memory in use now (bytes)."""
    gc.collect()
    _malloc_trim()
    sync(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    _reset_peak_rss()
    return (_status_kb("VmRSS") or 0) * 1024


def _peak_now(device: str) -> int:
    sync(device)
    if device == "cuda":
        return torch.cuda.max_memory_allocated()
    return (_status_kb("VmHWM") or 0) * 1024


def eval_memory_worker(args) -> dict:
    """Peak memory (MiB, above the model and the input) of evaluating one track of ``SECONDS`` through
    ``PETLBrain.compute_forward`` with ``CHUNK`` windows per forward (``args.eval_memory_worker``)."""
    import speechbrain as sb
    from speechbrain.dataio.batch import PaddedBatch

    from petl_core.brain import PETLBrain
    from petl_core.tasks import KeyTask

    seconds, chunk = args.eval_memory_worker.split(":")
    args.seconds = args.eval_window  # AST: positional embeddings for one window
    backbone = build_base(args)
    model, _ = build_model(backbone, "plain", {}, args.device)
    sr = backbone.sample_rate
    brain = PETLBrain(modules={"model": model}, task=KeyTask(), eval_window=int(args.eval_window * sr),
                      eval_chunk_size=int(chunk), run_opts={"device": args.device, "noprogressbar": True,
                                                            "precision": args.precision})
    brain.modules.eval()
    g = torch.Generator().manual_seed(args.seed)
    batch = PaddedBatch([{"id": "track", "sig": 0.1 * torch.randn(int(float(seconds) * sr), generator=g),
                          "label_enc": torch.tensor([0])}])
    baseline = _peak_start(args.device)
    with torch.no_grad(), brain.evaluation_ctx:
        brain.compute_forward(batch, sb.Stage.TEST)
    peak = _peak_now(args.device)
    windows = max(1, -(-int(float(seconds) * sr) // int(args.eval_window * sr)))
    return {"track_seconds": float(seconds), "windows": windows, "chunk": min(int(chunk), windows),
            "peak_mem_mb": (peak - baseline) / 2**20}


def measure_eval_memory(args) -> list[dict]:
    """For each ``--eval-seconds`` length: chunked (``--eval-chunk-size``) and all windows at once."""
    rows = []
    for seconds in args.eval_seconds:
        windows = max(1, math.ceil(seconds / args.eval_window))
        for chunk in sorted({min(args.eval_chunk_size, windows), windows}):
            logger.info("evaluation memory: %.0f s track, %d windows per forward (subprocess)", seconds, chunk)
            cmd = memory_command(args, "plain")[:-2] + ["--_eval-memory-worker", f"{seconds}:{chunk}",
                                                         "--eval-window", str(args.eval_window)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            row = next((json.loads(line[len(MEMORY_TAG):]) for line in proc.stdout.splitlines()
                        if line.startswith(MEMORY_TAG)), None)
            if row is None:
                logger.warning("evaluation memory of %.0f s failed: %s", seconds,
                               " | ".join(proc.stderr.strip().splitlines()[-3:]))
                continue
            rows.append(row)
    return rows


def _write_source_files(folder: str, fmt: str, src: dict) -> str:
    """``src``-sized noise files of format ``fmt`` and their manifest; returns its path."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    lines = ["ID,wav,duration,label"]
    for i in range(src["files"]):
        path = os.path.join(folder, f"track{i}.{fmt}")
        data = (0.1 * rng.standard_normal((int(src["seconds"] * src["sample_rate"]), src["channels"])))
        sf.write(path, data.astype("float32"), src["sample_rate"], subtype="PCM_16")
        lines.append(f"{fmt}{i},{path},{src['seconds']},C major")
    manifest = os.path.join(folder, f"{fmt}.csv")
    with open(manifest, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return manifest


def measure_pipeline(args, sample_rate: int) -> dict:
    """Items/s of random ``--seconds`` crops (decode + resample + batch) by ``num_workers``."""
    import tempfile

    from speechbrain.dataio.dataloader import make_dataloader

    from petl_core.data import make_dataset
    from petl_core.tasks import KeyTask

    rows, src = [], TINY_PIPELINE_SOURCE if args.config == "tiny" else PIPELINE_SOURCE
    with tempfile.TemporaryDirectory(dir=args.out) as folder:
        for fmt in ("flac", "wav"):
            manifest = _write_source_files(folder, fmt, src)
            for workers in args.pipeline_workers:
                dataset = make_dataset(manifest, KeyTask(), sample_rate, train=True, crop_seconds=args.seconds)
                loader = make_dataloader(dataset, batch_size=args.batch, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0)
                items, start = 0, None
                while items < args.pipeline_items:
                    for batch in loader:
                        if start is None:  # the first batch pays for starting the workers
                            start = time.perf_counter()
                            continue
                        items += len(batch.id)
                        if items >= args.pipeline_items:
                            break
                rows.append({"format": fmt, "num_workers": workers, "items": items,
                             "items_per_s": items / (time.perf_counter() - start)})
                logger.info("input pipeline %s, %d workers: %.1f items/s", fmt, workers, rows[-1]["items_per_s"])
    return {"crop_seconds": args.seconds, "target_rate": sample_rate, "source": src, "results": rows}


def timing_noise(results: dict) -> dict:
    """Spread ``(max - min) / median`` of each method's timed repeats; ``wide`` lists those above
    :data:`NOISE_WARN`."""
    spreads = {}
    for name, row in results.items():
        for kind in ("train_step", "infer"):
            med, rng = row.get(f"{kind}_s"), row.get(f"{kind}_range")
            if med and rng:
                spreads[f"{name} {kind}"] = (rng[1] - rng[0]) / med
    wide = {k: v for k, v in spreads.items() if v > NOISE_WARN}
    return {"spread": spreads, "max_spread": max(spreads.values(), default=0.0), "threshold": NOISE_WARN,
            "wide": sorted(wide, key=wide.get, reverse=True)}


# ------------------------------------------------------------------------------------- summary
def summarize(samples: list[float]) -> tuple[float, list[float]]:
    return statistics.median(samples), [min(samples), max(samples)]


def ratio(value, reference):
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def paired(samples, reference):
    """Median over rounds of the per-round ratio (both timed in the same round-robin round)."""
    if not reference:
        return None
    return statistics.median(a / b for a, b in zip(samples, reference) if b > 0)


def build_results(args, train_times, infer_times, memory, params, merged) -> dict:
    results = {}
    names = list(dict.fromkeys(["plain", *args.methods]))
    ft_train = statistics.median(train_times["ft"]) if "ft" in train_times else None
    ft_mem = memory.get("ft", {}).get("peak_mem_mb")
    plain_infer = statistics.median(infer_times["plain"])
    for name in names:
        row = {"train_step_s": None, "train_step_range": None, "train_ratio_vs_ft": None,
               "peak_mem_mb": None, "peak_mem_ratio_vs_ft": None}
        if name in train_times:
            med, rng = summarize(train_times[name])
            row.update(train_step_s=med, train_step_range=rng, train_ratio_vs_ft=ratio(med, ft_train),
                       train_ratio_vs_ft_paired=paired(train_times[name], train_times.get("ft")),
                       train_items_per_s=args.batch / med)
        if name in memory:
            mem = memory[name].get("peak_mem_mb")
            row.update(peak_mem_mb=mem, peak_mem_ratio_vs_ft=ratio(mem, ft_mem))
        med, rng = summarize(infer_times[name])
        row.update(infer_s=med, infer_range=rng, infer_ratio_vs_plain=ratio(med, plain_infer),
                   infer_ratio_vs_plain_paired=paired(infer_times[name], infer_times["plain"]),
                   merged=merged[name], options=args.options.get(name, {}), **params[name])
        results[name] = row
    return results


def print_table(report: dict) -> None:
    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    cfg = report["config"]
    print(f"\n{report['backbone']} ({cfg['num_layers']} layers, {cfg['config']}) on {report['device']}: "
          f"batch {cfg['batch']} x {cfg['seconds']} s, {cfg['repeats']} repeats, {cfg['threads']} threads, "
          f"{cfg['precision']}")
    head = f"{'method':<9}{'trainable':>12}{'train s':>10}{'x FT':>7}{'peak MB':>10}{'x FT':>7}" \
           f"{'infer s':>10}{'x plain':>9}  merged"
    print(head)
    print("-" * len(head))
    for name, r in report["results"].items():
        print(f"{name:<9}{r['trainable_params']:>12,}{fmt(r['train_step_s'], '.3f'):>10}"
              f"{fmt(r['train_ratio_vs_ft'], '.2f'):>7}{fmt(r['peak_mem_mb'], '.0f'):>10}"
              f"{fmt(r['peak_mem_ratio_vs_ft'], '.2f'):>7}{fmt(r['infer_s'], '.3f'):>10}"
              f"{fmt(r['infer_ratio_vs_plain'], '.3f'):>9}  {'yes' if r['merged'] else 'no'}")
    extras = report.get("extras") or {}
    if "truncation" in extras:
        t = extras["truncation"]
        print(f"truncation: {t['layers'][0]} of {t['layers'][1]} layers = {t['ratio']:.2f} x the full forward, "
              f"{t['layers_only_ratio']:.2f} x for the layers alone (target <= {t['target']})")
    if "probe_cache" in extras:
        c = extras["probe_cache"]
        print(f"probe cache: {c['speedup']:.1f} x faster than recomputing (target >= {c['target']:.0f})")
    for row in report.get("eval_memory") or []:
        print(f"evaluation, {row['track_seconds']:.0f} s track ({row['windows']} windows of {cfg['eval_window']} s), "
              f"{row['chunk']} per forward: peak {row['peak_mem_mb']:.0f} MB")
    pipeline = report.get("pipeline")
    if pipeline:
        src = pipeline["source"]
        print(f"input pipeline ({pipeline['crop_seconds']} s crops from {src['seconds']:.0f} s "
              f"{src['sample_rate']} Hz files -> {pipeline['target_rate']} Hz): " + ", ".join(
                  f"{r['format']} {r['num_workers']} workers {r['items_per_s']:.1f}/s" for r in pipeline["results"]))
        print("model training step: " + ", ".join(f"{n} {r['train_items_per_s']:.3g} items/s"
                                                 for n, r in report["results"].items() if r.get("train_items_per_s")))
    noise = report["noise"]
    if noise["wide"]:
        worst = noise["wide"][0]
        print(f"WARNING: noisy timings: the repeats of {len(noise['wide'])} measurement(s) spread by more than "
              f"{noise['threshold']:.0%} of their median (worst: {worst}, {noise['spread'][worst]:.0%}); the machine "
              f"is loaded, so the ratios above may be far from the documented ones — rerun on a quiet machine "
              f"or with more --repeats")
    else:
        print(f"timing spread: at most {noise['max_spread']:.0%} of the median over the repeats")
    print(f"wall time: {report['wall_s']:.1f} s")


def plot(report: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    backbone = report["backbone"]
    panels = [
        ("train_ratio_vs_ft", "training step / FT", [(TRAIN_TARGET[backbone], "PETL target")]),
        ("peak_mem_ratio_vs_ft", "peak memory / FT", [(MEM_TARGET, "target")]),
        ("infer_ratio_vs_plain", "inference / plain",
         [(1 - MERGED_INFER_TOL, "merged ±3%"), (1 + MERGED_INFER_TOL, None),
          (ADAPTER_INFER_TARGET, "adapters")]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (key, title, targets) in zip(axes, panels):
        names = [n for n, r in results.items() if r.get(key) is not None]
        values = [results[n][key] for n in names]
        colors = ["tab:gray" if n in ("ft", "plain", "probe") else
                  ("tab:green" if results[n].get("merged") else "tab:blue") for n in names]
        ax.bar(names, values, color=colors)
        for (y, label), style in zip(targets, ["--", "--", ":"]):
            ax.axhline(y, color="tab:red", linestyle=style, linewidth=1, label=label)
        ax.axhline(1.0, color="black", linewidth=0.6)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
        top = max(values + [y for y, _ in targets] + [1.0])
        ax.set_ylim(0, top * 1.1)
        ax.set_title(title, pad=20)
        ax.tick_params(axis="x", rotation=45)
        if any(label for _, label in targets):
            ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
        if not names:
            ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
    cfg = report["config"]
    fig.suptitle(f"{backbone} ({cfg['num_layers']} layers), {report['device']}, batch {cfg['batch']} x "
                 f"{cfg['seconds']} s, median of {cfg['repeats']} (green: merged)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class LayersOnly:
    """The transformer layers alone, on the embeddings of ``wav`` (the front end computed once)."""

    def __init__(self, backbone, wav):
        self.backbone = backbone.eval()
        with torch.no_grad():
            w, n = backbone.prepare_waveform(wav)
            self.x, self.mask = backbone.embed(*backbone.frontend(w, n))

    @torch.no_grad()
    def infer(self) -> None:
        with autocast(self.args):
            x = self.x
            for layer in self.backbone.layers:
                x = self.backbone.call_layer(layer, x, self.mask)


class Forward:
    """A ``no_grad`` forward of ``model`` on ``wav`` (optionally with cache keys), for round_robin."""

    def __init__(self, model, wav, cache_keys=None):
        self.model, self.wav, self.cache_keys = model.eval(), wav, cache_keys

    @torch.no_grad()
    def infer(self) -> None:
        with autocast(self.args):
            self.model(self.wav, cache_keys=self.cache_keys)


def measure_extras(args, base) -> dict:
    """Truncation (the kept layers vs all 12, plain forward) and the probe cache (a probing pass
    that recomputes the frozen backbone vs one served by the cache), interleaved like the rest."""
    wav, _ = make_batch(args, base.sample_rate, args.device)
    keys = [f"clip{i}" for i in range(wav.shape[0])]
    probe = AudioClassifier(share_weights_copy(base).requires_grad_(False), LinearHead(base.hidden_size, NUM_CLASSES))
    cached = AudioClassifier(share_weights_copy(base).requires_grad_(False), probe.head)
    cached.backbone.feature_cache = FeatureCache()
    runners = {"recompute": Forward(probe.to(args.device), wav), "cached": Forward(cached.to(args.device), wav, keys)}
    extras = {}
    full = base.full_num_layers
    if base.num_layers < full or args.config == "real":
        kept = base.num_layers if base.num_layers < full else full // 2
        options = {"max_length": base.max_length} if args.backbone == "ast" else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for n in (kept, full):
                torch.manual_seed(args.seed)
                model = AudioClassifier(build_backbone(args.backbone, config=args.config, num_layers=n, **options),
                                        LinearHead(base.hidden_size, NUM_CLASSES)).to(args.device)
                runners[f"layers{n}"] = Forward(model.requires_grad_(False), wav)
                runners[f"layers_only{n}"] = LayersOnly(model.backbone, wav)
        extras["truncation"] = {"layers": [kept, full], "target": TRUNCATION_TARGET}
    for runner in runners.values():
        runner.args = args
    times = round_robin(runners, "infer", args)
    recompute, cached_s = statistics.median(times["recompute"]), statistics.median(times["cached"])
    extras["probe_cache"] = {"recompute_s": recompute, "cached_s": cached_s, "speedup": recompute / cached_s,
                             "target": PROBE_CACHE_TARGET, "what": "frozen backbone + head on one batch: "
                             "recomputed vs pooled embeddings from lobes.cache.FeatureCache"}
    if "truncation" in extras:
        kept, full = extras["truncation"]["layers"]
        t_kept, t_full = statistics.median(times[f"layers{kept}"]), statistics.median(times[f"layers{full}"])
        extras["truncation"].update(kept_s=t_kept, full_s=t_full, ratio=t_kept / t_full)
        l_kept, l_full = statistics.median(times[f"layers_only{kept}"]), statistics.median(times[f"layers_only{full}"])
        extras["truncation"].update(layers_only_kept_s=l_kept, layers_only_full_s=l_full,
                                    layers_only_ratio=l_kept / l_full,
                                    layers_only="the layers alone, front end computed once (as with --feature_cache)")
    return extras


# ---------------------------------------------------------------------------------------- main
def run(args) -> dict:
    wall_start = time.perf_counter()
    names = list(dict.fromkeys(["plain", *args.methods]))
    base = build_base(args)
    batch = make_batch(args, base.sample_rate, args.device)
    runners, params, merged = {}, {}, {}
    for name in names:
        model, mergeable = build_model(share_weights_copy(base), name, args.options.get(name, {}), args.device)
        runners[name] = Runner(model, mergeable, args, batch)
        params[name] = {
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total_params": sum(p.numel() for p in model.parameters()),
        }
    extras = {} if args.no_extras else measure_extras(args, base)
    del base
    trainable = {n: r for n, r in runners.items() if r.optimizer is not None}
    logger.info("timing training steps: %s", ", ".join(trainable))
    train_times = round_robin(trainable, "train_step", args)
    for runner in runners.values():
        runner.prepare_inference()
    merged = {n: r.merged for n, r in runners.items()}
    logger.info("timing inference: %s", ", ".join(runners))
    infer_times = round_robin(runners, "infer", args)
    num_layers = runners["plain"].model.backbone.num_layers
    sample_rate = runners["plain"].model.backbone.sample_rate
    runners.clear()
    gc.collect()
    memory = {}
    if not args.no_memory:
        memory = measure_memory(args, list(trainable))
    memory_methods = sorted({m["memory_method"] for m in memory.values() if m.get("memory_method")})
    eval_memory = measure_eval_memory(args) if args.eval_seconds else []
    pipeline = measure_pipeline(args, sample_rate) if args.pipeline_workers else None
    report = {
        "backbone": args.backbone,
        "device": args.device if args.device == "cpu" else f"cuda:{torch.cuda.get_device_name()}",
        "config": {
            "config": args.config, "num_layers": num_layers, "batch": args.batch, "seconds": args.seconds,
            "repeats": args.repeats, "warmup": args.warmup, "threads": torch.get_num_threads(),
            "precision": args.precision, "quick": args.quick, "seed": args.seed, "num_classes": NUM_CLASSES,
            "optimizer": "AdamW(lr=1e-5) over trainable tensors", "head": "Linear on masked mean of last layer",
            "method_options": args.options, "memory_method": memory_methods,
            "eval_window": args.eval_window, "eval_chunk_size": args.eval_chunk_size,
            "timing": "interleaved round-robin after warm-up; median and [min, max]",
            "torch": torch.__version__,
        },
        "targets": {"train_ratio_vs_ft": TRAIN_TARGET[args.backbone], "peak_mem_ratio_vs_ft": MEM_TARGET,
                    "infer_ratio_vs_plain_merged": [1 - MERGED_INFER_TOL, 1 + MERGED_INFER_TOL],
                    "infer_ratio_vs_plain_adapters": ADAPTER_INFER_TARGET},
        "results": build_results(args, train_times, infer_times, memory, params, merged),
        "extras": extras,
        "eval_memory": eval_memory,
        "pipeline": pipeline,
        "raw": {"train_step_s": train_times, "infer_s": infer_times},
    }
    report["noise"] = timing_noise(report["results"])
    report["wall_s"] = time.perf_counter() - wall_start
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    logging.getLogger("lobes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_worker or args.eval_memory_worker:
        worker = eval_memory_worker if args.eval_memory_worker else memory_worker
        print(MEMORY_TAG + json.dumps(worker(args)), flush=True)
        return 0
    os.makedirs(args.out, exist_ok=True)
    report = run(args)
    with open(os.path.join(args.out, "benchmark.json"), "w") as fh:
        json.dump(report, fh, indent=2)
    plot(report, os.path.join(args.out, "benchmark.png"))
    print_table(report)
    print(f"wrote {os.path.join(args.out, 'benchmark.json')} and benchmark.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
