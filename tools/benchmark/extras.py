"""Beside the methods' cost (``methods`` without ``--no_extras``): truncation (a forward of the kept
layers vs all of them) and the probe cache (a probing pass served by ``lobes.cache.FeatureCache``
vs one recomputing the frozen backbone), interleaved like the rest.

Example:
    python -m tools.benchmark methods --backbone mert --methods ft --quick --out /tmp/bench
"""
from __future__ import annotations

import statistics
import warnings

import torch

from lobes import build_backbone
from lobes.cache import FeatureCache
from tools.benchmark.common import autocast, classifier, make_batch, round_robin, share_weights_copy

TRUNCATION_TARGET = 0.55  # forward of the kept layers / forward of all 12
PROBE_CACHE_TARGET = 20.0  # probing pass recomputing the backbone / pass served by the cache


class Forward:
    """A ``no_grad`` forward of ``model`` on ``wav`` (optionally with cache keys)."""

    def __init__(self, model, wav, args, cache_keys=None):
        self.model, self.wav, self.args, self.cache_keys = model.eval(), wav, args, cache_keys

    @torch.no_grad()
    def __call__(self) -> None:
        with autocast(self.args.device, self.args.precision):
            self.model(self.wav, cache_keys=self.cache_keys)


class LayersOnly:
    """The transformer layers alone, on the embeddings of ``wav`` (the front end computed once)."""

    def __init__(self, backbone, wav, args):
        self.backbone, self.args = backbone.eval(), args
        with torch.no_grad():
            w, n = backbone.prepare_waveform(wav)
            self.x, mask = backbone.embed(*backbone.frontend(w, n))
            self.mask = None if bool(mask.all()) else mask  # unpadded: no attention mask, as a real forward

    @torch.no_grad()
    def __call__(self) -> None:
        with autocast(self.args.device, self.args.precision):
            x = self.x
            for layer in self.backbone.layers:
                x = self.backbone.call_layer(layer, x, self.mask)


def measure_extras(args, base) -> dict:
    wav, _ = make_batch(args.batch, args.seconds, base.sample_rate, args.device, args.seed)
    keys = [f"clip{i}" for i in range(wav.shape[0])]
    probe = classifier(share_weights_copy(base).requires_grad_(False))
    cached = type(probe)(share_weights_copy(base).requires_grad_(False), probe.head)
    cached.backbone.feature_cache = FeatureCache()
    steps = {"recompute": Forward(probe.to(args.device), wav, args),
             "cached": Forward(cached.to(args.device), wav, args, keys)}
    extras = {}
    full = base.full_num_layers
    if base.num_layers < full or args.config == "real":
        kept = base.num_layers if base.num_layers < full else full // 2
        options = {"max_length": base.max_length} if args.backbone == "ast" else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for n in (kept, full):
                torch.manual_seed(args.seed)
                backbone = build_backbone(args.backbone, config=args.config, num_layers=n, **options)
                model = classifier(backbone).to(args.device).requires_grad_(False)
                steps[f"layers{n}"] = Forward(model, wav, args)
                steps[f"layers_only{n}"] = LayersOnly(model.backbone, wav, args)
        extras["truncation"] = {"layers": [kept, full], "target": TRUNCATION_TARGET}
    times = round_robin(steps, args.repeats, args.warmup, args.device, clock=args.clock)
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


def print_extras(extras: dict) -> None:
    if "truncation" in extras:
        t = extras["truncation"]
        print(f"truncation: {t['layers'][0]} of {t['layers'][1]} layers = {t['ratio']:.2f} x the full forward, "
              f"{t['layers_only_ratio']:.2f} x for the layers alone (target <= {t['target']})")
    if "probe_cache" in extras:
        c = extras["probe_cache"]
        print(f"probe cache: {c['speedup']:.1f} x faster than recomputing (target >= {c['target']:.0f})")
