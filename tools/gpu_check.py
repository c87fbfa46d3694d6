#!/usr/bin/env python
"""One command that checks and measures the toolkit on a GPU: ``python tools/gpu_check.py``.

For every backbone × {ft, linear, lora, adapter, prompt, prefix, bitfit, ssf} (real configurations
with random weights on CUDA; tiny ones with ``--device cpu``):

* ``--steps`` training steps under bf16 autocast (AdamW over the trainable tensors, Linear head):
  every loss finite; step time (median of the steps after the first), clips/s and peak memory;
* an evaluation (eval mode, ``no_grad``) in fp32 and under bf16 autocast: outputs finite and the
  last hidden states equal within :data:`BF16_TOLERANCE` (relative L2 error ``|bf16 - fp32| /
  |fp32|``; bf16 keeps 8 bits of mantissa, ≈ 0.4 % per rounding, a few % after a deep stack).

Then the GPU hazards of issue 25, each pass / fail / n/a with what was seen:

* ``ast_resample_bf16``: AST fed 44.1 kHz audio under bf16 autocast (resampling and fbank in fp32);
* ``feature_cache_precisions``: a feature cache filled under bf16, then read by an fp32 forward;
* ``rotary_dtype``: MusicFM's rotary cache after a bf16 forward, then fp32 (equal to a fresh fp32);
* ``rng_round_trip``: ``petl_core.checkpointing.RandomState`` restores the CPU and CUDA generators;
* ``syncs_per_step``: host synchronisations of one training step per backbone
  (``torch.cuda.set_sync_debug_mode``; at most :data:`MAX_SYNCS` per step);
* ``ddp_nccl_bf16``: with two GPUs, a 2-process NCCL ``torchrun`` of the SynthMusic key recipe with
  full fine-tuning of MusicFM (its BatchNorms become SyncBatchNorm) under bf16, ``--device=cuda``.

Writes a JSON (``--out``) and prints a table; exit status 1 when any check fails, 2 on bad options
(refused before anything is built; the old spelling ``--no-ddp`` of ``--no_ddp`` still works).

Example:
    python tools/gpu_check.py                      # on a CUDA machine, < 5 min
    python tools/gpu_check.py --device cpu --out /tmp/gpu_check.json   # tiny configs, the CI run
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__":
    sys.path[0] = REPO  # the repository, not tools/
elif REPO not in sys.path:  # imported (the tests): leave the importer's path as it is
    sys.path.append(REPO)

import torch  # noqa: E402

from lobes import BACKBONES  # noqa: E402
from petl_core.cli_args import add_option, device, int_range  # noqa: E402
from petl_core.entry import fail  # noqa: E402
from tools.benchmark.common import (  # noqa: E402
    POSITIVE, PeakMemory, TrainStep, autocast, build_base, build_model, make_batch, share_weights_copy, sync,
)

METHODS = ["ft", "linear", "lora", "adapter", "prompt", "prefix", "bitfit", "ssf"]
#: method options: the registry's defaults, smaller on the tiny configurations (hidden size 32)
TINY_OPTIONS = {"lora": {"rank": 2}, "adapter": {"bottleneck": 4}, "prompt": {"num_prompts": 4},
                "prefix": {"num_prefixes": 4}}
BF16_TOLERANCE = 0.05
MAX_SYNCS = 1
SIZES = {"real": dict(batch=4, seconds=4.0, steps=4), "tiny": dict(batch=2, seconds=1.0, steps=2)}
#: torch's CPU bf16 grouped conv1d returns wrong values (relative error ≈ 1) with ≤ 8 channels per group
#: and an even kernel, the shape of the tiny speech-SSL positional conv (32 channels, 4 groups, kernel
#: 16); CUDA and the real configurations (48 channels per group) are not affected. On the CPU the
#: tiny speech-SSL backbones are therefore built with 2 groups (16 channels per group).
CPU_TINY_SSL = {"num_conv_pos_embedding_groups": 2}


class CheckError(Exception):
    """A bad option: one ``error:`` line, exit status 2."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", type=device, default="cuda", choices=["cuda", "cpu"],
                   help="cpu: tiny configurations (no CUDA device needed)")
    p.add_argument("--config", default=None, choices=["real", "tiny"], help="default: real on cuda, tiny on cpu")
    p.add_argument("--backbones", default=",".join(sorted(BACKBONES)))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--steps", type=int_range(2), default=None, help="bf16 training steps per method")
    p.add_argument("--batch", type=int_range(1), default=None)
    p.add_argument("--seconds", type=POSITIVE, default=None)
    add_option(p, "--no_ddp", old="--no-ddp", action="store_true", help="skip the 2-GPU torchrun even with two GPUs")
    p.add_argument("--out", default="gpu_check.json", help="the JSON report")
    args = p.parse_args(argv)
    args.config = args.config or ("real" if args.device == "cuda" else "tiny")
    for key, value in SIZES[args.config].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [b for b in args.backbones if b not in BACKBONES] + [m for m in args.methods if m not in METHODS]
    if bad or not args.backbones or not args.methods:
        raise CheckError(f"unknown backbone/method {', '.join(bad) or '(none given)'}; valid backbones: "
                         f"{', '.join(sorted(BACKBONES))}; methods: {', '.join(METHODS)}")
    if os.path.isdir(args.out):
        raise CheckError(f"--out {args.out} is a folder: give a file name such as {args.out}/gpu_check.json")
    return args


def backbone_config(name: str, args):
    """The ``config`` given to ``build_backbone`` for ``name`` (see :data:`CPU_TINY_SSL`)."""
    if args.config == "tiny" and args.device == "cpu" and name in ("hubert", "wav2vec2", "data2vec", "mert"):
        from lobes.speech_ssl import TINY_SSL
        return {**TINY_SSL, **CPU_TINY_SSL}
    return args.config


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float(), b.float()
    return float((a - b).norm() / b.norm().clamp(min=1e-12))


# ----------------------------------------------------------------------------- backbone × method
def check_method(base, method: str, args) -> dict:
    options = TINY_OPTIONS.get(method, {}) if args.config == "tiny" else {}
    meter = PeakMemory(args.device)
    baseline = meter.current()
    meter.start(baseline)
    model, _ = build_model(share_weights_copy(base), method, options, args.device)
    wav, labels = make_batch(args.batch, args.seconds, base.sample_rate, args.device)
    step = TrainStep(model, wav, labels, args.device, "bf16")
    losses, times = [], []
    for _ in range(args.steps):
        sync(args.device)
        start = time.perf_counter()
        losses.append(float(step()))
        sync(args.device)
        times.append(time.perf_counter() - start)
    peak = meter.peak()
    model.eval()
    with torch.no_grad():
        fp32 = model.backbone(wav).last
        with autocast(args.device, "bf16"):
            bf16 = model.backbone(wav).last
            logits = model(wav)
    error = relative_error(bf16, fp32)
    finite = all(math.isfinite(x) for x in losses) and bool(torch.isfinite(bf16).all() and torch.isfinite(logits).all())
    step_s = statistics.median(times[1:])
    return {"losses": losses, "finite": finite, "bf16_vs_fp32": error, "step_s": step_s,
            "clips_per_s": args.batch / step_s, "peak_mem_mb": peak / 2**20, "memory_method": meter.method,
            "ok": finite and error <= BF16_TOLERANCE}


# --------------------------------------------------------------------------------------- hazards
def hazard(fn):
    """Run one hazard check: its dict, or a failure with the exception's message."""
    try:
        return fn()
    except Exception as exc:  # a crash is what these checks look for: report it, go on with the others
        return {"status": "fail", "detail": f"{type(exc).__name__}: {exc}"[:500]}


def passed(ok: bool, detail: str) -> dict:
    return {"status": "pass" if ok else "fail", "detail": detail}


def ast_resample_bf16(args) -> dict:
    bb = build_base("ast", args.config, seconds=1.0).to(args.device).eval()
    wav = 0.1 * torch.randn(2, 44100, device=args.device)
    with torch.no_grad(), autocast(args.device, "bf16"):
        out = bb(wav, sample_rate=44100).last
    return passed(bool(torch.isfinite(out).all()), f"44.1 kHz input under bf16: output {tuple(out.shape)}")


def feature_cache_precisions(args) -> dict:
    from lobes.cache import FeatureCache

    bb = build_base("hubert", backbone_config("hubert", args)).to(args.device).requires_grad_(False).eval()
    wav = 0.1 * torch.randn(2, 16000, device=args.device)
    keys = ["clip0", "clip1"]
    with torch.no_grad():
        reference = bb(wav).last
        bb.feature_cache = FeatureCache()
        with autocast(args.device, "bf16"):
            bb(wav, cache_keys=keys)  # filled under bf16
        again = bb(wav, cache_keys=keys).last  # read back by an fp32 forward
    error = relative_error(again, reference)
    return passed(again.dtype == torch.float32 and error < 1e-4,
                  f"fp32 forward after a bf16-filled cache: {again.dtype}, relative error {error:.1e}")


def rotary_dtype(args) -> dict:
    bb = build_base("musicfm", args.config).to(args.device).eval()
    wav = 0.1 * torch.randn(2, 24000, device=args.device)
    with torch.no_grad():
        fresh = bb(wav).last
        other = build_base("musicfm", args.config).to(args.device).eval()
        other.load_state_dict(bb.state_dict())
        with autocast(args.device, "bf16"):
            other(wav)
        after = other(wav).last
    error = relative_error(after, fresh)
    return passed(after.dtype == torch.float32 and error < 1e-6,
                  f"fp32 forward after a bf16 one: relative error {error:.1e} vs a fresh fp32 forward")


def rng_round_trip(args) -> dict:
    from petl_core.checkpointing import RandomState

    cuda = args.device == "cuda"
    state = RandomState()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "rng.ckpt")
        state._save(path)
        first = (torch.rand(3), torch.rand(3, device="cuda") if cuda else None)
        state._recover(path, end_of_epoch=False)
        second = (torch.rand(3), torch.rand(3, device="cuda") if cuda else None)
    same_cpu = torch.equal(first[0], second[0])
    same_cuda = torch.equal(first[1], second[1]) if cuda else None
    detail = f"CPU generator restored: {same_cpu}" + (f"; CUDA generator restored: {same_cuda}" if cuda else
                                                     "; CUDA generator: n/a on cpu")
    return passed(same_cpu and same_cuda is not False, detail)


def syncs_per_step(args) -> dict:
    if args.device != "cuda":
        return {"status": "n/a", "detail": "torch.cuda.set_sync_debug_mode needs CUDA"}
    counts = {}
    for name in args.backbones:
        model, _ = build_model(build_base(name, backbone_config(name, args), seconds=args.seconds), "lora",
                               TINY_OPTIONS["lora"] if args.config == "tiny" else {}, args.device)
        wav, labels = make_batch(args.batch, args.seconds, model.backbone.sample_rate, args.device)
        step = TrainStep(model, wav, labels, args.device, "bf16")
        step()
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts[name] = sum("synchroniz" in str(w.message) for w in seen)
    return passed(max(counts.values()) <= MAX_SYNCS, f"host syncs in one LoRA training step: {counts}")


def ddp_nccl_bf16(args) -> dict:
    gpus = torch.cuda.device_count() if args.device == "cuda" else 0
    if gpus < 2 or args.no_ddp:
        return {"status": "n/a", "detail": f"needs two GPUs ({gpus} here)" if gpus < 2 else "--no_ddp"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    recipe = os.path.join(REPO, "recipes", "SynthMusic", "key")
    with tempfile.TemporaryDirectory() as folder:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
               os.path.join(recipe, "train.py"), os.path.join(recipe, "hparams", "default.yaml"),
               f"--output_folder={folder}/run", f"--data_folder={folder}/data", "--device=cuda",
               "--precision=bf16", "--distributed_backend=nccl", "--backbone=tiny_musicfm", "--method=ft",
               "--number_of_epochs=1", "--batch_size=4", "--noprogressbar",
               "--prepare={task: key, n_train: 16, n_valid: 8, n_test: 8, seed: 9, sample_rate: 24000, duration: 2.0}"]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
        results = glob.glob(os.path.join(folder, "run", "results.json"))
        ok = proc.returncode == 0 and bool(results)
        detail = "2-process NCCL torchrun, MusicFM FT (SyncBatchNorm) under bf16: " + (
            "results.json written" if ok else f"exit {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return passed(ok, detail)


HAZARDS = [ast_resample_bf16, feature_cache_precisions, rotary_dtype, rng_round_trip, syncs_per_step, ddp_nccl_bf16]


# ------------------------------------------------------------------------------------------ run
def run(args) -> dict:
    start = time.perf_counter()
    results = {}
    for name in args.backbones:
        base = build_base(name, backbone_config(name, args), seconds=args.seconds)
        results[name] = {method: check_method(base, method, args) for method in args.methods}
        del base
    hazards = {fn.__name__: hazard(lambda fn=fn: fn(args)) for fn in HAZARDS}
    device = args.device if args.device == "cpu" else torch.cuda.get_device_name()
    ok = all(r["ok"] for row in results.values() for r in row.values()) and \
        all(h["status"] != "fail" for h in hazards.values())
    return {"device": device, "config": args.config, "batch": args.batch, "seconds": args.seconds,
            "steps": args.steps, "bf16_tolerance": BF16_TOLERANCE, "torch": torch.__version__,
            "results": results, "hazards": hazards, "ok": ok, "wall_s": time.perf_counter() - start}


def print_report(report: dict) -> None:
    print(f"\n{report['device']}, {report['config']} configs, batch {report['batch']} x {report['seconds']} s, "
          f"{report['steps']} bf16 steps; bf16 vs fp32 tolerance {report['bf16_tolerance']}")
    head = f"{'backbone':<10}{'method':<9}{'ok':<5}{'step ms':>9}{'clips/s':>9}{'peak MB':>9}{'bf16 err':>10}"
    print(head)
    print("-" * len(head))
    for name, row in report["results"].items():
        for method, r in row.items():
            print(f"{name:<10}{method:<9}{'yes' if r['ok'] else 'NO':<5}{1000 * r['step_s']:>9.1f}"
                  f"{r['clips_per_s']:>9.1f}{r['peak_mem_mb']:>9.0f}{r['bf16_vs_fp32']:>10.1e}")
    for name, h in report["hazards"].items():
        print(f"{name:<26}{h['status']:<6}{h['detail']}")
    print(f"{'ALL CHECKS PASSED' if report['ok'] else 'SOME CHECKS FAILED'} in {report['wall_s']:.0f} s")


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
    except CheckError as exc:
        return fail(exc, exit_code=2)
    logging.getLogger("lobes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
    report = run(args)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print_report(report)
    print(f"wrote {args.out}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
