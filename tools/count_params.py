#!/usr/bin/env python
"""Trainable-parameter report, computed from instantiated modules (real configs on the meta device).

Usage:
    python tools/count_params.py --recipe recipes/GTZAN/key/hparams/default.yaml [--method lora]
        [--backbone musicfm_msd] [--key=value ...]       # exactly what that recipe trains
    python tools/count_params.py --table ding2024          # seed 001, Table 3 (MusicFM, MERT; 6 layers)
    python tools/count_params.py --table cappellazzo2024   # seed 002, Tables I, III-VII (AST; 12 layers)
    python tools/count_params.py --backbone ast --method lora --options '{"rank": 6}' [--num_layers N]
        [--classes C] [--head linear|mlp] [--config real|tiny]
    python tools/count_params.py --backbone mert --num_layers 6 --preset seed001/adapter [--options '{...}']

``--recipe`` resolves the recipe's yaml as training would (its ``backbone`` and ``method`` pieces,
``--key=value`` overrides, e.g. ``--petl="{options: {rank: 4}}"``), builds the backbone it names
with its real sizes on the meta device (no weights, no data) and applies its method.

Each table row is a recipe's configuration: seed 001's rows are ``MagnaTagATune/tagging`` with
``--backbone`` ``mert_95m`` / ``musicfm_msd`` and ``--method`` a piece of
``recipes/hparams_common/methods/seed001``; seed 002's rows are ``ESC50/classification`` (the
10-class linear probe: ``UrbanSound8K``) with a piece of ``methods/seed002``. Tables are CSV:
``table,paper_table,method,recipe,backbone,piece,trainable,head,unused,paper,match,note``.
``trainable`` excludes the classification head (reported in ``head``); ``paper`` is the published
count: seed 001's exact, seed 002's as printed (in K or M). ``match``: ``trainable`` (plus ``head``
for the linear probe, whose published count includes it; for FT plus ``unused``, the parameters
the published model builds but never runs) equals an exact count, or is within one unit of the
last printed digit of a rounded one (``249K``: 248,001 ... 249,999). Exits 2 with a one-line
message on bad names or options (``--num_layers`` >= 1, ``--classes`` >= 0, checked before anything is
built; the old spelling ``--num-layers`` still works, with a deprecation line).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import sys
import warnings

import torch
import yaml
from torch import nn

from petl_core.cli_args import add_option, int_range

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHOD_PIECES = os.path.join(ROOT, "recipes", "hparams_common", "methods")
HEADS = ("linear", "mlp")

MTAT = "recipes/MagnaTagATune/tagging/hparams/default.yaml"
ESC50 = "recipes/ESC50/classification/hparams/default.yaml"
US8K = "recipes/UrbanSound8K/classification/hparams/default.yaml"
BACKBONE_PIECES = {"musicfm": "musicfm_msd", "mert": "mert_95m"}

# (label, backbone, method piece of methods/seed001, paper count, note). Recipe: MagnaTagATune/tagging.
DING2024 = [
    ("FT", "musicfm", "ft", 179_679_360,
     "whole truncated backbone incl. front end; match adds the published but never-run positional conv"),
    ("FT", "mert", "ft", 51_843_712, "whole truncated backbone incl. conv front end"),
    ("Adapter", "musicfm", "adapter", 657_696, "h + A(h) after the ffn1, mhsa and ffn2 residual adds + 4 block norms"),
    ("Adapter", "mert", "adapter", 322_752,
     "h + A(h) after the mhsa and ffn residual adds (before each post-LN) + 2 norms"),
    ("Prompt", "musicfm", "prompt", 65_536, "64 shallow prompts"),
    ("Prompt", "mert", "prompt", 49_152, "64 shallow prompts"),
    ("Prefix", "musicfm", "prefix", 9_649_152, "Li & Liang MLP reparameterisation, 32 prefixes"),
    ("Prefix", "mert", "prefix", 7_385_088, "MLP reparameterisation; the published MERT number needs num_prefixes: 64"),
    ("BitFit", "musicfm", "bitfit", 116_736, "by_backbone musicfm: conv_batchnorm_bias (conv-module BatchNorm bias)"),
    ("BitFit", "mert", "bitfit", 50_688, ""),
    ("SSF", "musicfm", "ssf", 190_464,
     "by_backbone musicfm: conv_scale (scale-only on both pointwise convs: 3d per layer)"),
    ("SSF", "mert", "ssf", 82_944, ""),
    ("LoRA", "musicfm", "lora", 405_504, "rank 2: q,k,v,o, both macaron FFNs and both pointwise convs"),
    ("LoRA", "mert", "lora", 165_888, "rank 2: q,k,v,o and both FFN linears"),
]
# (paper table, label, method piece of methods/seed002, paper count as printed, note[, classes, recipe]).
# Recipe: ESC50/classification (50 classes) unless given. Tables III and VII print no counts: their
# configurations are RR-64 bottleneck adapters, as Table I's (249K).
CAPPELLAZZO2024 = [
    ("I", "Full FT", "ft", "85.5M", "every AST tensor at ESC-50's 500 frames (590 positions): 85.7M; 400 frames "
     "(US8K, FSC) 85.6M, 100 (GSC) 85.3M: no recipe's length gives 85.5M"),
    ("I", "Linear (10 classes)", "linear", "9K", "final LayerNorm + head Linear(768,10) (9,226)", 10, US8K),
    ("I", "Linear (50 classes)", "linear", "40K", "final LayerNorm + head Linear(768,50) (39,986)", 50),
    ("I", "BitFit", "bitfit", "102K", "incl. the final LayerNorm bias"),
    ("I", "SPT-300", "prompt_shallow", "230K", "shallow"),
    ("I", "DPT-25", "prompt", "230K", "deep"),
    ("I", "Pref-T 24", "prefix", "221K", "12 key + 12 value prefixes per layer, no MLP"),
    ("I", "Bottleneck PF par", "adapter_pf_par", "249K",
     "MHSA Par-Before x + f(LN x) + A(LN x); b = 12; + layernorm_before"),
    ("I", "Bottleneck PF seq", "adapter_pf_seq", "249K",
     "FFN Seq-After x + f(LN x) + A(f(LN x)); b = 12; + layernorm_after"),
    ("I", "Bottleneck HOU par", "adapter_hou_par", "498K", "Par-Before at MHSA and FFN + both block norms"),
    ("I", "Bottleneck HOU seq", "adapter_hou_seq", "498K", "Seq-After at MHSA and FFN + both block norms"),
    ("I", "Convpass PF par", "convpass_pf_par", "254K",
     "as Bottleneck PF par; conv: 1d (kernel 3 over tokens, PETL_AST's)"),
    ("I", "Convpass PF seq", "convpass_pf_seq", "254K", "as Bottleneck PF seq; conv: 1d"),
    ("I", "Convpass HOU par", "convpass_hou_par", "508K", "as Bottleneck HOU par; conv: 1d"),
    ("I", "Convpass HOU seq", "convpass_hou_seq", "508K", "as Bottleneck HOU seq; conv: 1d"),
    ("I", "LoRA", "lora", "221K", "W_q, W_v, r = 768/128 = 6, s = 8/128"),
    ("III", "FFN-Seq/Par-After", "adapter_pf_seq", "249K", "no count printed; = Table I PF seq"),
    ("III", "FFN-Seq-Before", "adapter_ffn_seq_before", "249K", "no count printed"),
    ("III", "FFN-Par-Before", "adapter", "249K", "no count printed"),
    ("III", "MHSA-Seq/Par-After", "adapter_mhsa_seq_after", "249K", "no count printed"),
    ("III", "MHSA-Seq-Before", "adapter_mhsa_seq_before", "249K", "no count printed"),
    ("III", "MHSA-Par-Before", "adapter_pf_par", "249K", "no count printed; = Table I PF par"),
    ("IV", "W_q (RR 64)", "lora_q", "221K", "the text's constant budget (221K)"),
    ("IV", "W_q, W_k (RR 128)", "lora_qk", "221K", ""),
    ("IV", "W_q, W_v (RR 128)", "lora", "221K", "= Table I LoRA"),
    ("IV", "W_q, W_k, W_v, W_o (RR 256)", "lora_qkvo", "221K", ""),
    ("V", "PF FFN-Seq-After", "adapter_pf_seq", "249K", ""),
    ("V", "PF MHSA-Par-Before", "adapter_pf_par", "249K", ""),
    ("V", "PF FFN-Seq-After x2", "adapter_pf_seq_x2", "470K", "RR 32 (b = 24)"),
    ("V", "PF MHSA-Par-Before x2", "adapter_pf_par_x2", "470K", "RR 32 (b = 24)"),
    ("V", "HOU seq", "adapter_hou_seq", "498K", ""),
    ("V", "HOU par", "adapter_hou_par", "498K", ""),
    ("V", "HOU mixed", "adapter_hou_mixed", "498K", "parallel before the MHSA + sequential after the FFN"),
    ("V", "HYDRA FFN", "adapter_hydra_ffn", "470K",
     "sequential after + parallel before the FFN, RR 64 each; no integer bottleneck gives 470K (b=11: 442,632)"),
    ("VI", "PF MHSA-Par-Before x2", "adapter_pf_par_x2", "470K", ""),
    ("VI", "HOU par", "adapter_hou_par", "498K", ""),
    ("VI", "LoRA", "lora_rr64", "442k", "W_q, W_v, RR 64 (r = 12)"),
    ("VI", "Adapter + LoRA", "adapter_lora", "470K",
     "adapter parallel before the FFN (RR 64) + LoRA W_q, W_v (RR 128)"),
    ("VI", "Adapter + DPT-25", "adapter_prompt", "479K", "adapter parallel before the FFN + 25 deep prompts"),
    ("VI", "Adapter + DPT-14 + LoRA", "adapter_prompt_lora", "488K", "adapter + 14 deep prompts + LoRA RR 256"),
    ("VII", "Seq, residual", "adapter_pf_seq", "249K", "no count printed; x + f + A(f)"),
    ("VII", "Seq, no residual", "adapter_pf_seq_noresidual", "249K", "no count printed; x + A(f)"),
    ("VII", "Par, no residual", "adapter", "249K", "no count printed; x + f + A(LN x)"),
    ("VII", "Par, residual", "adapter_ffn_par_before_residual", "249K", "no count printed; x + f + LN x + A(LN x)"),
]
TABLES = ("ding2024", "cappellazzo2024")
COLUMNS = ["table", "paper_table", "method", "recipe", "backbone", "piece", "trainable", "head", "unused", "paper",
           "match", "note"]


def make_head(kind: str, hidden: int, classes: int) -> nn.Module:
    if kind == "mlp":  # seed 001: Linear(d,d) -> Dropout -> ReLU -> Linear(d,C)
        return nn.Sequential(nn.Linear(hidden, hidden), nn.Dropout(0.5), nn.ReLU(), nn.Linear(hidden, classes))
    return nn.Linear(hidden, classes)


def count(backbone_name: str, method: str, options: dict | None, num_layers: int | None = None,
          classes: int = 50, head: str = "linear", config: str = "real", **backbone_options) -> dict:
    """Build ``backbone_name`` on the meta device, apply ``method`` and count."""
    from lobes import build_backbone
    from petl_modules import apply_petl, count_parameters

    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        level = logging.getLogger("lobes").level
        logging.getLogger("lobes").setLevel(logging.ERROR)
        try:
            backbone = build_backbone(backbone_name, config=config, num_layers=num_layers, **backbone_options)
        finally:
            logging.getLogger("lobes").setLevel(level)
        apply_petl(backbone, method, options)
        head_module = make_head(head, backbone.hidden_size, classes)
    counts = count_parameters(backbone, head=head_module)
    counts["published_unused"] = getattr(backbone, "published_unused_parameters", 0)
    return counts


def method_preset(name: str) -> dict:
    """``{"name", "options"}`` of the method piece ``recipes/hparams_common/methods/<name>.yaml``
    (``name`` may name a paper's folder: ``seed002/adapter_pf_par``)."""
    path = os.path.join(METHOD_PIECES, f"{name}.yaml")
    if not os.path.isfile(path):
        raise ValueError(f"no method preset {name!r} ({path} not found)")
    with open(path, encoding="utf-8") as f:
        piece = yaml.safe_load(f) or {}
    if not isinstance(piece, dict) or set(piece) - {"name", "options"} or "name" not in piece:
        raise ValueError(f"{path}: a method preset is a mapping with 'name' and 'options'")
    return {"name": piece["name"], "options": piece.get("options") or {}}


def recipe_configuration(hparams: str, overrides: dict | None = None) -> tuple[dict, dict]:
    """``(backbone arguments, {"name", "options"})`` that ``hparams`` (with ``overrides``) trains:
    its yaml resolved as training resolves it (pieces, references, overrides), nothing built."""
    from petl_core.config import resolve, resolved_node

    if not os.path.isfile(hparams):
        raise ValueError(f"no recipe hparams file {hparams!r}")
    with open(hparams, encoding="utf-8") as f:
        text = f.read()
    overrides = dict(overrides or {})
    for key in re.findall(r"^(\w+):\s*!PLACEHOLDER", text, re.M):  # e.g. data_folder: not read here
        overrides.setdefault(key, "unused-by-count_params")
    resolved = resolve(hparams, overrides)
    encoder, petl = resolved_node(resolved, "encoder"), resolved_node(resolved, "petl")
    if not isinstance(encoder, dict) or "name" not in encoder or not isinstance(petl, dict) or "name" not in petl:
        raise ValueError(f"{hparams}: a recipe names its backbone in 'encoder' and its method in 'petl' "
                         "(hparams_common pieces)")
    return encoder, {"name": petl["name"], "options": petl.get("options") or {}}


def count_recipe(hparams: str, overrides: dict | None = None, classes: int = 1, head: str = "linear") -> dict:
    """The counts of exactly the configuration ``hparams`` trains, real sizes, no weights, no data."""
    encoder, petl = recipe_configuration(hparams, overrides)
    args = dict(encoder)
    name = args.pop("name")
    args.pop("pretrained", None)  # the real sizes of the named checkpoint; no weights
    args.setdefault("config", "real")
    counts = count(name, petl["name"], petl["options"], classes=classes, head=head, **args)
    counts["method"] = petl["name"]
    return counts


def paper_match(value: int, paper) -> bool:
    """``value`` equals an exact published count, or lies within one unit of the last printed digit
    of a rounded one (``"249K"``, ``"85.5M"``)."""
    if isinstance(paper, int):
        return value == paper
    number, unit = re.fullmatch(r"([\d.]+)([KkM])", paper).groups()
    scale = 1_000 if unit in "Kk" else 1_000_000
    digits = len(number.partition(".")[2])
    return abs(value - float(number) * scale) < scale / 10 ** digits


def table_rows(name: str) -> list[dict]:
    """The rows of ``name`` as (recipe, overrides, label, paper, note, classes) before counting."""
    if name == "ding2024":
        return [{"paper_table": "3", "method": label, "recipe": MTAT, "backbone": backbone,
                 "piece": f"seed001/{piece}", "overrides": {"backbone": BACKBONE_PIECES[backbone], "method": piece},
                 "paper": paper, "note": note, "classes": 50, "head_kind": "mlp"}
                for label, backbone, piece, paper, note in DING2024]
    if name == "cappellazzo2024":
        out = []
        for row in CAPPELLAZZO2024:
            table, label, piece, paper, note = row[:5]
            classes = row[5] if len(row) > 5 else 50
            recipe = row[6] if len(row) > 6 else ESC50
            out.append({"paper_table": table, "method": label, "recipe": recipe, "backbone": "ast",
                        "piece": f"seed002/{piece}", "overrides": {"method": piece}, "paper": paper, "note": note,
                        "classes": classes, "head_kind": "linear"})
        return out
    raise ValueError(f"unknown table {name!r}; valid: {', '.join(TABLES)}")


def compute_table(name: str) -> list[dict]:
    """One dict per row of the paper table, every count that of the recipe's configuration."""
    out = []
    for row in table_rows(name):
        c = count_recipe(os.path.join(ROOT, row["recipe"]), row["overrides"], row["classes"], row["head_kind"])
        value = c["trainable"] + c["head"] if c["method"] == "linear" else c["trainable"]
        if c["method"] == "ft":  # the published model builds modules it never runs (MusicFM's positional conv)
            value += c["published_unused"]
        out.append({"table": name, "paper_table": row["paper_table"], "method": row["method"],
                    "recipe": row["recipe"], "backbone": row["backbone"], "piece": row["piece"],
                    "trainable": c["trainable"], "head": c["head"], "unused": c["published_unused"],
                    "paper": row["paper"], "match": paper_match(value, row["paper"]), "note": row["note"]})
    return out


def parse_overrides(extra: list[str]) -> dict:
    """``--key=value`` words (value: yaml) -> overrides of a recipe's yaml."""
    out = {}
    for word in extra:
        match = re.fullmatch(r"--(\w+)=(.*)", word, re.S)
        if not match:
            raise ValueError(f"unknown argument {word!r} (recipe overrides are --key=value)")
        try:
            out[match.group(1)] = yaml.safe_load(match.group(2))
        except yaml.YAMLError as exc:
            raise ValueError(f"--{match.group(1)}: not valid yaml ({str(exc).splitlines()[0]})") from None
    return out


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """``(options, the --key=value recipe overrides)``; numbers out of range exit 2 (argparse)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", help="ding2024 or cappellazzo2024")
    parser.add_argument("--recipe", help="a recipe's hparams yaml: count what it trains")
    parser.add_argument("--backbone", help="a backbone name (with --recipe: a backbone piece)")
    parser.add_argument("--method", help="a method name (with --recipe: a method piece of the recipe)")
    parser.add_argument("--preset", help="a method piece of recipes/hparams_common/methods, e.g. seed002/lora")
    parser.add_argument("--options", default=None, help="JSON options of the method")
    add_option(parser, "--num_layers", old="--num-layers", type=int_range(1), default=None,
               help="backbone layers kept (>= 1; default: the configuration's)")
    parser.add_argument("--classes", type=int_range(0), default=None,
                        help="classes of the (separately counted) head (>= 0; default 0: no head)")
    parser.add_argument("--head", choices=HEADS, default=None, help="the head's kind (default: linear)")
    parser.add_argument("--config", choices=("real", "tiny"), default=None,
                        help="the backbone's sizes (default: real; with --recipe: the recipe's)")
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    from petl_core.entry import fail
    from petl_core.errors import ConfigError
    from petl_modules.common import PetlError

    try:
        if args.table:
            others = [f"--{key}" for key, value in vars(args).items() if key != "table" and value is not None]
            if others or extra:
                raise ValueError(f"--table counts the paper's rows as published; it takes no other option "
                                 f"(got {' '.join(others + extra)})")
            writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in compute_table(args.table):
                writer.writerow(row)
            return 0
        head = args.head or "linear"
        classes = args.classes if args.classes is not None else 0
        from petl_modules import format_counts

        if args.recipe:
            if args.preset or args.options is not None or args.num_layers is not None or args.config:
                raise ValueError("with --recipe, change the configuration as the recipe does: --method=PIECE, "
                                 "--backbone=PIECE, --petl=\"{options: {...}}\", --encoder=\"{num_layers: 4}\"")
            overrides = parse_overrides(extra)
            overrides.update({k: v for k, v in (("method", args.method), ("backbone", args.backbone)) if v})
            c = count_recipe(args.recipe, overrides, max(classes, 1), head)
        else:
            if extra:
                raise ValueError(f"unknown argument(s) {' '.join(extra)} (--key=value overrides need --recipe)")
            if not args.backbone or bool(args.method) == bool(args.preset):
                raise ValueError("give --table NAME, --recipe HPARAMS, or --backbone and one of --method / --preset")
            try:
                options = json.loads(args.options or "{}")
            except json.JSONDecodeError as exc:
                raise ValueError(f"--options is not valid JSON ({exc})") from None
            method = args.method
            if args.preset:
                piece = method_preset(args.preset)
                method, options = piece["name"], {**piece["options"], **options}
            c = count(args.backbone, method, options, args.num_layers, max(classes, 1), head, args.config or "real")
        if not classes:
            c["head"] = 0
        print(format_counts(c))
        return 0
    except (PetlError, ConfigError, ValueError, TypeError) as exc:
        return fail(exc, 2, first_line=True)


if __name__ == "__main__":
    sys.exit(main())
