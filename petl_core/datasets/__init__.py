"""Dataset preparation: one module per dataset, each with ``prepare(data_folder, save_folder, ...)``
returning ``{split: manifest path}`` (see :mod:`petl_core.manifest` for the manifest format).

Modules are imported lazily (``get_prepare("esc50")``) so that importing this package is cheap.

Example:
    >>> sorted(DATASETS)[:3]
    ['ballroom_beat', 'chords_lab', 'csv_folder']
"""
from __future__ import annotations

import argparse
import importlib
import logging
import math
from typing import Callable, Sequence

# name -> (module, function)
DATASETS = {
    "esc50": ("esc50", "prepare"),
    "urbansound8k": ("urbansound8k", "prepare"),
    "speech_commands": ("speech_commands", "prepare"),
    "fluent_speech_commands": ("fluent_speech_commands", "prepare"),
    "magnatagatune": ("magnatagatune", "prepare"),
    "mtg_jamendo": ("mtg_jamendo", "prepare"),
    "gtzan_genre": ("gtzan", "prepare_genre"),
    "gtzan_key": ("gtzan", "prepare_key"),
    "gtzan_tempo": ("gtzan", "prepare_tempo"),
    "gtzan_beat": ("gtzan", "prepare_beat"),
    "ballroom_beat": ("ballroom", "prepare"),
    "chords_lab": ("chords_lab", "prepare"),
    "csv_folder": ("csv_folder", "prepare"),
    "giantsteps_key": ("giantsteps", "prepare_key"),
    "giantsteps_tempo": ("giantsteps", "prepare_tempo"),
    "mtg_jamendo_genre": ("mtg_jamendo", "prepare_genre"),
    "mtg_jamendo_instrument": ("mtg_jamendo", "prepare_instrument"),
    "mtg_jamendo_moodtheme": ("mtg_jamendo", "prepare_moodtheme"),
    "nsynth_instrument": ("nsynth", "prepare_instrument"),
    "nsynth_pitch": ("nsynth", "prepare_pitch"),
    "vocalset_singer": ("vocalset", "prepare_singer"),
    "vocalset_technique": ("vocalset", "prepare_technique"),
    "emomusic": ("emomusic", "prepare"),
}


def get_prepare(name: str) -> Callable[..., dict]:
    """The ``prepare`` function of a dataset/task by its name in :data:`DATASETS`."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    module, func = DATASETS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)


def build_parser(description: str, test_fold: Sequence[int] | None = None) -> argparse.ArgumentParser:
    """The common CLI of the recipes' ``prepare.py`` wrappers."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data_folder", required=True, help="dataset root (official layout)")
    parser.add_argument("--save_folder", required=True, help="where the manifests are written")
    if test_fold is not None:
        parser.add_argument("--test_fold", type=int, default=test_fold[0], choices=list(test_fold),
                            help="fold used as test set")
        parser.add_argument("--valid_fold", type=_fold_role, default=None,
                            help="validation fold: next, previous, test (PETL_AST's US8K protocol) or a "
                                 "number (default: the dataset's, see its README)")
    parser.add_argument("--download", action="store_true",
                        help="download the dataset when data_folder lacks it (needs internet)")
    parser.add_argument("--skip_bad_files", action="store_true",
                        help="drop unreadable/empty audio files (logged) instead of failing")
    parser.add_argument("--check_samples", action="store_true",
                        help="also decode every file to detect NaN/inf samples (slow)")
    return parser


def _fold_role(text: str) -> str | int:
    return int(text) if text.strip().isdigit() else text.strip()


def positive_number(kind: type = int, minimum: float | None = None) -> Callable[[str], float]:
    """argparse type: a finite ``kind`` (int or float) > 0, or >= ``minimum`` when given.

    >>> positive_number(int)("3"), positive_number(float)("0.5")
    (3, 0.5)
    """
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        ok = value is not None and math.isfinite(value) and (value >= minimum if minimum is not None else value > 0)
        if not ok:
            bound = f">= {minimum}" if minimum is not None else "> 0"
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'} "
                                             f"{bound}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def run_cli(prepare: Callable[..., dict], parser: argparse.ArgumentParser,
            argv: Sequence[str] | None = None) -> dict:
    """Parse ``argv``, run ``prepare`` on the main process (DDP-safe), print the manifests.

    A dataset that cannot be prepared (:class:`~petl_core.manifest.DatasetError`,
    :class:`~petl_core.manifest.ManifestError`, :class:`~petl_core.manifest.OptionError`) ends the program with one ``error:`` line (exit 2)."""
    from speechbrain.utils.distributed import run_on_main

    from petl_core.manifest import DatasetError, ManifestError, OptionError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kwargs = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    try:
        run_on_main(prepare, kwargs=kwargs)
        paths = prepare(**kwargs)  # other ranks: a no-op that returns the paths (prepare_once)
    except (DatasetError, ManifestError, OptionError) as exc:
        parser.exit(2, f"error: {exc}\n")
    for split, path in paths.items():
        print(f"{split}: {path}")
    return paths
