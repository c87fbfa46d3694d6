#!/usr/bin/env python3
"""Scaffold a new recipe: ``NAME/<task>/`` (in the current folder, or ``--dest``) with prepare.py, train.py, hparams/default.yaml, README.md.

    python tools/new_recipe.py MyDrums --task classification
    python tools/new_recipe.py MyKeys --task key --backbone musicfm_msd --method lora --dest recipes

The recipe is SpeechBrain's form: ``hparams/default.yaml`` is the object graph (its backbone and
method pieces included from the toolkit's ``recipes/hparams_common``), ``train.py`` the task's
Brain, ``dataio_prep`` and the ``__main__`` flow.

The generated ``prepare.py`` works as is: it reads ``<data_folder>/{train,valid,test}.csv`` (header
``path,label``; paths relative to ``data_folder`` or absolute) -- or, for classification, the
folders ``<data_folder>/{train,valid,test}/<label>/<audio>`` -- checks every audio file, normalises
the labels for the task and writes the manifests (``ID,wav,duration,label``). Adapt it to your
dataset's own layout if you like. See docs/adding_a_recipe.md.

An existing ``<dest>/NAME/<task>`` folder is never overwritten (exit status 1).
"""
from __future__ import annotations

import argparse
import os
import re
import sys

TOOLKIT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = os.path.join(TOOLKIT, "recipes", "hparams_common")
TASKS = ("classification", "tagging", "key", "tempo")

TASK_INFO = {
    "classification": {
        "what": "single-label classification (classes = the labels of the training split)",
        "label": "the class name (any string without ';'), e.g. `dog`",
        "task_yaml": "task: !new:petl_core.tasks.ClassificationTask   # classes: those of the training split",
        "cost": "!name:torch.nn.functional.cross_entropy",
        "augment": None,
        "brain": "ClassificationBrain",
        "metric": "accuracy",
    },
    "tagging": {
        "what": "multi-label tagging (tags = every tag of the training split)",
        "label": "tags joined by `;`, e.g. `rock;guitar;male vocal` (empty = none of the tags)",
        "task_yaml": "task: !new:petl_core.tasks.TaggingTask          # tags: those of the training split",
        "cost": "!name:torch.nn.functional.binary_cross_entropy_with_logits",
        "augment": None,
        "brain": "TaggingBrain",
        "metric": "mAP",
    },
    "key": {
        "what": "24-key estimation (mir_eval weighted score)",
        "label": "a key such as `F# minor`, `Eb major` or `a` (flats become sharps; a bare tonic is major)",
        "task_yaml": "task: !new:petl_core.tasks.KeyTask",
        "cost": "!name:torch.nn.functional.cross_entropy",
        "augment": "pitch_shift: {prob: 0.5, semitones: [-4, -3, -2, -1, 1, 2, 3, 4]}   # key label rotated",
        "brain": "KeyBrain",
        "metric": "weighted_score",
    },
    "tempo": {
        "what": "tempo estimation (300 one-BPM classes with soft targets; Accuracy1/2)",
        "label": "the tempo in BPM, e.g. `126.5`",
        "task_yaml": "task: !new:petl_core.tasks.TempoTask   # seed 001: 300 one-BPM bins; {grid: log}: 2 % bins",
        "cost": "!name:torch.nn.functional.cross_entropy         # on soft BPM-bin targets",
        "augment": "time_stretch: {prob: 0.5, rates: [0.95, 0.975, 1.025, 1.05]}   # BPM label scaled",
        "brain": "TempoBrain",
        "metric": "acc2",
    },
}

NORMALISERS = {
    "classification": '''def normalize_label(label):
    """The class name; ``None`` when unusable."""
    label = label.strip()
    return label if label and ";" not in label else None
''',
    "tagging": '''def normalize_label(label):
    """Tags joined by ';' (order kept, duplicates dropped); '' = no tag."""
    tags = [t.strip() for t in label.split(";") if t.strip()]
    return ";".join(dict.fromkeys(tags))
''',
    "key": '''def normalize_label(label):
    """A mir_eval key string (``D# minor``); ``None`` when unusable (e.g. '-', modal names)."""
    return normalize_key(label)
''',
    "tempo": '''def normalize_label(label):
    """The BPM as a float string; ``None`` when not a positive number."""
    return format_bpm(label)
''',
}

PREPARE = '''#!/usr/bin/env python3
"""@@NAME@@ '@@TASK@@': write the train/valid/test manifests from a simple user layout.

Task: @@WHAT@@.

Layout read by default (header ``path,label``; one row per clip):

    <data_folder>/train.csv
    <data_folder>/valid.csv
    <data_folder>/test.csv

* ``path``: the audio file (wav, flac, ogg, mp3...; any rate/channels), relative to
  ``data_folder`` or absolute;
* ``label``: @@LABEL@@.
@@FOLDERS_DOC@@
Output: ``<save_folder>/{train,valid,test}.csv`` manifests with the header ``ID,wav,duration,label``
(``ID`` = the path relative to ``data_folder`` without extension; ``wav`` absolute; ``duration`` in
seconds) -- the format every recipe reads (petl_core/manifest.py). Every audio file is checked
first: missing, empty, unreadable or zero-length files are all reported in one error (or dropped
and logged with ``--skip_bad_files``). A rerun with the same options and unchanged lists reuses
the manifests.

    python @@REL@@/prepare.py --data_folder /data/@@NAME@@ --save_folder results/@@NAME@@_@@TASK@@

Importable: ``prepare(data_folder, save_folder, skip_bad_files=False, check_samples=False)``
returns ``{split: manifest path}`` (train.py passes it to ``petl_core.recipe.clip_datasets``).
"""
import csv
import os

from petl_core.datasets import build_parser, run_cli
from petl_core.manifest import (  # noqa: F401
    AUDIO_EXTENSIONS,
    DatasetError,
    check_disjoint,
    finalize_splits,
    format_bpm,
    normalize_key,
    prepare_once,
)

TASK = "@@TASK@@"
SPLITS = ("train", "valid", "test")
LAYOUT = "<data_folder>/{train,valid,test}.csv with header path,label@@LAYOUT_ALT@@"


@@NORMALISER@@

def _row(data_folder, split, rel_path, label, where, problems):
    wav = rel_path if os.path.isabs(rel_path) else os.path.join(data_folder, rel_path)
    wav = os.path.abspath(wav)
    value = normalize_label(label or "")
    if value is None:
        problems.append(f"{where}: unusable {TASK} label {label!r}")
        return None
    rel = os.path.relpath(wav, data_folder) if wav.startswith(os.path.abspath(data_folder) + os.sep) else wav
    return {"ID": os.path.splitext(rel)[0].replace(os.sep, "/"), "wav": wav, "duration": 0.0, "label": value}


def read_split_csv(data_folder, split, problems):
    """Rows of ``<data_folder>/<split>.csv`` (``path,label``)."""
    path = os.path.join(data_folder, f"{split}.csv")
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
            row = _row(data_folder, split, record["path"].strip(), record["label"], f"{path}:{line}", problems)
            if row is not None:
                rows.append(row)
    return rows


def read_split_folders(data_folder, split, problems):
    """Rows of ``<data_folder>/<split>/<label>/<audio>`` (classification only)."""
    root = os.path.join(data_folder, split)
    rows = []
    for label in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, label)):
            continue
        for name in sorted(os.listdir(os.path.join(root, label))):
            if name.lower().endswith(AUDIO_EXTENSIONS):
                row = _row(data_folder, split, os.path.join(root, label, name), label, os.path.join(root, label, name),
                           problems)
                if row is not None:
                    rows.append(row)
    return rows


def _sources(data_folder):
    """{split: (kind, path)}: the list (or folder) each split is read from."""
    sources = {}
    for split in SPLITS:
        listing, folder = os.path.join(data_folder, f"{split}.csv"), os.path.join(data_folder, split)
        if os.path.isfile(listing):
            sources[split] = ("csv", listing)
        elif TASK == "classification" and os.path.isdir(folder):
            sources[split] = ("folders", folder)
        else:
            raise DatasetError(f"@@NAME@@ {split} split not found: {listing} is missing "
                               f"(expected layout: {LAYOUT})")
    return sources


def _fingerprint(kind, path):
    """Changes when the list (or the folder tree) changes, so prepare_once rebuilds."""
    if kind == "csv":
        stat = os.stat(path)
        return [stat.st_size, stat.st_mtime_ns]
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


def prepare(data_folder, save_folder, skip_bad_files=False, check_samples=False, download=False):
    """Write (or reuse) ``<save_folder>/{train,valid,test}.csv``; returns ``{split: path}``."""
    if download:
        raise DatasetError("@@NAME@@ has no download: put the data in data_folder (layout: " + LAYOUT + ")")
    data_folder = os.path.abspath(data_folder)
    if not os.path.isdir(data_folder):
        raise DatasetError(f"@@NAME@@ data folder not found: {data_folder} (expected layout: {LAYOUT})")
    sources = _sources(data_folder)
    options = {"data_folder": data_folder, "task": TASK, "skip_bad_files": bool(skip_bad_files),
               "check_samples": bool(check_samples),
               "sources": {s: [k, p, _fingerprint(k, p)] for s, (k, p) in sources.items()}}

    def build():
        problems, split_rows = [], {}
        for split, (kind, path) in sources.items():
            reader = read_split_csv if kind == "csv" else read_split_folders
            split_rows[split] = reader(data_folder, split, problems)
        if problems:
            more = f"\\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise DatasetError(f"@@NAME@@: {len(problems)} problem(s) in the lists:\\n  " + "\\n  ".join(problems[:20])
                               + more)
        check_disjoint(split_rows, "@@NAME@@")
        split_rows = finalize_splits(split_rows, skip_bad_files=skip_bad_files, check_samples=check_samples,
                                     context="@@NAME@@")
        for split, rows in split_rows.items():
            if not rows:
                raise DatasetError(f"@@NAME@@: the {split} split has no usable clip ({sources[split][1]})")
        return split_rows

    return prepare_once(save_folder, SPLITS, options, build)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0])
    return run_cli(prepare, parser, argv)


if __name__ == "__main__":
    main()
'''

FOLDERS_DOC = '''
Without the CSV files, the folders ``<data_folder>/{train,valid,test}/<label>/<audio>`` are read
instead (the folder name is the label).
'''

TRAIN = '''#!/usr/bin/env python3
\"\"\"@@NAME@@ '@@TASK@@' (@@WHAT@@). Usage:

    python @@REL@@/train.py @@REL@@/hparams/default.yaml --data_folder=/data/@@NAME@@ [--overrides]
    python @@REL@@/train.py @@REL@@/hparams/default.yaml --data_folder=... --backbone=tiny_musicfm --number_of_epochs=1   # smoke test
    torchrun --nproc_per_node=2 @@REL@@/train.py @@REL@@/hparams/default.yaml --data_folder=... --distributed_backend=nccl

hparams/default.yaml holds every object (backbone, PETL method, head, optimiser, loss...); the
Brain is the clip Brain (petl_core/clip_brain.py; the yaml's task says what the loss compares).
A loss or forward of your own: subclass ClipBrain here (docs/adding_a_recipe.md). See @@REL@@/README.md.
\"\"\"
import sys

from prepare import prepare  # this recipe's prepare.py (the script's folder is on sys.path)
from petl_core.clip_brain import ClipBrain
from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup


def dataio_prep(hparams):
    \"\"\"@@NAME@@'s lists as manifests (prepare.py, main process); datasets of (audio, label).\"\"\"
    return clip_datasets(hparams, prepare)


if __name__ == "__main__":
    with recipe_main():
        hparams, run_opts = setup(sys.argv[1:], ClipBrain, recipe_file=__file__)
        data = dataio_prep(hparams)
        brain = ClipBrain.from_hparams(hparams, run_opts, data.task)
        fit_and_test(brain, data)
'''

HPARAMS = '''# @@NAME@@ '@@TASK@@': @@WHAT@@ -- scaffolded by tools/new_recipe.py.
# Backbone @@BACKBONE@@ + @@METHOD@@ (shared pieces: @@COMMON@@/{backbones,methods}/*.yaml);
# lr by method from the @@LR_TABLE@@ table unless --lr is given. Every object below can be
# swapped here (opt_class: any torch.optim class; head: any nn.Module; compute_cost: any loss).
#
#   python @@REL@@/train.py @@REL@@/hparams/default.yaml --data_folder=/data/@@NAME@@
#   ... --backbone=musicfm_msd --method=lora      (any piece combination; see hparams_common)
#   ... --backbone=tiny_musicfm --number_of_epochs=1   (offline smoke test: tiny random backbone)

seed: 1234
__set_seed: !apply:speechbrain.utils.seed.seed_everything [!ref <seed>, False]
output_folder: !ref results/@@NAME@@/@@TASK@@/<seed>
save_folder: !ref <output_folder>/save
train_log: !ref <output_folder>/train_log.txt
data_folder: !PLACEHOLDER         # layout: @@REL@@/README.md ({train,valid,test}.csv with path,label)
prepare: {skip_bad_files: false}  # extra keyword arguments of prepare.prepare()

# ---------------------------------------------------------------- backbone x PETL method x head
backbone: @@BACKBONE@@             # a piece: hparams_common/backbones/<backbone>.yaml
method: @@METHOD@@                 # a piece: hparams_common/methods/<method>.yaml
encoder: !include:@@COMMON@@/backbones/<backbone>.yaml {}
petl: !include:@@COMMON@@/methods/<method>.yaml {}
petl_state: !apply:petl_modules.apply_petl       # the method applied to the backbone (in place)
    backbone: !ref <encoder>
    method: !ref <petl[name]>
    options: !ref <petl[options]>
head: !name:@@HEAD@@   # called with (backbone width, number of outputs); or !new: any nn.Module
layer: null                       # pooled layer; null = last kept layer

# ---------------------------------------------------------------- task, loss, augmentation
@@TASK_YAML@@
compute_cost: @@COST@@
@@AUGMENT@@

# ---------------------------------------------------------------- training
number_of_epochs: 10
batch_size: 8
eval_batch_size: 8
num_workers: 0
num_threads: null                 # torch CPU threads (1 on a shared CPU; null = torch default)
train_dataloader_opts: {batch_size: !ref <batch_size>, num_workers: !ref <num_workers>}
valid_dataloader_opts: {batch_size: !ref <eval_batch_size>, num_workers: !ref <num_workers>}
lr_by_method: !include:@@COMMON@@/lr_tables/@@LR_TABLE@@.yaml {}
lr: !apply:petl_core.config.lr_for_method   # the method's lr (--lr=... wins)
    table: !ref <lr_by_method>
    method: !ref <petl[name]>
opt_class: !name:torch.optim.@@OPTIMIZER@@
    lr: !ref <lr>
lr_annealing: !name:torch.optim.lr_scheduler.CosineAnnealingLR   # per optimizer step over the run
    eta_min: 0.0000001
max_grad_norm: 1.0
nonfinite_patience: 3             # non-finite losses in a row before training stops
crop_seconds: 5.0                 # random training crop; evaluation averages eval_window_seconds windows
eval_window_seconds: 5.0
max_eval_seconds: null            # evaluate at most this much of each clip (null = all)

epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter
    limit: !ref <number_of_epochs>
checkpointer: !new:petl_core.checkpointing.AtomicCheckpointer
    checkpoints_dir: !ref <save_folder>
    recoverables:
        counter: !ref <epoch_counter>
        rng: !new:petl_core.checkpointing.RandomState
train_logger: !new:speechbrain.utils.train_logger.FileTrainLogger
    save_file: !ref <train_log>

# ---------------------------------------------------------------- few-shot, results
few_shot_k: 0                     # k examples per class from the training split (0 = all)
few_shot_seed: 0
bootstrap_resamples: 1000
bootstrap_seed: 0
results_file: results.json
record_train_ids: false
feature_cache: null               # true / a folder: cache frozen-stage outputs (probing: pooled embeddings)
'''

README = '''# @@NAME@@ — @@TASK@@

@@WHAT_CAP@@. Scaffolded by `tools/new_recipe.py`; see `docs/adding_a_recipe.md`.

## Data

Put the audio anywhere and list it in three CSV files (header `path,label`):

```
<data_folder>/train.csv
<data_folder>/valid.csv
<data_folder>/test.csv
```

- `path`: audio file (wav, flac, ogg, mp3...; any sample rate, any channels), relative to
  `data_folder` or absolute;
- `label`: @@LABEL@@.
@@FOLDERS_README@@
`prepare.py` checks every file and writes the manifests (`ID,wav,duration,label`) to
`<save_folder>/{train,valid,test}.csv`; `train.py` runs it itself (into `<output_folder>/manifests`).

```
python @@REL@@/prepare.py --data_folder /data/@@NAME@@ --save_folder results/@@NAME@@_@@TASK@@   # optional check
```

## Training

```
python @@REL@@/train.py @@REL@@/hparams/default.yaml --data_folder=/data/@@NAME@@
python @@REL@@/train.py @@REL@@/hparams/default.yaml --data_folder=/data/@@NAME@@ --backbone=musicfm_msd --method=lora
python @@REL@@/train.py @@REL@@/hparams/default.yaml --data_folder=/data/@@NAME@@ --backbone=tiny_musicfm --number_of_epochs=1  # smoke test
```

Defaults: `@@BACKBONE@@` + `@@METHOD@@`, @@HEAD_NAME@@ head, lr from `@@LR_TABLE@@` by method, 10 epochs,
batch 8, 5 s crops / evaluation windows. The output folder holds `results.json` (valid/test
`@@METRIC@@` and the other metrics, bootstrap CIs, parameter counts, the resolved config) and
`save/CKPT+*` (trainable weights only).

## Using a trained run

```
python tools/predict.py --run results/@@NAME@@/@@TASK@@/1234 clip1.wav clip2.wav
python tools/tsne.py --run results/@@NAME@@/@@TASK@@/1234 --split test --out tsne.png
```
'''

FOLDERS_README = '''
Classification only: without the CSV files, the folders `<data_folder>/{train,valid,test}/<label>/<audio>`
are read (the folder name is the label).
'''


def list_presets(kind: str) -> list[str]:
    folder = os.path.join(COMMON, kind)
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []


def render(template: str, values: dict) -> str:
    for key, value in values.items():
        template = template.replace(f"@@{key}@@", value)
    leftover = re.findall(r"@@[A-Z_]+@@", template)
    assert not leftover, leftover
    return template


def scaffold(name: str, task: str, dest: str = ".", backbone: str = "mert_95m", method: str = "adapter",
             head: str = "mlp") -> str:
    """Write the recipe; returns its folder. Raises ``FileExistsError`` if it exists."""
    folder = os.path.abspath(os.path.join(dest, name, task))
    if os.path.exists(folder):
        raise FileExistsError(f"{folder} already exists; not overwriting it (remove it or choose another name)")
    info = TASK_INFO[task]
    inside = os.path.commonpath([folder, TOOLKIT]) == TOOLKIT
    rel = os.path.relpath(folder, TOOLKIT) if inside else folder
    ast = backbone.startswith(("ast", "small_ast", "tiny_ast"))
    hparams_dir = os.path.join(folder, "hparams")
    try:  # the toolkit's shared pieces, relative when they can be (a moved toolkit breaks absolute paths)
        common = os.path.relpath(COMMON, hparams_dir)
    except ValueError:  # another drive
        common = COMMON
    augment = info["augment"]
    augment_yaml = ("augmentation: !new:petl_core.augment.Augmenter\n"
                    f"    sample_rate: {16000 if ast else 24000}   # the backbone's rate\n"
                    f"    seed: !ref <seed>\n    {augment}") if augment else \
        "augmentation: null               # e.g. !new:petl_core.augment.Augmenter, or a SpeechBrain augmentation"
    values = {
        "NAME": name, "TASK": task, "WHAT": info["what"], "WHAT_CAP": info["what"][0].upper() + info["what"][1:],
        "LABEL": info["label"], "REL": rel, "TASK_YAML": info["task_yaml"], "AUGMENT": augment_yaml,
        "COST": info["cost"], "BRAIN": info["brain"], "COMMON": common,
        "METRIC": info["metric"], "BACKBONE": backbone, "METHOD": method,
        "HEAD": {"mlp": "lobes.heads.MLPHead", "linear": "lobes.heads.LinearHead"}[head],
        "HEAD_NAME": head,
        "LR_TABLE": "seed002_ast" if ast else "seed001_music", "OPTIMIZER": "AdamW" if ast else "Adam",
        # a recipe outside the toolkit finds it here (unless the toolkit is pip-installed)
        "NORMALISER": NORMALISERS[task].rstrip("\n") + "\n",
        "FOLDERS_DOC": FOLDERS_DOC if task == "classification" else "",
        "FOLDERS_README": FOLDERS_README if task == "classification" else "",
        "LAYOUT_ALT": " (or <data_folder>/{train,valid,test}/<label>/<audio>)" if task == "classification" else "",
    }
    files = {
        "prepare.py": render(PREPARE, values),
        "train.py": render(TRAIN, values),
        os.path.join("hparams", "default.yaml"): render(HPARAMS, values),
        "README.md": render(README, values),
    }
    os.makedirs(os.path.join(folder, "hparams"))
    for rel_path, text in files.items():
        path = os.path.join(folder, rel_path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        if rel_path.endswith(".py"):
            os.chmod(path, 0o755)
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python tools/new_recipe.py MyDrums --task classification",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="dataset name (letters, digits, '_' and '-'), e.g. MyDrums")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--dest", default=".", help="parent folder (default: the current folder)")
    parser.add_argument("--backbone", default="mert_95m", choices=list_presets("backbones") or None,
                        help="backbone preset (default: mert_95m)")
    parser.add_argument("--method", default="adapter", choices=list_presets("methods") or None,
                        help="PETL method preset (default: adapter)")
    parser.add_argument("--head", default="mlp", choices=["mlp", "linear"])
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", args.name):
        parser.error(f"invalid name {args.name!r}: use letters, digits, '_' and '-'")
    try:
        folder = scaffold(args.name, args.task, args.dest, args.backbone, args.method, args.head)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created {folder}/{{prepare.py,train.py,hparams/default.yaml,README.md}}")
    print(f"next: put <data_folder>/{{train,valid,test}}.csv (path,label), then\n"
          f"  python {os.path.join(folder, 'train.py')} {os.path.join(folder, 'hparams', 'default.yaml')} "
          f"--data_folder=<data_folder>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
