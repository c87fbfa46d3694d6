"""Fluent Speech Commands (Lugosch et al. 2019): 30,043 utterances, 31 intents.

Official layout (``fluent_speech_commands_dataset``, from https://fluent.ai/ after registration,
no automatic download)::

    <data_folder>/data/train_data.csv   ,path,speakerId,transcription,action,object,location
    <data_folder>/data/valid_data.csv
    <data_folder>/data/test_data.csv
    <data_folder>/wavs/speakers/<speakerId>/<uuid>.wav

``path`` is relative to ``data_folder``. The label is the intent ``action_object_location``
(e.g. ``increase_heat_kitchen``, ``change language_none_none``), 31 of them in total.
Splits: the official speaker-disjoint train/valid/test. Extra columns: ``speaker``,
``transcription``.
"""
from __future__ import annotations

import csv
import logging
import os

from petl_core.manifest import (
    DatasetError,
    check_disjoint,
    ensure_dataset,
    finalize_splits,
    prepare_once,
    require_file,
)

logger = logging.getLogger(__name__)

LAYOUT = ("data/{train,valid,test}_data.csv (columns path, speakerId, transcription, action, "
          "object, location) and wavs/speakers/<speaker>/*.wav; get it from https://fluent.ai/")
SPLITS = ("train", "valid", "test")
NUM_INTENTS = 31
COLUMNS = {"path", "speakerId", "transcription", "action", "object", "location"}


def prepare(
    data_folder: str,
    save_folder: str,
    download: bool = False,
    skip_bad_files: bool = False,
    check_samples: bool = False,
) -> dict[str, str]:
    """Write ``train/valid/test.csv``; return ``{split: path}``."""
    data_folder = os.path.abspath(data_folder)
    if not os.path.isdir(os.path.join(data_folder, "data")):
        sub = os.path.join(data_folder, "fluent_speech_commands_dataset")
        if os.path.isdir(os.path.join(sub, "data")):
            data_folder = sub
    # no public URL: download=True only changes the message
    ensure_dataset(data_folder, os.path.join("data", "train_data.csv"),
                   "Fluent Speech Commands" + (" (cannot be downloaded automatically)"
                                               if download else ""), LAYOUT)
    options = dict(dataset="fluent_speech_commands", data_folder=data_folder,
                   skip_bad_files=skip_bad_files, check_samples=check_samples)

    def build():
        rows = {}
        for split in SPLITS:
            path = require_file(os.path.join(data_folder, "data", f"{split}_data.csv"),
                                f"Fluent Speech Commands {split} list", LAYOUT)
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                missing = COLUMNS - set(reader.fieldnames or [])
                if missing:
                    raise DatasetError(f"{path}: missing column(s) {sorted(missing)}")
                entries = list(reader)
            rows[split] = []
            for e in entries:
                rel = e["path"].strip().replace("\\", "/")
                speaker = e["speakerId"].strip()
                stem = os.path.splitext(os.path.basename(rel))[0]
                intent = "_".join(e[c].strip() for c in ("action", "object", "location"))
                rows[split].append({
                    "ID": f"{speaker}_{stem}",
                    "wav": os.path.join(data_folder, rel),
                    "label": intent,
                    "speaker": speaker,
                    "transcription": e["transcription"].strip(),
                })
        intents = {r["label"] for rs in rows.values() for r in rs}
        if len(intents) != NUM_INTENTS:
            logger.warning("Fluent Speech Commands: %d intents found (expected %d)", len(intents),
                           NUM_INTENTS)
        unseen = {r["label"] for r in rows["valid"] + rows["test"]} - {
            r["label"] for r in rows["train"]}
        if unseen:
            logger.warning("Fluent Speech Commands: intents absent from train: %s", sorted(unseen))
        check_disjoint(rows, "Fluent Speech Commands")
        return finalize_splits(rows, skip_bad_files, check_samples, "Fluent Speech Commands")

    return prepare_once(save_folder, SPLITS, options, build)
