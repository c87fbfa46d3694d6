"""The model card (``README.md`` in the Hugging Face Hub's format) of a saved adapter.

YAML metadata through ``huggingface_hub.ModelCardData``: ``library_name`` (``petl-audio``, or
``peft`` for the peft format), ``base_model`` (the backbone's hub id when it was loaded from the
hub), ``tags`` (method, backbone, task), ``datasets``, ``metrics`` and ``model-index`` results of the
training run; then the method and its options, trainable/total parameters, how to load it (code),
the run's results and the command that trained it.

``card``: what a training run adds (all optional): ``dataset``, ``task``, ``main_metric``,
``results`` (``{split: {metric: value}}``), ``command``, ``backbone_options`` (the run's
``build_backbone`` options), ``repo_id`` (where the folder is pushed).

Example:
    >>> import warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> bb = build_backbone("ast", config="tiny"); state = apply_petl(bb, "bitfit")
    >>> config = {"backbone": {"name": "ast", "num_layers": 4, "full_num_layers": 4}, **state.config()}
    >>> card = build_model_card(bb, config, "petl", {"dataset": "GTZAN", "task": "classification",
    ...                                              "results": {"test": {"accuracy": 0.5}}})
    >>> card.data.library_name, card.data.datasets, card.data.eval_results[0].metric_value
    ('petl-audio', ['GTZAN'], 0.5)
"""
from __future__ import annotations

import json
import os

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from petl_modules.common import find_backbone
from petl_modules.counting import count_parameters

LIBRARY = "petl-audio"
FOLDER_PLACEHOLDER = "path/to/this/folder"


def hub_id(name_or_path: str | None) -> str | None:
    """``name_or_path`` when it is a hub repository id (``owner/name``), not a local folder."""
    if not name_or_path or os.path.isabs(name_or_path) or os.path.exists(name_or_path):
        return None
    return name_or_path if name_or_path.count("/") == 1 else None


def _name_or_path(backbone) -> str | None:
    config = getattr(getattr(backbone, "model", None), "config", None)
    return getattr(config, "name_or_path", None) or None


def _eval_results(card: dict, model_name: str) -> list[EvalResult]:
    dataset, results = card.get("dataset"), card.get("results") or {}
    if not dataset:
        return []
    return [EvalResult(task_type="audio-classification", task_name=card.get("task"), dataset_type=dataset,
                       dataset_name=dataset, dataset_split=split, metric_type=metric, metric_value=value)
            for split, metrics in results.items() for metric, value in metrics.items()
            if isinstance(value, (int, float))]


def _load_code(backbone, config: dict, adapter_format: str, card: dict) -> str:
    where = card.get("repo_id") or FOLDER_PLACEHOLDER
    base = _name_or_path(backbone)
    ident = config["backbone"]
    if adapter_format == "peft":
        cls, kept = type(backbone.model).__name__, ident["num_layers"]
        source = f'"{base or "<the backbone weights: hub id or folder>"}"'
        lines = ["from peft import PeftModel", f"from transformers import {cls}", "",
                 f"base = {cls}.from_pretrained({source})"]
        if ident["name"] == "ast":  # positional embeddings for the run's input length
            lines += [f"# the run's AST reads {backbone.max_length} frames: its positional embeddings cut or "
                      "interpolated as lobes.ast does (a no-op at the checkpoint's own max_length)",
                      "from lobes.ast import resize_position_embeddings",
                      f"resize_position_embeddings(base, {backbone.max_length})"]
        lines += [f'model = PeftModel.from_pretrained(base, "{where}")',
                  "hidden_states = model(input_values, output_hidden_states=True).hidden_states"]
        if kept != ident["full_num_layers"]:
            lines.append(f"# trained on the first {kept} of {ident['full_num_layers']} layers: "
                         f"use hidden_states[{kept}]")
        return "\n".join(lines)
    options = card.get("backbone_options")
    if options is None:
        options = {"pretrained": base} if base else {"num_layers": ident["num_layers"]}
    options = {k: v for k, v in options.items() if k != "name"}
    args = "".join(f", {k}={v!r}" for k, v in options.items())
    fetch = (f'from huggingface_hub import snapshot_download\nfolder = snapshot_download("{where}")\n'
             if card.get("repo_id") else f'folder = "{where}"\n')
    return (f"from lobes import build_backbone\nfrom petl_modules import load_adapter\n\n{fetch}"
            f'backbone = build_backbone("{ident["name"]}"{args})\n'
            "load_adapter(folder, backbone)  # or a model with .backbone and .head: the head loads too")


def build_model_card(model, config: dict, adapter_format: str, card: dict | None = None) -> ModelCard:
    """The card of the adapter ``config`` (as saved) of ``model``; ``card``: the run's additions."""
    card = card or {}
    _, backbone = find_backbone(model)
    ident, method = config["backbone"], config["method"]
    family = ident["name"]
    counts = count_parameters(model)
    task, dataset = card.get("task"), card.get("dataset")
    model_name = "-".join(str(p) for p in (family, method.replace("+", "-"), dataset, task) if p)
    tags = [LIBRARY, "audio", family, *method.split("+"), *([task] if task else [])]
    tags += ["peft"] if adapter_format == "peft" else []
    results = card.get("results") or {}
    metric_names = sorted({m for split in results.values() for m in split})
    data = ModelCardData(
        library_name="peft" if adapter_format == "peft" else LIBRARY,
        base_model=hub_id(_name_or_path(backbone)), tags=list(dict.fromkeys(tags)),
        datasets=[dataset] if dataset else None, metrics=metric_names or None,
        model_name=model_name, eval_results=_eval_results(card, model_name) or None,
    )
    pct = 100.0 * counts["trainable"] / counts["total"] if counts["total"] else 0.0
    base = _name_or_path(backbone) or f"randomly initialised {family} (hidden {ident.get('hidden_size')})"
    trained_on = f" on {dataset}" + (f" ({task})" if task else "") if dataset else ""
    sections = [
        f"# {model_name}",
        f"A `{method}` adapter for the `{family}` backbone ({base}; {ident['num_layers']} of "
        f"{ident['full_num_layers']} layers kept), trained with {LIBRARY}{trained_on}.",
        "## Method\n\n"
        f"- method: `{method}`\n- options:\n\n```json\n{json.dumps(config['options'], indent=2)}\n```\n\n"
        f"- trainable parameters: {counts['trainable']:,} of {counts['total']:,} ({pct:.4f}%) in the backbone"
        + (f"; head: {counts['head']:,}" if counts["head"] else ""),
        f"## How to load it\n\n```python\n{_load_code(backbone, config, adapter_format, card)}\n```",
    ]
    if adapter_format == "peft":
        sections.append(
            "Files: `adapter_config.json` and `adapter_model.safetensors` are peft's; `petl_adapter.json` (the "
            "backbone and method, as this toolkit records them) and, when the adapter had one, "
            "`head.safetensors` (the task head: it reads the mean over time of the final-normed hidden state, "
            "which the plain transformers model has no module for) are read by `petl_modules.load_adapter`.")
    if results:
        rows = [f"| {split} | {metric} | {value:.4g} |" for split, metrics in results.items()
                for metric, value in metrics.items() if isinstance(value, (int, float))]
        main = f" (main metric: `{card['main_metric']}`)" if card.get("main_metric") else ""
        sections.append(f"## Results{main}\n\n| split | metric | value |\n|---|---|---|\n" + "\n".join(rows))
    if card.get("command"):
        sections.append(f"## Training\n\n```bash\n{card['command']}\n```")
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n")
