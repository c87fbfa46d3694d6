#!/usr/bin/env python
"""Trainable-parameter report, computed from instantiated modules (real configs on the meta device).

Usage:
    python tools/count_params.py --table ding2024          # seed 001, Table 3 (MusicFM, MERT; 6 layers)
    python tools/count_params.py --table cappellazzo2024   # seed 002, Table I (AST; 12 layers)
    python tools/count_params.py --backbone ast --method lora --options '{"rank": 6}' [--num-layers N]
        [--classes C] [--head linear|mlp] [--config real|tiny]

Tables are CSV: ``table,backbone,method,options,trainable,head,paper,match,note``. ``trainable``
excludes the classification head (reported in ``head``); ``paper`` is the published count and
``match`` compares it with ``trainable`` (``trainable + head`` for the linear probe, whose
published count includes the head). Exits 2 with a one-line message on bad names or options.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import warnings

import torch
from torch import nn

HEADS = ("linear", "mlp")

# (label, backbone, method, options, paper count, note). Head: seed 001 = MLP head on 50 tags,
# seed 002 = Linear head on the 50 ESC-50 classes unless the row says otherwise.
DING2024 = [
    ("FT", "musicfm", "ft", {}, 179_679_360, "whole truncated backbone incl. front end and the unused positional conv"),
    ("FT", "mert", "ft", {}, 51_843_712, "whole truncated backbone incl. conv front end"),
    ("Adapter", "musicfm", "adapter", {"style": "houlsby", "bottleneck": 16, "unfreeze_norms": True}, 657_696,
     "3 adapters per layer (ffn1, mhsa, ffn2) + 4 block LayerNorms unfrozen (unfreeze_norms: true)"),
    ("Adapter", "mert", "adapter", {"style": "houlsby", "bottleneck": 16, "unfreeze_norms": True}, 322_752,
     "2 adapters per layer (mhsa, ffn) + 2 block LayerNorms unfrozen (unfreeze_norms: true)"),
    ("Prompt", "musicfm", "prompt", {"num_prompts": 64}, 65_536, "shallow"),
    ("Prompt", "mert", "prompt", {"num_prompts": 64}, 49_152, "shallow"),
    ("Prefix", "musicfm", "prefix", {"num_prefixes": 32, "reparam": "mlp", "mlp_hidden": 512}, 9_649_152,
     "Li & Liang MLP reparameterisation"),
    ("Prefix", "mert", "prefix", {"num_prefixes": 64, "reparam": "mlp", "mlp_hidden": 512}, 7_385_088,
     "MLP reparameterisation; the published MERT number needs num_prefixes: 64 (not 32)"),
    ("BitFit", "musicfm", "bitfit", {"conv_batchnorm_bias": True}, 116_736,
     "non-default conv_batchnorm_bias: true (conv-module BatchNorm bias)"),
    ("BitFit", "mert", "bitfit", {}, 50_688, ""),
    ("SSF", "musicfm", "ssf", {"conv_scale": True}, 190_464,
     "non-default conv_scale: true (scale-only on both pointwise convs: 3d per layer)"),
    ("SSF", "mert", "ssf", {}, 82_944, ""),
    ("LoRA", "musicfm", "lora", {"rank": 2, "targets": ["q", "k", "v", "o", "ffn", "conv_pw1", "conv_pw2"]},
     405_504, "targets: q,k,v,o, both macaron FFNs and both pointwise convs"),
    ("LoRA", "mert", "lora", {"rank": 2, "targets": ["q", "k", "v", "o", "ffn"]}, 165_888, ""),
]
_RR64 = {"reduction_rate": 64, "layer_norm": True}
CAPPELLAZZO2024 = [
    ("BitFit", "ast", "bitfit", {}, 102_144, "incl. final LayerNorm bias"),
    ("SPT-300", "ast", "prompt", {"num_prompts": 300}, 230_400, "shallow"),
    ("DPT-25", "ast", "prompt", {"num_prompts": 25, "deep": True}, 230_400, "deep"),
    ("Prefix-24", "ast", "prefix", {"num_prefixes": 12}, 221_184, "12 key + 12 value prefixes per layer, no MLP"),
    ("Bottleneck Pfeiffer", "ast", "adapter", {"style": "pfeiffer", **_RR64}, 248_976, "b = 768/64 = 12, own LayerNorm"),
    ("Bottleneck Houlsby", "ast", "adapter", {"style": "houlsby", **_RR64}, 497_952, "b = 12, own LayerNorm"),
    ("Convpass Pfeiffer", "ast", "convpass", {"style": "pfeiffer", **_RR64, "conv": "1d"}, 254_304,
     "conv: '1d' passed explicitly (kernel 3 over tokens, 3b^2+b; our AST default is the 2-d 3x3 grid conv)"),
    ("Convpass Houlsby", "ast", "convpass", {"style": "houlsby", **_RR64, "conv": "1d"}, 508_608,
     "conv: '1d' passed explicitly (see Convpass Pfeiffer)"),
    ("LoRA (W_q, W_v)", "ast", "lora", {"rank": 6, "targets": ["q", "v"]}, 221_184, "r = 768/128 = 6"),
    ("Linear probe (10 classes)", "ast", "linear", {}, 9_226,
     "paper count = trainable (final LayerNorm) + head Linear(768,10)", 10),
    ("Linear probe (50 classes)", "ast", "linear", {}, 39_986,
     "paper count = trainable (final LayerNorm) + head Linear(768,50)", 50),
]
TABLES = {"ding2024": (DING2024, 6, "mlp", 50), "cappellazzo2024": (CAPPELLAZZO2024, 12, "linear", 50)}
COLUMNS = ["table", "backbone", "method", "options", "trainable", "head", "paper", "match", "note"]


def make_head(kind: str, hidden: int, classes: int) -> nn.Module:
    if kind == "mlp":  # seed 001: Linear(d,d) -> Dropout -> ReLU -> Linear(d,C)
        return nn.Sequential(nn.Linear(hidden, hidden), nn.Dropout(0.5), nn.ReLU(), nn.Linear(hidden, classes))
    return nn.Linear(hidden, classes)


def count(backbone_name: str, method: str, options: dict | None, num_layers: int | None = None,
          classes: int = 50, head: str = "linear", config: str = "real") -> dict:
    """Build ``backbone_name`` on the meta device, apply ``method`` and count."""
    from lobes import build_backbone
    from petl_modules import apply_petl, count_parameters

    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        level = logging.getLogger("lobes").level
        logging.getLogger("lobes").setLevel(logging.ERROR)
        try:
            backbone = build_backbone(backbone_name, config=config, num_layers=num_layers)
        finally:
            logging.getLogger("lobes").setLevel(level)
        apply_petl(backbone, method, options)
        head_module = make_head(head, backbone.hidden_size, classes)
    return count_parameters(backbone, head=head_module)


def compute_table(name: str) -> list[dict]:
    """One dict per row of the paper table, every count computed from the instantiated modules."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; valid: {', '.join(TABLES)}")
    rows, layers, head_kind, default_classes = TABLES[name]
    out = []
    for row in rows:
        label, backbone, method, options, paper, note = row[:6]
        classes = row[6] if len(row) > 6 else default_classes
        c = count(backbone, method, options, layers, classes, head_kind)
        value = c["trainable"] + c["head"] if method == "linear" else c["trainable"]
        out.append({"table": name, "backbone": backbone, "method": label,
                    "options": json.dumps({"method": method, **options}, separators=(",", ":")),
                    "trainable": c["trainable"], "head": c["head"], "paper": paper,
                    "match": value == paper, "note": note})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", help="ding2024 or cappellazzo2024")
    parser.add_argument("--backbone")
    parser.add_argument("--method")
    parser.add_argument("--options", default="{}", help="JSON options of the method")
    parser.add_argument("--num-layers", type=int, default=None)
    parser.add_argument("--classes", type=int, default=None, help="classes of the (separately counted) head")
    parser.add_argument("--head", default="linear", help="linear or mlp")
    parser.add_argument("--config", default="real", help="real or tiny")
    args = parser.parse_args(argv)
    from petl_modules.common import PetlError
    try:
        if args.table:
            writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in compute_table(args.table):
                writer.writerow(row)
            return 0
        if not args.backbone or not args.method:
            raise ValueError("give --table NAME, or --backbone and --method")
        if args.head not in HEADS:
            raise ValueError(f"unknown head {args.head!r}; valid: {', '.join(HEADS)}")
        if args.config not in ("real", "tiny"):
            raise ValueError(f"unknown config {args.config!r}; valid: real, tiny")
        try:
            options = json.loads(args.options)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--options is not valid JSON ({exc})") from None
        classes = args.classes if args.classes is not None else 0
        if classes < 0:
            raise ValueError("--classes must be positive")
        from petl_modules import format_counts

        c = count(args.backbone, args.method, options, args.num_layers, max(classes, 1), args.head, args.config)
        if not classes:
            c["head"] = 0
        print(format_counts(c))
        return 0
    except (PetlError, ValueError, TypeError) as exc:
        print(f"count_params: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
