"""A dataset of your own: audio files listed in three CSV files (or, for classification, sorted into
one folder per label), for any clip-level task. ``tools/new_recipe.py`` scaffolds recipes on it.

Layout read (header ``path,label``, one row per clip)::

    <data_folder>/train.csv
    <data_folder>/valid.csv
    <data_folder>/test.csv

* ``path``: the audio file (wav, flac, ogg, mp3...; any rate/channels), relative to ``data_folder``
  or absolute;
* ``label``: as the task reads it (:data:`LABEL_FORMATS`), normalised by :func:`normalize_label`.

Classification only: without ``<split>.csv``, the folder ``<data_folder>/<split>/<label>/<audio>`` is
read instead (the folder name is the label).

Output: ``<save_folder>/{train,valid,test}.csv`` manifests (``ID,wav,duration,label``; ``ID`` = the path
relative to ``data_folder`` without extension). Every label and every audio file is checked first: all
problems are reported in one error (bad audio is dropped and logged with ``skip_bad_files``). A rerun
with the same options and unchanged lists reuses the manifests (:func:`petl_core.manifest.prepare_once`).

Example:
    >>> normalize_label("key", "Eb minor"), normalize_label("tempo", "1.205e+02"), normalize_label("tagging", "a; b;a")
    ('D# minor', '120.5', 'a;b')
"""
from __future__ import annotations

import csv
import functools
import os

from petl_core.manifest import (
    AUDIO_EXTENSIONS,
    DatasetError,
    check_disjoint,
    finalize_splits,
    format_bpm,
    normalize_key,
    prepare_once,
)

SPLITS = ("train", "valid", "test")
LABEL_FORMATS = {
    "classification": "the class name (any string without ';'), e.g. `dog`",
    "tagging": "tags joined by `;`, e.g. `rock;guitar;male vocal` (empty = none of the tags)",
    "key": "a key such as `F# minor`, `Eb major` or `a` (flats become sharps; a bare tonic is major)",
    "tempo": "the tempo in BPM, e.g. `126.5`",
}
TASKS = tuple(LABEL_FORMATS)
MAX_LISTED = 20  # problems listed in one error


def _class_name(label: str) -> str | None:
    label = label.strip()
    return label if label and ";" not in label else None


def _tags(label: str) -> str:
    return ";".join(dict.fromkeys(t.strip() for t in label.split(";") if t.strip()))


_NORMALISERS = {"classification": _class_name, "tagging": _tags, "key": normalize_key, "tempo": format_bpm}


def normalize_label(task: str, label: str) -> str | None:
    """The label as the task's manifests hold it; ``None`` when unusable."""
    return _NORMALISERS[task](label or "")


def layout(task: str) -> str:
    alternative = " (or <data_folder>/{train,valid,test}/<label>/<audio>)" if task == "classification" else ""
    return "<data_folder>/{train,valid,test}.csv with header path,label" + alternative


def _row(data_folder: str, task: str, path: str, label: str, where: str, problems: list) -> dict | None:
    wav = os.path.abspath(path if os.path.isabs(path) else os.path.join(data_folder, path))
    value = normalize_label(task, label)
    if value is None:
        problems.append(f"{where}: unusable {task} label {label!r}")
        return None
    rel = os.path.relpath(wav, data_folder) if wav.startswith(data_folder + os.sep) else wav
    return {"ID": os.path.splitext(rel)[0].replace(os.sep, "/"), "wav": wav, "duration": 0.0, "label": value}


def read_split_csv(data_folder: str, task: str, path: str, problems: list) -> list[dict]:
    """Rows of a ``path,label`` list; unusable lines are added to ``problems``."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("path", "label") if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)} (expected header: path,label)")
        rows = []
        for line, record in enumerate(reader, start=2):
            if not (record["path"] or "").strip():
                problems.append(f"{path}:{line}: empty path")
                continue
            row = _row(data_folder, task, record["path"].strip(), record["label"], f"{path}:{line}", problems)
            if row is not None:
                rows.append(row)
    return rows


def read_split_folders(data_folder: str, task: str, root: str, problems: list) -> list[dict]:
    """Rows of ``<root>/<label>/<audio>`` (classification)."""
    rows = []
    for label in sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))):
        for name in sorted(os.listdir(os.path.join(root, label))):
            if name.lower().endswith(AUDIO_EXTENSIONS):
                path = os.path.join(root, label, name)
                row = _row(data_folder, task, path, label, path, problems)
                if row is not None:
                    rows.append(row)
    return rows


def _sources(data_folder: str, task: str, name: str) -> dict[str, tuple[str, str]]:
    """``{split: (kind, path)}``: the list (or folder) each split is read from."""
    sources = {}
    for split in SPLITS:
        listing, folder = os.path.join(data_folder, f"{split}.csv"), os.path.join(data_folder, split)
        if os.path.isfile(listing):
            sources[split] = ("csv", listing)
        elif task == "classification" and os.path.isdir(folder):
            sources[split] = ("folders", folder)
        else:
            raise DatasetError(f"{name} {split} split not found: {listing} is missing "
                               f"(expected layout: {layout(task)})")
    return sources


def _fingerprint(kind: str, path: str) -> list:
    """Changes when the list (or the folder tree) changes, so the manifests are rebuilt."""
    if kind == "csv":
        stat = os.stat(path)
        return [stat.st_size, stat.st_mtime_ns]
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


def prepare(data_folder: str, save_folder: str, task: str = "classification", name: str = "dataset",
            skip_bad_files: bool = False, check_samples: bool = False, download: bool = False) -> dict[str, str]:
    """Write (or reuse) ``<save_folder>/{train,valid,test}.csv`` for ``task``; returns ``{split: path}``.
    ``name`` is the dataset's name in messages."""
    if task not in _NORMALISERS:
        raise DatasetError(f"{name}: unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if download:
        raise DatasetError(f"{name} has no download: put the data in data_folder (layout: {layout(task)})")
    data_folder = os.path.abspath(data_folder)
    if not os.path.isdir(data_folder):
        raise DatasetError(f"{name} data folder not found: {data_folder} (expected layout: {layout(task)})")
    sources = _sources(data_folder, task, name)
    options = {"dataset": "csv_folder", "data_folder": data_folder, "task": task,
               "skip_bad_files": bool(skip_bad_files), "check_samples": bool(check_samples),
               "sources": {s: [k, p, _fingerprint(k, p)] for s, (k, p) in sources.items()}}

    def build():
        problems, split_rows = [], {}
        for split, (kind, path) in sources.items():
            reader = read_split_csv if kind == "csv" else read_split_folders
            split_rows[split] = reader(data_folder, task, path, problems)
        if problems:
            more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
            raise DatasetError(f"{name}: {len(problems)} problem(s) in the lists:\n  "
                               + "\n  ".join(problems[:MAX_LISTED]) + more)
        check_disjoint(split_rows, name)
        split_rows = finalize_splits(split_rows, skip_bad_files=skip_bad_files, check_samples=check_samples,
                                     context=name)
        for split, rows in split_rows.items():
            if not rows:
                raise DatasetError(f"{name}: the {split} split has no usable clip ({sources[split][1]})")
        return split_rows

    return prepare_once(save_folder, SPLITS, options, build)


def cli(task: str, name: str, argv=None) -> dict[str, str]:
    """The ``prepare.py`` command line of a recipe on this module."""
    from petl_core.datasets import build_parser, run_cli

    parser = build_parser(f"{name} '{task}': write the train/valid/test manifests from {layout(task)}.")
    return run_cli(functools.partial(prepare, task=task, name=name), parser, argv)
