"""Saving, loading and switching named adapters.

A saved adapter is a folder with ``adapter_config.json`` (backbone identity, method, options,
adapter name, extra config) and ``adapter_model.safetensors`` holding only what trained:

* ``backbone.<name>``: every backbone tensor with ``requires_grad`` plus the running statistics
  of BatchNorms with trainable parameters (they change where the BatchNorm runs in train mode:
  the conformer adapter's, every one under ``ft``; BitFit's conv BatchNorm keeps its statistics);
* ``extra.<name>``: trainable tensors of the enclosing model outside the backbone (the head);

and a model card ``README.md`` (:mod:`petl_modules.model_card`). ``format="peft"`` writes a LoRA in
peft's format instead (:mod:`petl_modules.peft_format`): peft's ``adapter_config.json`` and
``adapter_model.safetensors``, with ``petl_adapter.json`` (the identity above) and the head in
``head.safetensors`` beside them; :func:`load_adapter` reads both formats. A folder that already
holds an adapter is never overwritten unless ``overwrite=True``.

Several named adapters of the same method can live on one backbone: the active one is in the
modules, the others are kept as tensors; :func:`set_active_adapter` swaps them.

Example:
    >>> import tempfile, torch, warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl, save_adapter, load_adapter
    >>> bb = build_backbone("hubert", config="tiny"); _ = apply_petl(bb, "bitfit")
    >>> d = tempfile.mkdtemp(); save_adapter(d, bb)
    >>> fresh = build_backbone("hubert", config="tiny"); load_adapter(d, fresh).method
    'bitfit'
"""
from __future__ import annotations

import json
import os

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from petl_modules.base import METHODS
from petl_modules.common import PetlError, find_backbone
from petl_modules.merge import is_merged
from petl_modules.registry import apply_petl, get_state

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
#: 2: adapter options with PETL_AST's placements, ``residual`` and ``train_norms``; a version-1
#: folder's adapter options had other meanings (e.g. ``parallel`` read the un-normalised input)
FORMAT_VERSION = 2


def backbone_identity(backbone) -> dict:
    """What an adapter must match: the backbone's ``family`` (its own attribute) and sizes."""
    return {"name": backbone.family, "hidden_size": backbone.hidden_size, "num_layers": backbone.num_layers,
            "full_num_layers": getattr(backbone, "full_num_layers", backbone.num_layers)}


def _trained_bn_buffers(backbone: nn.Module):
    for mname, module in backbone.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and any(p.requires_grad for p in module.parameters()):
            for bname, buf in module.named_buffers(recurse=False):
                if buf is not None:
                    yield f"{mname}.{bname}" if mname else bname, buf


def live_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors an adapter checkpoint holds, as live references (see the module docstring)."""
    prefix, backbone = find_backbone(model)
    out = {f"backbone.{n}": p for n, p in backbone.named_parameters() if p.requires_grad}
    out.update({f"backbone.{n}": b for n, b in _trained_bn_buffers(backbone)})
    if prefix:
        head = getattr(model, "head", None)
        head_ids = {id(p) for p in head.parameters()} if isinstance(head, nn.Module) else set()
        backbone_ids = {id(p) for p in backbone.parameters()}
        for n, p in model.named_parameters():
            if id(p) not in backbone_ids and (p.requires_grad or id(p) in head_ids):
                out[f"extra.{n}"] = p
    return out


def _state_or_error(backbone):
    state = get_state(backbone)
    if state is None:
        raise PetlError("this backbone has no PETL method applied (call apply_petl or load_adapter first)")
    return state


ADAPTER_FORMATS = ("petl", "peft")
#: peft format: this toolkit's identity of the adapter (backbone, method) and the head, beside peft's files
PEFT_SIDE_CONFIG = "petl_adapter.json"
HEAD_WEIGHTS_NAME = "head.safetensors"
CARD_NAME = "README.md"
WRITTEN_FILES = (CONFIG_NAME, WEIGHTS_NAME, PEFT_SIDE_CONFIG, HEAD_WEIGHTS_NAME, CARD_NAME)


def check_adapter_destination(path_dir: str, overwrite: bool, how: str = "pass overwrite=True") -> None:
    """``PetlError`` when ``path_dir`` is a file, or holds an adapter's files and not ``overwrite``."""
    if os.path.exists(path_dir) and not os.path.isdir(path_dir):
        raise PetlError(f"save_adapter: {path_dir} is a file, not a folder; give a folder path")
    held = [f for f in WRITTEN_FILES if os.path.exists(os.path.join(path_dir, f))]
    if held and not overwrite:
        raise PetlError(f"save_adapter: {path_dir} already holds {', '.join(held)}; give another folder, or "
                        f"{how} to replace them")


def _write_json(path: str, data: dict) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.replace(path + ".tmp", path)


def _write_tensors(path: str, tensors: dict) -> None:
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, path + ".tmp",
              metadata={"format": "pt"})
    os.replace(path + ".tmp", path)


def save_adapter(path_dir: str, model: nn.Module, name: str | None = None, extra_config: dict | None = None,
                 format: str = "petl", overwrite: bool = False, card: dict | None = None) -> None:
    """Write adapter ``name`` (default: the active one) of ``model`` to the folder ``path_dir``.

    ``format="petl"``: this toolkit's format (every method); ``"peft"``: peft's LoRA format, loadable
    with ``peft.PeftModel.from_pretrained`` on the plain transformers model (LoRA on AST, MERT,
    HuBERT, wav2vec2, data2vec; see :mod:`petl_modules.peft_format`), the head beside it in
    ``head.safetensors``. Both come with a model card ``README.md``; ``card``: what a training run
    adds to it (see :func:`petl_modules.model_card.build_model_card`). A folder that already holds
    an adapter is refused unless ``overwrite``.
    """
    if format not in ADAPTER_FORMATS:
        raise PetlError(f"save_adapter: format={format!r}; valid: {', '.join(map(repr, ADAPTER_FORMATS))}")
    check_adapter_destination(path_dir, overwrite)
    _, backbone = find_backbone(model)
    state = _state_or_error(backbone)
    if is_merged(backbone):
        raise PetlError("save_adapter: the backbone is merged; unmerge it before saving")
    name = state.active if name is None else name
    if name not in state.adapters:
        raise PetlError(f"no adapter named {name!r}; adapters: {', '.join(state.adapters)}")
    tensors = live_tensors(model) if name == state.active else state.adapters[name]
    config = {"format_version": FORMAT_VERSION, "adapter_name": name, "backbone": backbone_identity(backbone),
              **state.config(), "extra": extra_config or {}}
    if format == "peft":
        from petl_modules.peft_format import to_peft

        peft_config, peft_tensors = to_peft(backbone, state.method, state.options, tensors)
        head = {k: v for k, v in tensors.items() if k.startswith("extra.")}
        config["head_file"] = HEAD_WEIGHTS_NAME if head else None
    from petl_modules.model_card import build_model_card

    model_card = build_model_card(model, config, format, card)  # everything checked before a file changes
    os.makedirs(path_dir, exist_ok=True)
    for stale in WRITTEN_FILES:  # with overwrite: nothing of another format's save stays behind
        if os.path.exists(os.path.join(path_dir, stale)):
            os.remove(os.path.join(path_dir, stale))
    if format == "peft":
        from peft import LoraConfig

        LoraConfig(**peft_config).save_pretrained(path_dir)
        _write_tensors(os.path.join(path_dir, WEIGHTS_NAME), peft_tensors)
        if head:
            _write_tensors(os.path.join(path_dir, HEAD_WEIGHTS_NAME), head)
        _write_json(os.path.join(path_dir, PEFT_SIDE_CONFIG), config)
    else:
        _write_tensors(os.path.join(path_dir, WEIGHTS_NAME), tensors)
        _write_json(os.path.join(path_dir, CONFIG_NAME), config)
    model_card.save(os.path.join(path_dir, CARD_NAME))


def read_adapter_config(path_dir: str) -> dict:
    """The adapter's ``adapter_config.json`` (this toolkit's, or peft's: then with ``peft_type``)."""
    path = os.path.join(path_dir, CONFIG_NAME)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path_dir}: no {CONFIG_NAME} (not a saved adapter folder)")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise PetlError(f"{path}: invalid json ({exc})") from None


def _check_tensors(path_dir: str, loaded: dict, expected: dict, strict: bool, has_model: bool) -> dict:
    if not has_model:
        loaded = {k: v for k, v in loaded.items() if not k.startswith("extra.")}
    if not any(k.startswith("extra.") for k in loaded):  # saved from a bare backbone: the head is not ours
        expected = {k: v for k, v in expected.items() if not k.startswith("extra.")}
    missing = sorted(set(expected) - set(loaded))
    unexpected = sorted(set(loaded) - set(expected))
    if strict and (missing or unexpected):
        raise PetlError(f"{path_dir}: adapter tensors do not match this model; missing: {missing[:5]}, "
                        f"unexpected: {unexpected[:5]}")
    for key in set(loaded) & set(expected):
        if loaded[key].shape != expected[key].shape:
            raise PetlError(f"{path_dir}: {key} has shape {tuple(loaded[key].shape)}, the model expects "
                            f"{tuple(expected[key].shape)}")
    return {k: v for k, v in loaded.items() if k in expected}


def _check_identity(path_dir: str, saved: dict, backbone) -> None:
    ident = backbone_identity(backbone)
    if saved != ident:
        raise PetlError(
            f"{path_dir}: adapter trained for backbone {saved.get('name')!r} (hidden {saved.get('hidden_size')}, "
            f"{saved.get('num_layers')} layers), this model is {ident['name']!r} (hidden {ident['hidden_size']}, "
            f"{ident['num_layers']} layers)"
        )


def _read_tensors(path_dir: str, filename: str) -> dict[str, torch.Tensor]:
    path = os.path.join(path_dir, filename)
    if not os.path.isfile(path):
        hint = " (peft's older adapter_model.bin is not read: save it again with safe_serialization=True)" \
            if os.path.isfile(os.path.join(path_dir, "adapter_model.bin")) else ""
        raise PetlError(f"{path_dir}: no {filename}{hint}")
    try:
        return load_file(path)
    except (SafetensorError, OSError) as exc:  # a truncated or foreign file
        raise PetlError(f"{path}: unreadable safetensors file ({exc})") from None


def _read_folder(path_dir: str, backbone, strict: bool) -> tuple[str, dict, dict]:
    """``(method, options, tensors in this toolkit's naming)`` of a saved adapter, either format."""
    config = read_adapter_config(path_dir)
    if "peft_type" not in config:
        if config.get("format_version") != FORMAT_VERSION:
            raise PetlError(f"{path_dir}: adapter format version {config.get('format_version')!r}, this toolkit "
                            f"reads version {FORMAT_VERSION} (the options of older adapters meant other "
                            "placements); retrain it with this version")
        _check_identity(path_dir, config.get("backbone", {}), backbone)
        return config["method"], config["options"], _read_tensors(path_dir, WEIGHTS_NAME)
    from petl_modules.peft_format import from_peft

    side_path = os.path.join(path_dir, PEFT_SIDE_CONFIG)
    side = {}
    if os.path.exists(side_path):  # written by save_adapter(format="peft"); absent when peft trained it
        with open(side_path, encoding="utf-8") as f:
            side = json.load(f)
        _check_identity(path_dir, side.get("backbone", {}), backbone)
    options, tensors = from_peft(path_dir, config, _read_tensors(path_dir, WEIGHTS_NAME), backbone, strict)
    if side.get("head_file"):
        tensors.update(_read_tensors(path_dir, side["head_file"]))
    return "lora", options, tensors


def load_adapter(path_dir: str, model: nn.Module, name: str = "default", strict: bool = True):
    """Load a saved adapter onto ``model`` (bare backbone or a model containing it); return the state.

    Reads this toolkit's format and peft's LoRA format (a LoRA trained with peft on the plain
    transformers model, or saved with ``save_adapter(..., format="peft")``, head included).
    On a plain backbone this applies the saved method first and makes ``name`` active. On a
    backbone that already carries the same method and options, ``name`` is stored as an extra
    named adapter (the active one is overwritten when ``name`` is active).
    """
    prefix, backbone = find_backbone(model)
    method, options, file_tensors = _read_folder(path_dir, backbone, strict)
    state = get_state(backbone)
    if state is None:
        state = apply_petl(backbone, method, options)
        state.adapters = {name: None}
        state.active = name
    elif is_merged(backbone):
        raise PetlError("load_adapter: the backbone is merged; unmerge it before loading an adapter")
    elif state.method != method or not _same_trained_options(method, state.options, options, backbone):
        raise PetlError(
            f"{path_dir}: adapter uses method {method!r} with options {options}; this "
            f"backbone carries {state.method!r} with options {state.options}"
        )
    live = live_tensors(model)
    loaded = _check_tensors(path_dir, file_tensors, live, strict, bool(prefix))
    if name == state.active:
        with torch.no_grad():
            for key, value in loaded.items():
                live[key].copy_(value)
    else:
        bank = {k: v.detach().clone() for k, v in live.items()}  # tensors absent from the file: current ones
        for key, value in loaded.items():
            bank[key] = value.to(device=live[key].device, dtype=live[key].dtype)
        state.adapters[name] = bank
    return state


def _same_trained_options(method: str, live: dict, saved: dict, backbone) -> bool:
    """Whether tensors trained with ``saved`` options fit a backbone carrying ``live`` ones: equal once
    completed by the method's defaults, initialisation choices aside (a peft folder names none)."""
    if method not in METHODS:  # a combination: its options were written by this toolkit, compare as they are
        return live == saved
    spec = METHODS[method]
    try:
        saved = spec.validate(backbone, saved)
    except PetlError:
        return False
    return spec.trained_options(live) == spec.trained_options(saved)


def list_adapters(model: nn.Module) -> list[str]:
    return list(_state_or_error(find_backbone(model)[1]).adapters)


def active_adapter(model: nn.Module) -> str:
    return _state_or_error(find_backbone(model)[1]).active


@torch.no_grad()
def set_active_adapter(model: nn.Module, name: str) -> None:
    """Make the named adapter active (the previously active one is kept, with its current values)."""
    _, backbone = find_backbone(model)
    state = _state_or_error(backbone)
    if name not in state.adapters:
        raise PetlError(f"no adapter named {name!r}; adapters: {', '.join(state.adapters)}")
    if name == state.active:
        return
    if is_merged(backbone):
        raise PetlError("set_active_adapter: the backbone is merged; unmerge it first")
    live = live_tensors(model)
    state.adapters[state.active] = {k: v.detach().clone() for k, v in live.items()}
    for key, value in state.adapters[name].items():
        if key in live:
            live[key].copy_(value)
    state.adapters[name] = None
    state.active = name


def add_adapter(model: nn.Module, name: str) -> None:
    """A new named adapter, initialised as a copy of the active one's current values."""
    _, backbone = find_backbone(model)
    state = _state_or_error(backbone)
    if name in state.adapters:
        raise PetlError(f"an adapter named {name!r} already exists")
    if is_merged(backbone):
        raise PetlError("add_adapter: the backbone is merged; unmerge it first")
    state.adapters[name] = {k: v.detach().clone() for k, v in live_tensors(model).items()}
