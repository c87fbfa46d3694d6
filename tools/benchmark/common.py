"""What every measurement of ``tools.benchmark`` shares: models on shared weights, a random batch,
timing (interleaved round-robin), peak memory of this process, and the statistics of paired ratios.

Example:
    >>> from tools.benchmark.common import paired_ratio
    >>> summary = paired_ratio([2.0, 2.2, 1.9, 2.1], [4.0, 4.0, 4.0, 4.2], seed=0)
    >>> round(summary["median"], 2), summary["rounds"]
    (0.5, 4)
"""
from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import random
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from lobes import build_backbone
from lobes.heads import AudioClassifier, LinearHead
from petl_core.cli_args import add_option, float_range, int_range

NUM_CLASSES = 10
#: layers kept at the real configuration (seed 001 / seed 002 papers; base speech-SSL models)
DEFAULT_LAYERS = {"ast": 12, "mert": 6, "musicfm": 6, "hubert": 12, "wav2vec2": 12, "data2vec": 12}
#: bootstrap resamples of the rounds for the confidence interval of a median paired ratio
BOOTSTRAP = 2000


class BenchmarkError(Exception):
    """A bad option or input of the benchmark: printed as one ``error:`` line, exit status 2."""


# ------------------------------------------------------------------------------------- options
#: argparse ``type=`` of lengths in seconds and sizes in GB
POSITIVE = float_range(0, low_open=True)


def comma_separated(item_type):
    """argparse ``type=``: a comma-separated list, each item parsed (and range-checked) by ``item_type``.

    >>> comma_separated(int_range(1))("1, 2")
    [1, 2]
    """
    def parse(text: str) -> list:
        try:
            return [item_type(item.strip()) for item in text.split(",") if item.strip()]
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (in {text!r})") from None

    return parse


def add_run_options(p, *, batch, seconds, repeats, warmup, layers: str, min_repeats: int = 1) -> None:
    """The options every measurement has: the timed step's size, the memory subprocesses, the configuration."""
    add_option(p, "--num_layers", old="--num-layers", type=int_range(1), default=None,
               help=f"layers kept (default: {layers})")
    p.add_argument("--batch", type=int_range(1), default=batch, help="clips per timed training step")
    p.add_argument("--seconds", type=POSITIVE, default=seconds, help="clip length in seconds")
    p.add_argument("--repeats", type=int_range(min_repeats), default=repeats, help="timed round-robin rounds")
    p.add_argument("--warmup", type=int_range(0), default=warmup, help="untimed steps first")
    add_option(p, "--no_memory", old="--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    add_option(p, "--memory_jobs", old="--memory-jobs", type=int_range(1), default=1,
               help="memory subprocesses at a time (each holds a model: mind the RAM)")
    p.add_argument("--config", default="real", choices=["real", "tiny"], help="real or tiny (tests) configuration")


# -------------------------------------------------------------------------------------- models
def build_base(backbone: str, config: str = "real", num_layers: int | None = None, seconds: float = 2.0,
               seed: int = 0, **options) -> torch.nn.Module:
    """The backbone without any method (random weights), AST's input length matched to ``seconds``."""
    torch.manual_seed(seed)
    if backbone == "ast":
        # AST works on fixed-length fbank clips: make that length the benchmark clip's length
        # (as recipes do per dataset); positional embeddings are resized, layers are unchanged.
        samples = int(round(seconds * 16000))
        options["max_length"] = max(16, 1 + (samples - 400) // 160)
    if num_layers is None and config == "real":
        num_layers = DEFAULT_LAYERS[backbone]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone(backbone, config=config, num_layers=num_layers, **options)


def share_weights_copy(base: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``base`` whose parameters are new ``Parameter`` objects on the same storage."""
    memo = {}
    for p in base.parameters():
        memo[id(p)] = torch.nn.Parameter(p.data, requires_grad=p.requires_grad)
    for b in base.buffers():
        memo[id(b)] = b
    return copy.deepcopy(base, memo)


def classifier(backbone: torch.nn.Module, trains: bool = True) -> AudioClassifier:
    """``backbone`` + a Linear head on the masked mean of the last layer (the head trains if ``trains``)."""
    head = LinearHead(backbone.hidden_size, NUM_CLASSES)
    head.requires_grad_(trains)
    return AudioClassifier(backbone, head)


#: benchmark name -> petl_modules method name
REGISTRY_NAME = {"probe": "linear"}


def build_model(backbone, method: str, options: dict, device):
    """``(classifier, mergeable)``: ``backbone`` with ``method`` (``plain``: none, frozen) applied in place."""
    from petl_modules import METHODS, apply_petl

    if method == "plain":
        backbone.requires_grad_(False)
        return classifier(backbone, trains=False).to(device), False
    name = REGISTRY_NAME.get(method, method)
    apply_petl(backbone, name, options)
    return classifier(backbone).to(device), bool(METHODS[name].mergeable)


def make_batch(batch: int, seconds: float, sample_rate: int, device: str, seed: int = 0):
    """``batch`` random clips of ``seconds`` s (amplitude 0.1) and random labels."""
    g = torch.Generator().manual_seed(seed)
    wav = 0.1 * torch.randn(batch, int(round(seconds * sample_rate)), generator=g)
    labels = torch.randint(0, NUM_CLASSES, (batch,), generator=g)
    return wav.to(device), labels.to(device)


def autocast(device: str, precision: str):
    """bf16 autocast for ``precision == 'bf16'``, else a disabled autocast context."""
    if precision == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return torch.autocast(device_type=device, enabled=False)


class TrainStep:
    """Forward + cross-entropy + backward + AdamW over ``model``'s trainable tensors (what gets timed)."""

    def __init__(self, model, wav, labels, device: str, precision: str = "fp32"):
        self.model, self.wav, self.labels, self.device, self.precision = model, wav, labels, device, precision
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-5) if self.params else None

    def logits(self) -> torch.Tensor:
        return self.model(self.wav)

    def __call__(self) -> float:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            logits = self.logits()
        loss = F.cross_entropy(logits.float(), self.labels)
        loss.backward()
        self.optimizer.step()
        return loss.detach()


# -------------------------------------------------------------------------------------- timing
def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


#: ``wall``: elapsed time (CUDA: between synchronisations); ``cpu``: CPU time of this process, which
#: a shared CPU's other jobs do not inflate (with one torch thread it is the work of the step)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(fn, device: str, clock: str = "wall") -> float:
    now = CLOCKS[clock]
    sync(device)
    start = now()
    fn()
    sync(device)
    return now() - start


def round_robin(steps: dict, repeats: int, warmup: int, device: str, alternate: bool = False,
                clock: str = "wall") -> dict[str, list[float]]:
    """Warm up each callable, then ``repeats`` rounds timing every one once per round (in turn;
    with ``alternate`` every other round in reverse order, so no one always runs right after another)."""
    for _ in range(warmup):
        for fn in steps.values():
            fn()
    times = {name: [] for name in steps}
    for i in range(repeats):
        order = list(steps.items())
        for name, fn in (order[::-1] if alternate and i % 2 else order):
            times[name].append(timed(fn, device, clock))
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


class PeakMemory:
    """Peak memory (bytes) of what runs between :meth:`start` and :meth:`peak`, above the start.

    CUDA: ``torch.cuda.max_memory_allocated`` after a reset. CPU: the peak resident set ``VmHWM``
    after resetting it through ``/proc/self/clear_refs`` (after ``malloc_trim``); where that file is
    not writable, the lifetime peak ``ru_maxrss`` (:attr:`method` says which).
    """

    def __init__(self, device: str):
        self.device = str(device)
        self.method = None
        self.baseline = 0

    def current(self) -> int:
        gc.collect()
        _malloc_trim()
        sync(self.device)
        if self.device.startswith("cuda"):
            return torch.cuda.memory_allocated()
        return (_status_kb("VmRSS") or 0) * 1024

    def start(self, baseline: int | None = None) -> None:
        """Reset the peak; memory counted above ``baseline`` (default: what is in use now)."""
        now = self.current()
        self.baseline = now if baseline is None else baseline
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            self.method = "cuda_max_memory_allocated"
        elif _reset_peak_rss():
            self.method = "cpu_vmhwm"
        else:
            self.method = "cpu_ru_maxrss"

    def peak(self) -> int:
        sync(self.device)
        if self.device.startswith("cuda"):
            peak = torch.cuda.max_memory_allocated()
        elif self.method == "cpu_vmhwm":
            peak = (_status_kb("VmHWM") or 0) * 1024
        else:
            import resource
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return peak - self.baseline


# ---------------------------------------------------------------------------------- statistics
def summarize(samples: list[float]) -> tuple[float, list[float]]:
    """Median and ``[min, max]``."""
    return statistics.median(samples), [min(samples), max(samples)]


def ratio(value, reference):
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def paired_ratio(samples: list[float], reference: list[float], confidence: float = 0.95,
                 seed: int = 0) -> dict | None:
    """Median over rounds of ``samples[i] / reference[i]`` (both timed in the same round-robin
    round, so a slow phase of the machine cancels) and a bootstrap confidence interval of that
    median (rounds resampled with replacement, :data:`BOOTSTRAP` times)."""
    ratios = [a / b for a, b in zip(samples, reference) if b > 0]
    if not ratios:
        return None
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(BOOTSTRAP))
    tail = (1 - confidence) / 2
    low, high = medians[int(tail * BOOTSTRAP)], medians[min(BOOTSTRAP - 1, int((1 - tail) * BOOTSTRAP))]
    return {"median": statistics.median(ratios), "ci": [low, high], "confidence": confidence,
            "rounds": len(ratios), "per_round": ratios}


def verdict(summary: dict | None, target: float) -> str:
    """``meets`` when the whole CI is ≤ target, ``misses`` when it is all above, else ``within noise``."""
    if summary is None:
        return "not measured"
    low, high = summary["ci"]
    if high <= target:
        return "meets"
    if low > target:
        return "misses"
    return "within noise"
