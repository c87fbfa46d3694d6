#!/usr/bin/env python3
"""Scaffold a new recipe: ``NAME/<task>/`` (in the current folder, or ``--dest``) that trains out of the box.

    python tools/new_recipe.py MyDrums --task classification
    python tools/new_recipe.py MyKeys --task key --backbone musicfm_msd --method lora --dest recipes

Everything is derived, when the tool runs, from code that ships and is tested:

* ``prepare.py``: :mod:`petl_core.datasets.csv_folder` for the task (``<data_folder>/{train,valid,test}.csv``
  with ``path,label``; for classification also ``<data_folder>/<split>/<label>/<audio>``);
* ``hparams/default.yaml``: the shipped SynthMusic recipe of the task (:data:`TEMPLATES`: small random
  backbone, full fine-tuning at lr 1e-3, its task, loss, augmentation and training settings), with this
  recipe's name, data folder, backbone and method; classification takes the task class of
  :mod:`petl_core.tasks` in place of the template's;
* ``train.py``: the shipped ``train.py`` of the same task, reading this recipe's ``prepare.py``;
* ``fixture/``: a small generated dataset of the task (:mod:`petl_core.synth` clips, in the layout above),
  the yaml's default ``data_folder``: ``python NAME/<task>/train.py NAME/<task>/hparams/default.yaml``
  trains at once. Point ``--data_folder`` at your data.

An existing ``<dest>/NAME/<task>`` folder is never overwritten, and ``--dest`` must be a folder (exit
status 1 with one error line).
"""
from __future__ import annotations

import argparse
import csv
import inspect
import os
import re
import sys

import numpy as np
import soundfile as sf

from petl_core.entry import fail

TOOLKIT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(TOOLKIT, "recipes")
COMMON = os.path.join(RECIPES, "hparams_common")
#: task -> (the shipped hparams the yaml is derived from, the shipped train.py of the same task)
TEMPLATES = {
    "classification": ("SynthMusic/key/hparams/default.yaml", "ESC50/classification/train.py"),
    "tagging": ("SynthMusic/tagging/hparams/default.yaml", "SynthMusic/tagging/train.py"),
    "key": ("SynthMusic/key/hparams/default.yaml", "SynthMusic/key/train.py"),
    "tempo": ("SynthMusic/tempo/hparams/default.yaml", "SynthMusic/tempo/train.py"),
}
TASKS = tuple(TEMPLATES)
FIXTURE_SIZES = {"train": 8, "valid": 4, "test": 4}
FIXTURE_SECONDS, FIXTURE_RATE = 2.0, 24000


class ScaffoldError(RuntimeError):
    """The recipe cannot be written (message names the path)."""


def task_class(task: str) -> type:
    """The :mod:`petl_core.tasks` class whose ``name`` is ``task``."""
    from petl_core import tasks

    classes = {cls.name: cls for _, cls in inspect.getmembers(tasks, inspect.isclass)
               if issubclass(cls, tasks.Task) and cls.__module__ == tasks.__name__}
    return classes[task]


def task_facts(task: str) -> dict:
    """What the scaffold says of a task, from its class: the yaml node, a description, the main metric."""
    cls = task_class(task)
    return {"node": f"!new:{cls.__module__}.{cls.__qualname__}",
            "what": inspect.getdoc(cls).splitlines()[0].rstrip(".").lower(), "metric": cls().main_metric}


def list_presets(kind: str) -> list[str]:
    folder = os.path.join(COMMON, kind)
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []


# ------------------------------------------------------------------------------------- yaml
def top_level_value(text: str, key: str) -> str:
    """The one-line value of a top-level ``key`` (comment dropped)."""
    match = re.search(rf"^{re.escape(key)}:[ \t]*(.*?)(?:[ \t]+#.*)?$", text, flags=re.M)
    if match is None:
        raise ScaffoldError(f"the template has no top-level key {key!r}")
    return match.group(1)


def set_top_level(text: str, key: str, value: str, comment: str = "") -> str:
    """``text`` with the top-level ``key`` (and its indented continuation lines) set to ``value``."""
    pattern = re.compile(rf"^{re.escape(key)}:.*(?:\n[ \t]+.*)*", flags=re.M)
    if len(pattern.findall(text)) != 1:
        raise ScaffoldError(f"the template has no single top-level key {key!r}")
    line = f"{key}: {value}" + (f"   # {comment}" if comment else "")
    return pattern.sub(lambda _: line, text)


def derive_hparams(task: str, name: str, folder: str, fixture: str, backbone: str | None, method: str | None,
                   head: str) -> tuple[str, str, str, str]:
    """``(header, body, backbone, method)`` of the recipe's yaml: the task's shipped SynthMusic yaml with this
    recipe's settings; the header holds ``{train}`` and ``{hparams}`` for the recipe's paths."""
    template = os.path.join(RECIPES, TEMPLATES[task][0])
    with open(template, encoding="utf-8") as f:
        text = f.read()
    body = text[re.search(r"^\w", text, flags=re.M).start():]  # the template's header comment is its own
    common_then = os.path.relpath(COMMON, os.path.dirname(template))
    inside = os.path.commonpath([folder, TOOLKIT]) == TOOLKIT  # relative inside the toolkit: it may move
    common = os.path.relpath(COMMON, os.path.join(folder, "hparams")) if inside else COMMON
    body = body.replace(f"!include:{common_then}/", f"!include:{common}/")
    body = set_top_level(body, "output_folder", f"!ref results/{name}/{task}/<seed>")
    body = set_top_level(body, "data_folder", fixture, "the generated fixture; --data_folder=<your data>")
    body = set_top_level(body, "prepare", "{skip_bad_files: false}", "extra keyword arguments of prepare.prepare()")
    backbone = backbone or top_level_value(body, "backbone")
    method = method or top_level_value(body, "method")
    body = set_top_level(body, "backbone", backbone, "a piece: hparams_common/backbones/<backbone>.yaml")
    body = set_top_level(body, "method", method, "a piece: hparams_common/methods/<method>.yaml")
    body = set_top_level(body, "head", f"!name:lobes.heads.{'MLPHead' if head == 'mlp' else 'LinearHead'}",
                         "called with (backbone width, number of outputs); or !new: any nn.Module")
    facts = task_facts(task)
    if top_level_value(body, "task").split()[0] != facts["node"]:  # the template is another task's
        body = set_top_level(body, "task", facts["node"], facts["what"])
        body = set_top_level(body, "augmentation", "null", "e.g. !new:petl_core.augment.Augmenter")
    header = (f"# {name} '{task}': {facts['what']}.\n"
              f"# Scaffolded by tools/new_recipe.py from recipes/{TEMPLATES[task][0]}\n"
              "# (see there and recipes/hparams_common for every option).\n"
              f"# Default: a small RANDOMLY INITIALISED {backbone} trained with {method} on the generated fixture;\n"
              "# for transfer learning give a pretrained backbone and a PETL method, and your data:\n#\n"
              f"#   python {{train}} {{hparams}} --data_folder=/data/{name} --backbone=mert_95m --method=lora\n\n")
    return header, body, backbone, method


# ------------------------------------------------------------------------------------- train.py
def derive_train(task: str, name: str, what: str) -> str:
    """The shipped ``train.py`` of the task reading this recipe's ``prepare.py``."""
    with open(os.path.join(RECIPES, TEMPLATES[task][1]), encoding="utf-8") as f:
        text = f.read()
    code = text[text.index('"""', text.index('"""') + 3) + 3:]  # after the module docstring
    code, n = re.subn(r"^from petl_core\.datasets\.\S+ import \S+(?: as prepare)?$",
                      "from prepare import prepare  # this recipe's prepare.py (the script's folder is on sys.path)",
                      code, flags=re.M)
    if n != 1:
        raise ScaffoldError(f"recipes/{TEMPLATES[task][1]}: no single 'from petl_core.datasets... import' line")
    code = re.sub(r'(def dataio_prep\(hparams\):\n\s+)""".*?"""',
                  lambda m: m.group(1) + f'"""{name}\'s lists as manifests (prepare.py, main process); datasets."""',
                  code, count=1, flags=re.S)
    return (f'#!/usr/bin/env python3\n"""{name} \'{task}\' ({what}). Usage:\n\n'
            f"    python {{train}} {{hparams}}   # the generated fixture\n"
            f"    python {{train}} {{hparams}} --data_folder=/data/{name} [--overrides]\n\n"
            f"Derived from recipes/{TEMPLATES[task][1]} by tools/new_recipe.py; see README.md.\n"
            '"""' + code)


# ------------------------------------------------------------------------------------- prepare.py
PREPARE = '''#!/usr/bin/env python3
"""{name} '{task}': the train/valid/test manifests from {layout}.

``label``: {label}. See :mod:`petl_core.datasets.csv_folder`; replace ``prepare`` by a function of your
own for another layout (same signature, returns ``{{split: manifest path}}``).

    python {prepare_py} --data_folder {fixture} --save_folder results/{name}_{task}
"""
import functools

from petl_core.datasets import csv_folder

prepare = functools.partial(csv_folder.prepare, task="{task}", name="{name}")

if __name__ == "__main__":
    csv_folder.cli("{task}", "{name}")
'''

README = '''# {name} — {task}

{what_cap}. Scaffolded by `tools/new_recipe.py` from the shipped recipes
(`recipes/{yaml}`, `recipes/{train_template}`); see `docs/adding_a_recipe.md`.

## Data

`prepare.py` reads {layout}; `label`: {label}. It checks every file and writes the manifests
(`ID,wav,duration,label`); `train.py` runs it itself (into `<output_folder>/manifests`).

`fixture/` holds a small generated dataset in that layout ({sizes} clips of {seconds:g} s, synthetic
music from `petl_core.synth`), the default `data_folder`: the recipe trains on it as it is.

## Training

```
python {train} {hparams}                                  # the fixture
python {train} {hparams} --data_folder=/data/{name}
python {train} {hparams} --data_folder=/data/{name} --backbone=mert_95m --method=lora
```

Defaults: `{backbone}` (randomly initialised unless the piece loads weights) + `{method}`, lr 1e-3, as
`recipes/{yaml}`. The output folder holds `results.json` (valid/test `{metric}` and the other metrics,
bootstrap CIs, parameter counts, the resolved config) and `save/CKPT+*`.

## Using a trained run

```
python tools/predict.py --run results/{name}/{task}/1234 clip1.wav clip2.wav
```
'''


# ------------------------------------------------------------------------------------- fixture
def write_fixture(folder: str, task: str) -> str:
    """A small dataset of ``task`` in the csv_folder layout: generated clips and ``{split}.csv``.
    Classification: key clips labelled by their mode (major / minor)."""
    from petl_core.datasets.synthmusic import SPLITS, split_targets
    from petl_core.music import KEYS
    from petl_core.synth import generate_clip

    os.makedirs(os.path.join(folder, "audio"))
    for s, split in enumerate(SPLITS):
        n = FIXTURE_SIZES[split]
        clip_task = "key" if task == "classification" else task
        targets = [KEYS[(i % 2) * 12 + i % 12] for i in range(n)] if task == "classification" else \
            split_targets(task, s, n, seed=0)
        with open(os.path.join(folder, f"{split}.csv"), "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label"])
            for i, target in enumerate(targets):
                wav, label = generate_clip(clip_task, np.random.default_rng([0, s, i]), FIXTURE_RATE, FIXTURE_SECONDS,
                                           target=target)
                rel = f"audio/{split}_{i:03d}.wav"
                sf.write(os.path.join(folder, rel), wav, FIXTURE_RATE, subtype="PCM_16")
                writer.writerow([rel, label.split()[1] if task == "classification" else label])
    return folder


# ------------------------------------------------------------------------------------- scaffold
def scaffold(name: str, task: str, dest: str = ".", backbone: str | None = None, method: str | None = None,
             head: str = "mlp") -> str:
    """Write the recipe; returns its folder. Raises ``ScaffoldError`` (an existing recipe, a file as dest)."""
    from petl_core.datasets.csv_folder import LABEL_FORMATS, layout

    if os.path.exists(dest) and not os.path.isdir(dest):
        raise ScaffoldError(f"--dest {dest}: is a file, not a folder; give the folder to create {name}/ in")
    folder = os.path.abspath(os.path.join(dest, name, task))
    if os.path.exists(folder):
        raise ScaffoldError(f"{folder} already exists; not overwriting it (remove it or choose another name)")
    inside = os.path.commonpath([folder, TOOLKIT]) == TOOLKIT
    rel = os.path.relpath(folder, TOOLKIT) if inside else folder
    fixture = os.path.join(folder, "fixture")
    facts = task_facts(task)
    header, body, backbone, method = derive_hparams(task, name, folder, fixture, backbone, method, head)
    paths = {"train": os.path.join(rel, "train.py"), "hparams": os.path.join(rel, "hparams", "default.yaml")}
    values = dict(name=name, task=task, what_cap=facts["what"][:1].upper() + facts["what"][1:],
                  label=LABEL_FORMATS[task], layout=layout(task),
                  fixture=fixture, prepare_py=os.path.join(rel, "prepare.py"), yaml=TEMPLATES[task][0],
                  train_template=TEMPLATES[task][1], metric=facts["metric"], backbone=backbone, method=method,
                  sizes="/".join(str(n) for n in FIXTURE_SIZES.values()), seconds=FIXTURE_SECONDS, **paths)
    files = {"prepare.py": PREPARE.format(**values),
             "train.py": derive_train(task, name, facts["what"]).replace("{train}", paths["train"])
             .replace("{hparams}", paths["hparams"]),
             os.path.join("hparams", "default.yaml"): header.format(**paths) + body,
             "README.md": README.format(**values)}
    os.makedirs(os.path.join(folder, "hparams"))
    for rel_path, text in files.items():
        path = os.path.join(folder, rel_path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        if rel_path.endswith(".py"):
            os.chmod(path, 0o755)
    write_fixture(fixture, task)
    return folder


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python tools/new_recipe.py MyDrums --task classification",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="dataset name (letters, digits, '_' and '-'), e.g. MyDrums")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--dest", default=".", help="parent folder (default: the current folder)")
    parser.add_argument("--backbone", default=None, choices=list_presets("backbones") or None,
                        help="backbone piece (default: the template recipe's small random one)")
    parser.add_argument("--method", default=None, choices=list_presets("methods") or None,
                        help="PETL method piece (default: the template recipe's, ft)")
    parser.add_argument("--head", default="mlp", choices=["mlp", "linear"])
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", args.name):
        parser.error(f"invalid name {args.name!r}: use letters, digits, '_' and '-'")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        folder = scaffold(args.name, args.task, args.dest, args.backbone, args.method, args.head)
    except ScaffoldError as exc:
        return fail(exc)
    print(f"created {folder}/{{prepare.py,train.py,hparams/default.yaml,README.md,fixture/}}")
    print(f"next: python {os.path.join(folder, 'train.py')} {os.path.join(folder, 'hparams', 'default.yaml')}"
          "   (the fixture; --data_folder=<your data>)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
