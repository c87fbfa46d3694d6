#!/usr/bin/env python
"""Trainable-parameter report, computed from instantiated modules (real configs on the meta device).

Usage:
    python tools/count_params.py --table ding2024          # seed 001, Table 3 (MusicFM, MERT; 6 layers)
    python tools/count_params.py --table cappellazzo2024   # seed 002, Table I (AST; 12 layers)
    python tools/count_params.py --backbone ast --method lora --options '{"rank": 6}' [--num-layers N]
        [--classes C] [--head linear|mlp] [--config real|tiny]
    python tools/count_params.py --backbone mert --num-layers 6 --preset adapter_seed001 [--options '{...}']

Tables are CSV: ``table,backbone,method,options,trainable,head,unused,paper,match,note``. ``trainable``
excludes the classification head (reported in ``head``); ``paper`` is the published count and
``match`` compares it with ``trainable`` (``trainable + head`` for the linear probe, whose
published count includes the head; for FT plus ``unused``, the parameters the published model builds
but never runs: the backbone's ``published_unused_parameters``). Exits 2 with a one-line message on
bad names or options.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import warnings

import torch
import yaml
from torch import nn

HEADS = ("linear", "mlp")

# (label, backbone, method, options, paper count, note). ``options`` None: ``method`` is a preset of
# recipes/hparams_common/methods/ (the configuration the recipes train). Head: seed 001 = MLP head on
# 50 tags, seed 002 = Linear head on the 50 ESC-50 classes unless the row says otherwise.
DING2024 = [
    ("FT", "musicfm", "ft", {}, 179_679_360,
     "whole truncated backbone incl. front end; match adds the published but never-run positional conv"),
    ("FT", "mert", "ft", {}, 51_843_712, "whole truncated backbone incl. conv front end"),
    ("Adapter", "musicfm", "adapter_seed001", None, 657_696,
     "preset adapter_seed001: h + A(h) after the ffn1, mhsa and ffn2 residual adds + the 4 block LayerNorms"),
    ("Adapter", "mert", "adapter_seed001", None, 322_752,
     "preset adapter_seed001: h + A(h) after the mhsa and ffn residual adds (before each post-LN) + both LayerNorms"),
    ("Prompt", "musicfm", "prompt", {"num_prompts": 64}, 65_536, "shallow"),
    ("Prompt", "mert", "prompt", {"num_prompts": 64}, 49_152, "shallow"),
    ("Prefix", "musicfm", "prefix", {"num_prefixes": 32, "reparam": "mlp"}, 9_649_152,
     "Li & Liang MLP reparameterisation"),
    ("Prefix", "mert", "prefix", {"num_prefixes": 64, "reparam": "mlp"}, 7_385_088,
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
CAPPELLAZZO2024 = [
    ("BitFit", "ast", "bitfit", {}, 102_144, "incl. final LayerNorm bias"),
    ("SPT-300", "ast", "prompt", {"num_prompts": 300}, 230_400, "shallow"),
    ("DPT-25", "ast", "prompt", {"num_prompts": 25, "deep": True}, 230_400, "deep"),
    ("Prefix-24", "ast", "prefix", {"num_prefixes": 12}, 221_184, "12 key + 12 value prefixes per layer, no MLP"),
    ("Bottleneck PF par", "ast", "adapter_pf_par", None, 248_976,
     "MHSA Par-Before x + f(LN x) + A(LN x); b = round(768/64) = 12; + layernorm_before"),
    ("Bottleneck PF seq", "ast", "adapter_pf_seq", None, 248_976,
     "FFN Seq-After x + f(LN x) + A(f(LN x)); b = 12; + layernorm_after"),
    ("Bottleneck HOU par", "ast", "adapter_hou_par", None, 497_952, "Par-Before at MHSA and FFN + both block norms"),
    ("Bottleneck HOU seq", "ast", "adapter_hou_seq", None, 497_952, "Seq-After at MHSA and FFN + both block norms"),
    ("Convpass PF par", "ast", "convpass_pf_par", None, 254_304,
     "as Bottleneck PF par; conv: '1d' (kernel 3 over tokens, 3b^2+b, PETL_AST's; our AST default is the 3x3 grid)"),
    ("Convpass PF seq", "ast", "convpass_pf_seq", None, 254_304, "as Bottleneck PF seq; conv: '1d'"),
    ("Convpass HOU par", "ast", "convpass_hou_par", None, 508_608, "as Bottleneck HOU par; conv: '1d'"),
    ("Convpass HOU seq", "ast", "convpass_hou_seq", None, 508_608, "as Bottleneck HOU seq; conv: '1d'"),
    ("LoRA (W_q, W_v)", "ast", "lora", {"rank": 6, "targets": ["q", "v"]}, 221_184, "r = 768/128 = 6"),
    ("Linear probe (10 classes)", "ast", "linear", {}, 9_226,
     "paper count = trainable (final LayerNorm) + head Linear(768,10)", 10),
    ("Linear probe (50 classes)", "ast", "linear", {}, 39_986,
     "paper count = trainable (final LayerNorm) + head Linear(768,50)", 50),
]
TABLES = {"ding2024": (DING2024, 6, "mlp", 50), "cappellazzo2024": (CAPPELLAZZO2024, 12, "linear", 50)}
COLUMNS = ["table", "backbone", "method", "options", "trainable", "head", "unused", "paper", "match", "note"]


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
    counts = count_parameters(backbone, head=head_module)
    counts["published_unused"] = getattr(backbone, "published_unused_parameters", 0)
    return counts


METHOD_PRESETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes",
                              "hparams_common", "methods")


def method_preset(name: str) -> dict:
    """``{"name", "options"}`` of the method piece ``recipes/hparams_common/methods/<name>.yaml``."""
    path = os.path.join(METHOD_PRESETS, f"{name}.yaml")
    if not os.path.isfile(path):
        raise ValueError(f"no method preset {name!r} ({path} not found)")
    with open(path, encoding="utf-8") as f:
        piece = yaml.safe_load(f) or {}
    if not isinstance(piece, dict) or set(piece) - {"name", "options"} or "name" not in piece:
        raise ValueError(f"{path}: a method preset is a mapping with 'name' and 'options'")
    return {"name": piece["name"], "options": piece.get("options") or {}}


def compute_table(name: str) -> list[dict]:
    """One dict per row of the paper table, every count computed from the instantiated modules."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; valid: {', '.join(TABLES)}")
    rows, layers, head_kind, default_classes = TABLES[name]
    out = []
    for row in rows:
        label, backbone, method, options, paper, note = row[:6]
        classes = row[6] if len(row) > 6 else default_classes
        described = {"method": method, **(options or {})}
        if options is None:
            described = {"preset": method, **method_preset(method)}
            method, options = described["name"], described["options"]
        c = count(backbone, method, options, layers, classes, head_kind)
        value = c["trainable"] + c["head"] if method == "linear" else c["trainable"]
        if method == "ft":  # the published model builds modules it never runs (MusicFM's positional conv)
            value += c["published_unused"]
        out.append({"table": name, "backbone": backbone, "method": label,
                    "options": json.dumps(described, separators=(",", ":")),
                    "trainable": c["trainable"], "head": c["head"], "unused": c["published_unused"], "paper": paper,
                    "match": value == paper, "note": note})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", help="ding2024 or cappellazzo2024")
    parser.add_argument("--backbone")
    parser.add_argument("--method")
    parser.add_argument("--preset", help="a method preset of recipes/hparams_common/methods (instead of --method)")
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
        if not args.backbone or bool(args.method) == bool(args.preset):
            raise ValueError("give --table NAME, or --backbone and one of --method / --preset")
        if args.head not in HEADS:
            raise ValueError(f"unknown head {args.head!r}; valid: {', '.join(HEADS)}")
        if args.config not in ("real", "tiny"):
            raise ValueError(f"unknown config {args.config!r}; valid: real, tiny")
        try:
            options = json.loads(args.options)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--options is not valid JSON ({exc})") from None
        method = args.method
        if args.preset:
            piece = method_preset(args.preset)
            method, options = piece["name"], {**piece["options"], **options}
        classes = args.classes if args.classes is not None else 0
        if classes < 0:
            raise ValueError("--classes must be positive")
        from petl_modules import format_counts

        c = count(args.backbone, method, options, args.num_layers, max(classes, 1), args.head, args.config)
        if not classes:
            c["head"] = 0
        print(format_counts(c))
        return 0
    except (PetlError, ValueError, TypeError) as exc:
        print(f"count_params: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
