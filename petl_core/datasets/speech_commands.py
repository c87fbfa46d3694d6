"""Google Speech Commands v2 (Warden 2018): 105,829 one-second utterances of 35 words.

Official layout (``speech_commands_v0.02.tar.gz`` unpacked)::

    <data_folder>/validation_list.txt     right/bb05582b_nohash_0.wav (one per line)
    <data_folder>/testing_list.txt
    <data_folder>/<word>/<speaker>_nohash_<n>.wav   (35 word folders)
    <data_folder>/_background_noise_/     (excluded)

Splits: the official lists give ``valid`` and ``test``; ``train`` is every other file of the word
folders (folders starting with ``_`` are excluded). Labels are the 35 words. Extra column:
``speaker``.
"""
from __future__ import annotations

import logging
import os

from petl_core.manifest import (
    DatasetError,
    check_disjoint,
    ensure_dataset,
    finalize_splits,
    prepare_once,
    read_lines,
    require_file,
)

logger = logging.getLogger(__name__)

URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"  # as in torchaudio
LAYOUT = "validation_list.txt, testing_list.txt and one folder of .wav files per word"
SPLITS = ("train", "valid", "test")
NUM_WORDS_V2 = 35


def prepare(
    data_folder: str,
    save_folder: str,
    download: bool = False,
    skip_bad_files: bool = False,
    check_samples: bool = False,
) -> dict[str, str]:
    """Write ``train/valid/test.csv``; return ``{split: path}``."""
    data_folder = os.path.abspath(data_folder)
    if download and not os.path.isfile(os.path.join(data_folder, "testing_list.txt")):
        from petl_core.manifest import download_and_extract

        download_and_extract(URL, data_folder, sha256=SHA256, name="Speech Commands v2",
                             layout=LAYOUT)
    ensure_dataset(data_folder, "testing_list.txt", "Speech Commands v2", LAYOUT)
    options = dict(dataset="speech_commands_v2", data_folder=data_folder,
                   skip_bad_files=skip_bad_files, check_samples=check_samples)

    def build():
        listed = {}
        for split, name in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
            path = require_file(os.path.join(data_folder, name), f"Speech Commands {split} list",
                                LAYOUT)
            for line in read_lines(path):
                rel = line.replace("\\", "/")
                if rel in listed and listed[rel] != split:
                    raise DatasetError(f"{path}: {rel} is also in the {listed[rel]} list")
                listed[rel] = split
        words = sorted(
            d for d in os.listdir(data_folder)
            if not d.startswith(("_", ".")) and os.path.isdir(os.path.join(data_folder, d))
        )
        words = [w for w in words if any(n.lower().endswith(".wav")
                                         for n in os.listdir(os.path.join(data_folder, w)))]
        if not words:
            raise DatasetError(f"{data_folder}: no word folders found (layout: {LAYOUT})")
        if len(words) != NUM_WORDS_V2:
            logger.warning("Speech Commands: %d word folders in %s (v2 has %d)", len(words),
                           data_folder, NUM_WORDS_V2)
        rows = {s: [] for s in SPLITS}
        found = set()
        for word in words:
            for name in sorted(os.listdir(os.path.join(data_folder, word))):
                if not name.lower().endswith(".wav"):
                    continue  # (folders without .wav files, e.g. a save folder, add nothing)
                rel = f"{word}/{name}"
                found.add(rel)
                rows[listed.get(rel, "train")].append(_row(data_folder, word, name))
        # listed files that are absent from the folders: keep them so validation reports them
        for rel, split in listed.items():
            if rel not in found:
                word, name = rel.split("/", 1)
                rows[split].append(_row(data_folder, word, name))
        check_disjoint(rows, "Speech Commands")
        return finalize_splits(rows, skip_bad_files, check_samples, "Speech Commands")

    return prepare_once(save_folder, SPLITS, options, build)


def _row(root: str, word: str, name: str) -> dict:
    stem = os.path.splitext(name)[0]
    return {
        "ID": f"{word}_{stem}",
        "wav": os.path.join(root, word, name),
        "label": word,
        "speaker": stem.split("_nohash_")[0],
    }
