"""Training-step time, peak memory and inference time of PETL methods, side by side.

For one backbone at its REAL configuration (random weights: speed and memory do not depend on the
values) and a list of methods, in ONE run:

* training step: forward + backward + AdamW step over the trainable tensors only, on a batch of
  ``--batch`` random clips of ``--seconds`` s, Linear head on the masked mean of the last layer;
* inference: ``no_grad`` forward in eval mode; LoRA / BitFit / SSF are first folded into the frozen
  weights with ``petl_modules.merge`` (``merged: true``);
* peak memory of the second training step, one fresh subprocess per method.

Timings are interleaved (round-robin after ``--warmup`` untimed steps per method); reported: the
median, ``[min, max]`` and the paired ratio to FT (median over rounds, 95 % bootstrap interval).
Methods: ``ft``, ``probe`` (linear probe), ``plain`` (no method; inference reference, always
measured) and the PETL methods of ``petl_modules`` with the options in :data:`METHOD_OPTIONS`
(override with ``--method_options '{"lora": {"rank": 2}}'``).

Example:
    python -m tools.benchmark methods --backbone ast --methods ft,probe,lora,adapter --quick --out /tmp/bench_ast

Writes ``OUT/benchmark.json`` and ``OUT/benchmark.png`` (ratios with the targets) and prints a table.
"""
from __future__ import annotations

import copy
import gc
import json
import logging
import os
import statistics
import time

import torch

from petl_core.cli_args import add_option
from tools.benchmark import eval_memory, extras, pipeline
from tools.benchmark.common import (
    REGISTRY_NAME, BenchmarkError, PeakMemory, TrainStep, add_run_options, autocast, build_base, build_model,
    make_batch, paired_ratio, ratio, round_robin, share_weights_copy, summarize,
)
from tools.benchmark.workers import run_workers, worker_result

logger = logging.getLogger("benchmark")

BACKBONE_CHOICES = ["ast", "mert", "musicfm", "hubert", "wav2vec2", "data2vec"]
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
#: targets (issue 22 and the papers): PETL train step vs FT, peak memory vs FT, inference vs plain
TRAIN_TARGET = {"ast": 0.65, "mert": 0.40, "musicfm": 0.40, "hubert": 0.40, "wav2vec2": 0.40, "data2vec": 0.40}
MEM_TARGET = 0.6
MERGED_INFER_TOL = 0.03
ADAPTER_INFER_TARGET = 1.05
QUICK = dict(batch=2, seconds=2.0, repeats=3, warmup=1)
FULL = dict(batch=8, seconds=10.0, repeats=10, warmup=2)
#: spread (max - min) / median of the repeats above which the timings are flagged as noisy
NOISE_WARN = 0.25


def add_arguments(p) -> None:
    p.add_argument("--backbone", required=True, choices=BACKBONE_CHOICES)
    p.add_argument("--methods", default="ft,probe,lora,adapter,bitfit,ssf,prompt,prefix",
                   help="comma-separated: ft, probe, plain and petl_modules methods")
    p.add_argument("--quick", action="store_true", help=f"short run: {QUICK}")
    add_run_options(p, batch=None, seconds=None, repeats=None, warmup=None, layers="12 AST, 6 MERT/MusicFM")
    add_option(p, "--method_options", old="--method-options", default=None,
               help="json {method: options} overriding the defaults")
    add_option(p, "--no_extras", old="--no-extras", action="store_true",
               help="skip the truncation (kept layers vs 12) and probe-cache measurements")
    eval_memory.add_arguments(p)
    pipeline.add_arguments(p)


def known_methods() -> list[str]:
    from petl_modules import METHODS

    return ["ft", "probe", "plain", *sorted(set(METHODS) - {"ft", "linear"})]


def check_arguments(args) -> None:
    eval_memory.check_arguments(args)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    valid = known_methods()
    unknown = [m for m in methods if m not in valid]
    if unknown or not methods:
        raise BenchmarkError(f"--methods: unknown method {', '.join(map(repr, unknown)) or '(none given)'}; "
                             f"valid: {', '.join(valid)}")
    if len(set(methods)) != len(methods):
        raise BenchmarkError("--methods names a method twice")
    args.methods = methods
    options = copy.deepcopy(METHOD_OPTIONS)
    if args.config == "tiny":
        for method, small in TINY_OPTIONS.items():
            options[method] = {**options[method], **small}
    if args.method_options:
        try:
            extra = json.loads(args.method_options)
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"--method_options is not valid json: {exc}") from None
        if not isinstance(extra, dict) or not all(isinstance(v, dict) for v in extra.values()):
            raise BenchmarkError('--method_options must be a json object {method: {option: value}}, '
                                 'e.g. \'{"lora": {"rank": 2}}\'')
        stray = sorted(set(extra) - set(methods))
        if stray:
            raise BenchmarkError(f"--method_options: {', '.join(stray)} not in --methods ({', '.join(methods)})")
        options.update(extra)
    args.options = {m: options.get(m, {}) for m in methods if m != "plain"}


def check_options(base, args) -> None:
    """Every method's options against the built backbone: a bad one is one error naming the method."""
    from petl_modules import PetlError, validate

    for method, options in args.options.items():
        try:
            validate(base, REGISTRY_NAME.get(method, method), options)
        except PetlError as exc:
            raise BenchmarkError(f"--method_options {method}: {exc}") from None


# -------------------------------------------------------------------------------------- models
def base_of(args) -> torch.nn.Module:
    return build_base(args.backbone, args.config, args.num_layers, args.seconds, args.seed)


class Runner:
    """One method's model, its training step and its inference (what gets timed)."""

    def __init__(self, model, mergeable: bool, args, batch):
        self.model, self.mergeable, self.args = model, mergeable, args
        self.train_step = TrainStep(model, *batch, args.device, args.precision)
        self.merged = False

    def prepare_inference(self) -> None:
        self.model.eval()
        if self.train_step.optimizer is not None:
            self.train_step.optimizer.zero_grad(set_to_none=True)
        if self.mergeable:
            from petl_modules import merge
            merge(self.model.backbone)
            self.merged = True

    @torch.no_grad()
    def infer(self) -> None:
        with autocast(self.args.device, self.args.precision):
            self.model(self.train_step.wav)


def memory_worker(args, method: str) -> dict:
    """Peak memory (MiB) of the second training step of ``method`` in this fresh process."""
    meter = PeakMemory(args.device)
    baseline = meter.current()
    base = base_of(args)
    model, _ = build_model(base, method, args.options.get(method, {}), args.device)
    step = TrainStep(model, *make_batch(args.batch, args.seconds, base.sample_rate, args.device, args.seed),
                     args.device, args.precision)
    step()  # allocates the optimizer state
    meter.start(baseline)
    step()
    return {"method": method, "peak_mem_mb": meter.peak() / 2**20, "memory_method": meter.method}


# ------------------------------------------------------------------------------------- summary
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
            paired = paired_ratio(train_times[name], train_times["ft"]) if "ft" in train_times else None
            row.update(train_step_s=med, train_step_range=rng, train_ratio_vs_ft=ratio(med, ft_train),
                       train_ratio_vs_ft_paired=paired and paired["median"],
                       train_ratio_vs_ft_ci=paired and paired["ci"], train_items_per_s=args.batch / med)
        if name in memory:
            mem = memory[name].get("peak_mem_mb")
            row.update(peak_mem_mb=mem, peak_mem_ratio_vs_ft=ratio(mem, ft_mem))
        med, rng = summarize(infer_times[name])
        paired = paired_ratio(infer_times[name], infer_times["plain"])
        row.update(infer_s=med, infer_range=rng, infer_ratio_vs_plain=ratio(med, plain_infer),
                   infer_ratio_vs_plain_paired=paired["median"], infer_ratio_vs_plain_ci=paired["ci"],
                   merged=merged[name], options=args.options.get(name, {}), **params[name])
        results[name] = row
    return results


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
    extras.print_extras(report.get("extras") or {})
    eval_memory.print_rows(report.get("eval_memory") or [], cfg["eval_window"])
    pipeline.print_pipeline(report.get("pipeline"), report["results"])
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


# ---------------------------------------------------------------------------------------- run
def run(args) -> dict:
    wall_start = time.perf_counter()
    names = list(dict.fromkeys(["plain", *args.methods]))
    base = base_of(args)
    check_options(base, args)
    os.makedirs(args.out, exist_ok=True)
    batch = make_batch(args.batch, args.seconds, base.sample_rate, args.device, args.seed)
    runners, params = {}, {}
    for name in names:
        model, mergeable = build_model(share_weights_copy(base), name, args.options.get(name, {}), args.device)
        runners[name] = Runner(model, mergeable, args, batch)
        params[name] = {
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total_params": sum(p.numel() for p in model.parameters()),
        }
    extra = {} if args.no_extras else extras.measure_extras(args, base)
    del base
    trainable = {n: r.train_step for n, r in runners.items() if r.train_step.optimizer is not None}
    logger.info("timing training steps: %s", ", ".join(trainable))
    train_times = round_robin(trainable, args.repeats, args.warmup, args.device, clock=args.clock)
    for runner in runners.values():
        runner.prepare_inference()
    merged = {n: r.merged for n, r in runners.items()}
    logger.info("timing inference: %s", ", ".join(runners))
    infer_times = round_robin({n: r.infer for n, r in runners.items()}, args.repeats, args.warmup, args.device,
                              clock=args.clock)
    num_layers = runners["plain"].model.backbone.num_layers
    sample_rate = runners["plain"].model.backbone.sample_rate
    runners.clear()
    gc.collect()
    memory = {}
    if not args.no_memory:
        memory = {spec.split(":", 1)[1]: result for spec, result in
                  run_workers(args, "methods", [f"train:{m}" for m in trainable]).items()}
    memory_methods = sorted({m["memory_method"] for m in memory.values() if m.get("memory_method")})
    report = {
        "backbone": args.backbone,
        "device": args.device if args.device == "cpu" else f"cuda:{torch.cuda.get_device_name()}",
        "config": {
            "config": args.config, "num_layers": num_layers, "batch": args.batch, "seconds": args.seconds,
            "repeats": args.repeats, "warmup": args.warmup, "threads": torch.get_num_threads(),
            "precision": args.precision, "quick": args.quick, "seed": args.seed, "clock": args.clock,
            "optimizer": "AdamW(lr=1e-5) over trainable tensors", "head": "Linear on masked mean of last layer",
            "method_options": args.options, "memory_method": memory_methods,
            "eval_window": args.eval_window, "eval_chunk_size": args.eval_chunk_size,
            "timing": "interleaved round-robin after warm-up; median and [min, max]; paired ratios with a 95% "
                      "bootstrap interval",
            "torch": torch.__version__,
        },
        "targets": {"train_ratio_vs_ft": TRAIN_TARGET[args.backbone], "peak_mem_ratio_vs_ft": MEM_TARGET,
                    "infer_ratio_vs_plain_merged": [1 - MERGED_INFER_TOL, 1 + MERGED_INFER_TOL],
                    "infer_ratio_vs_plain_adapters": ADAPTER_INFER_TARGET},
        "results": build_results(args, train_times, infer_times, memory, params, merged),
        "extras": extra,
        "eval_memory": eval_memory.measure(args) if args.eval_seconds else [],
        "pipeline": pipeline.measure(args, sample_rate) if args.pipeline_workers else None,
        "raw": {"train_step_s": train_times, "infer_s": infer_times},
    }
    report["noise"] = timing_noise(report["results"])
    report["wall_s"] = time.perf_counter() - wall_start
    return report


def worker(args) -> dict:
    kind, what = args.worker.split(":", 1)
    return memory_worker(args, what) if kind == "train" else eval_memory.worker(args, what)


def main(args) -> int:
    check_arguments(args)
    if args.worker:
        print(worker_result(worker(args)), flush=True)
        return 0
    report = run(args)
    with open(os.path.join(args.out, "benchmark.json"), "w") as fh:
        json.dump(report, fh, indent=2)
    plot(report, os.path.join(args.out, "benchmark.png"))
    print_table(report)
    print(f"wrote {os.path.join(args.out, 'benchmark.json')} and benchmark.png")
    return 0
