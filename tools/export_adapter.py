#!/usr/bin/env python3
"""Export a finished run's adapter (best-validation checkpoint) with its model card; optionally push it.

Rebuilds the run's model as ``tools/predict.py`` does (:func:`petl_core.inference.load_run`: the
run's yaml, its seed, the checkpoint the test evaluation used; ``--checkpoint`` picks another) and
writes the adapter folder with :func:`petl_modules.save_adapter`: this toolkit's format (every
method), or ``--format peft`` (LoRA on AST / MERT / HuBERT / wav2vec2 / data2vec, loadable with
``peft.PeftModel.from_pretrained`` on the plain transformers model). The folder's ``README.md`` is
a Hub model card with the run's dataset, task, valid/test metrics (``results.json``) and the
command that re-trains it. ``--push_to_hub OWNER/NAME`` uploads the folder with
``huggingface_hub.upload_folder`` (a logged-in token, ``hf auth login``); offline
(``HF_HUB_OFFLINE=1``) or on an upload failure the folder is still written and the error says so.

    python tools/export_adapter.py results/SynthMusic/key/1234 --out exports/key_lora
    python tools/export_adapter.py results/GTZAN/genre/1234 --out exports/gtzan_peft --format peft \\
        --push_to_hub me/ast-lora-gtzan

Exit status: 0 on success; 1 with a one-line message naming the path (an unusable run or
checkpoint, an ``--out`` that already holds an adapter without ``--overwrite``, a method the
peft format cannot express, a failed push); 2 on bad arguments (a repository id that is not
OWNER/NAME, ``--private`` without ``--push_to_hub``). The old spelling ``--push-to-hub`` still works,
with a deprecation line.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from petl_core.cli_args import add_option
from petl_core.entry import error_message, fail

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python tools/export_adapter.py results/SynthMusic/key/1234 "
                                            "--out exports/key_lora --format peft",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a finished training run's output folder (holds results.json, save/)")
    parser.add_argument("--out", required=True, help="the adapter folder to write")
    parser.add_argument("--format", choices=["petl", "peft"], default="petl",
                        help="petl: this toolkit's format, every method (default); peft: peft's LoRA format")
    parser.add_argument("--checkpoint", default=None,
                        help="a CKPT+... folder or its model.ckpt (default: the best-validation checkpoint)")
    parser.add_argument("--overwrite", action="store_true", help="replace an adapter already in --out")
    add_option(parser, "--push_to_hub", old="--push-to-hub", default=None, metavar="OWNER/NAME",
               help="upload the folder to this Hub model repository (created if missing)")
    parser.add_argument("--private", action="store_true", help="with --push_to_hub: create the repository private")
    args = parser.parse_args(argv)
    if args.push_to_hub is not None and args.push_to_hub.count("/") != 1:
        parser.error(f"--push_to_hub {args.push_to_hub!r}: give a repository id OWNER/NAME")
    if args.private and args.push_to_hub is None:
        parser.error("--private applies to the repository --push_to_hub creates: give --push_to_hub OWNER/NAME too")
    return args


def _shown(path: str) -> str:
    """``path`` relative to the repository when inside it (as a recipe command is typed), else absolute."""
    path = os.path.abspath(path)
    inside = os.path.commonpath([path, REPO]) == REPO
    return os.path.relpath(path, REPO) if inside else path


def training_command(run: str, config: dict) -> str:
    """The command that re-trains the run: its recipe's ``train.py`` on the run's resolved yaml.

    ``hyperparams.yaml`` holds every override and included piece, so it reloads on its own.
    """
    if config.get("command"):
        return config["command"]
    hparams_file = config.get("hparams_file") or ""
    train_py = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(hparams_file))), "train.py")
    if not (hparams_file and os.path.isfile(train_py)):
        train_py = os.path.join(run, "train.py")  # the recipe copies its train.py into the run
    return f"python {_shown(train_py)} {_shown(os.path.join(run, 'hyperparams.yaml'))}"


def dataset_name(config: dict) -> str | None:
    """The recipe's dataset: ``recipes/<Dataset>/<task>/hparams/<file>.yaml`` (None otherwise)."""
    parts = os.path.normpath(os.path.abspath(config.get("hparams_file") or "")).split(os.sep)
    if len(parts) >= 5 and parts[-2] == "hparams" and parts[-5] == "recipes":
        return parts[-4]
    return None


def run_card(run: str, config: dict, repo_id: str | None) -> dict:
    """What the run adds to the model card (see :mod:`petl_modules.model_card`)."""
    results_path = os.path.join(run, "results.json")
    results = {}
    if os.path.isfile(results_path):
        with open(results_path, encoding="utf-8") as f:
            results = json.load(f)
    backbone = config.get("backbone")
    return {
        "dataset": dataset_name(config), "task": results.get("task") or (config.get("task") or {}).get("name"),
        "main_metric": results.get("main_metric"),
        "results": {split: results[split] for split in ("valid", "test") if isinstance(results.get(split), dict)},
        "command": training_command(run, config),
        "backbone_options": backbone if isinstance(backbone, dict) else None, "repo_id": repo_id,
    }


def push(folder: str, repo_id: str, private: bool) -> str:
    """Upload ``folder`` to the Hub model repository ``repo_id``; return its URL."""
    from huggingface_hub import constants, create_repo, upload_folder

    if constants.HF_HUB_OFFLINE:
        raise ConnectionError("offline (HF_HUB_OFFLINE is set)")
    create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    upload_folder(repo_id=repo_id, folder_path=folder, repo_type="model",
                  commit_message="Upload adapter exported with petl-audio")
    return f"https://huggingface.co/{repo_id}"


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from petl_core.inference import RunError, check_not_input, load_run
    from petl_modules import PetlError, save_adapter
    from petl_modules.io import check_adapter_destination

    try:
        check_not_input([args.out], [args.run])
        check_adapter_destination(args.out, args.overwrite, how="give --overwrite")
        model, _, hparams = load_run(args.run, args.checkpoint)
        card = run_card(os.path.abspath(args.run), hparams, args.push_to_hub)
        save_adapter(args.out, model, format=args.format, overwrite=args.overwrite, card=card,
                     extra_config={"run": os.path.abspath(args.run), "checkpoint": hparams["checkpoint"]})
    except (RunError, PetlError, OSError) as exc:
        return fail(exc, first_line=True)
    print(f"adapter written to {args.out} ({args.format} format, from {hparams['checkpoint']})")
    if args.push_to_hub:
        try:
            url = push(args.out, args.push_to_hub, args.private)
        except Exception as exc:  # offline, no token, no permission, network: the folder stays
            return fail(f"--push_to_hub {args.push_to_hub}: upload failed ({error_message(exc, first_line=True)}); "
                        f"the adapter folder {args.out} is written: push it later with "
                        f"`hf upload {args.push_to_hub} {args.out}`")
        print(f"pushed to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
