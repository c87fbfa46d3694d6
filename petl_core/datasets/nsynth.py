"""NSynth (Engel et al. 2017): instrument family (11 classes) and pitch (128 MIDI notes).

Official layout (``nsynth-{train,valid,test}.jsonwav.tar.gz`` from
https://magenta.tensorflow.org/datasets/nsynth, extracted side by side; no automatic download)::

    <data_folder>/nsynth-train/examples.json      <data_folder>/nsynth-train/audio/<note_str>.wav
    <data_folder>/nsynth-valid/examples.json      <data_folder>/nsynth-valid/audio/<note_str>.wav
    <data_folder>/nsynth-test/examples.json       <data_folder>/nsynth-test/audio/<note_str>.wav

``examples.json`` maps each ``note_str`` (e.g. ``bass_synthetic_033-022-050``) to its metadata;
used here: ``instrument_family_str`` (label of ``task="instrument"``), ``pitch`` (MIDI 0-127,
label of ``task="pitch"``, written as the number, e.g. ``60``), ``instrument_str``,
``instrument_source_str`` and ``velocity`` (extra columns ``instrument``, ``source``,
``velocity``). The official folders are the splits (289,205 / 12,678 / 4,096 notes), as in
seed 003 and MARBLE. The class lists are fixed (:data:`FAMILIES`, :data:`PITCHES`): the valid
and test sets lack ``synth_lead`` and the training set covers only MIDI 9-120, so a recipe
names them rather than reading them off the training manifest.
"""
from __future__ import annotations

import json
import os

from petl_core.manifest import DatasetError, check_disjoint, finalize_splits, prepare_once, require_file

LAYOUT = "nsynth-{train,valid,test}/examples.json and nsynth-<split>/audio/<note_str>.wav"
SPLITS = ("train", "valid", "test")
TASKS = ("instrument", "pitch")
FAMILIES = ["bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead",
            "vocal"]
PITCHES = [str(p) for p in range(128)]
_FIELDS = ("instrument_family_str", "pitch", "instrument_str", "instrument_source_str", "velocity")


def read_examples(path: str) -> dict[str, dict]:
    """``{note_str: metadata}`` of one ``examples.json``, each entry checked for the fields used."""
    require_file(path, "NSynth examples.json", LAYOUT)
    try:
        with open(path, encoding="utf-8") as f:
            examples = json.load(f)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: invalid json ({exc})") from None
    if not isinstance(examples, dict) or not examples:
        raise DatasetError(f"{path}: expected a non-empty object note_str -> metadata")
    for note, meta in examples.items():
        missing = [k for k in _FIELDS if not isinstance(meta, dict) or k not in meta]
        if missing:
            raise DatasetError(f"{path}: note {note!r} lacks {', '.join(missing)}")
        if meta["instrument_family_str"] not in FAMILIES:
            raise DatasetError(f"{path}: note {note!r} has unknown instrument family "
                               f"{meta['instrument_family_str']!r} (valid: {', '.join(FAMILIES)})")
        if not isinstance(meta["pitch"], int) or not 0 <= meta["pitch"] <= 127:
            raise DatasetError(f"{path}: note {note!r} has pitch {meta['pitch']!r} (expected a MIDI number 0-127)")
    return examples


def prepare(data_folder: str, save_folder: str, task: str = "instrument", download: bool = False,
            skip_bad_files: bool = False, check_samples: bool = False) -> dict[str, str]:
    """Write ``train/valid/test.csv`` for ``task`` in ``instrument|pitch``; return ``{split: path}``."""
    if task not in TASKS:
        raise ValueError(f"NSynth task must be one of {', '.join(TASKS)}, got {task!r}")
    data_folder = os.path.abspath(data_folder)
    folders = {s: os.path.join(data_folder, f"nsynth-{s}") for s in SPLITS}
    for split, folder in folders.items():
        if not os.path.isdir(folder):
            how = " (NSynth cannot be downloaded automatically)" if download else ""
            raise DatasetError(f"NSynth {split} folder not found{how}: {folder}; extract "
                               f"nsynth-{split}.jsonwav.tar.gz into {data_folder} (layout: {LAYOUT})")
    options = dict(dataset=f"nsynth_{task}", folders=folders, skip_bad_files=skip_bad_files,
                   check_samples=check_samples)

    def build():
        rows = {}
        for split, folder in folders.items():
            examples = read_examples(os.path.join(folder, "examples.json"))
            rows[split] = [{
                "ID": note,
                "wav": os.path.join(folder, "audio", f"{note}.wav"),
                "label": meta["instrument_family_str"] if task == "instrument" else str(meta["pitch"]),
                "instrument": meta["instrument_str"],
                "source": meta["instrument_source_str"],
                "velocity": meta["velocity"],
            } for note, meta in sorted(examples.items())]
        check_disjoint(rows, "NSynth")
        return finalize_splits(rows, skip_bad_files, check_samples, f"NSynth {task}")

    return prepare_once(save_folder, SPLITS, options, build)


def prepare_instrument(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="instrument", **kwargs)


def prepare_pitch(data_folder: str, save_folder: str, **kwargs) -> dict[str, str]:
    return prepare(data_folder, save_folder, task="pitch", **kwargs)


def classes(task: str) -> list[str]:
    """The fixed class list of ``task`` (a recipe's ``classes: !apply:...nsynth.classes [pitch]``)."""
    if task not in TASKS:
        raise ValueError(f"NSynth task must be one of {', '.join(TASKS)}, got {task!r}")
    return list(FAMILIES if task == "instrument" else PITCHES)
