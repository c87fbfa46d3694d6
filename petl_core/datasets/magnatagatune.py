"""MagnaTagATune (Law et al. 2009), top-50 tags, with the split of Won et al. (2020).

Official layout (https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset; no automatic
download: the audio comes as split zip parts)::

    <data_folder>/annotations_final.csv   tab-separated, quoted: clip_id, 188 tag columns, mp3_path
    <data_folder>/mp3/0/...mp3 ... mp3/f/...mp3   (or the 16 folders directly in data_folder)
    <split_folder>/train.npy valid.npy test.npy   Won et al.'s split ("idx\\tpath" strings), or
                   train.tsv|txt valid.tsv|txt test.tsv|txt   one "idx<TAB>path" or "path" per line
    <split_folder>/top50_tags.txt                 the 50 tags, one per line (or Won's tags.npy)

``split_folder`` defaults to the first of ``data_folder/split``, ``data_folder/splits`` and
``data_folder`` that holds the split files (Won et al.: ``split/mtat`` of
github.com/minzwon/sota-music-tagging-models; usually reported as 15,244 / 1,529 / 4,332 clips).

Labels are the clip's top-50 tags joined by ``;`` in vocabulary order, named as in the tag list
(``top50_tags.txt`` spells tags in camelCase, e.g. ``femaleVoice``; they are matched to the CSV
columns, e.g. ``female voice``, ignoring case, spaces and punctuation). A listed clip with none of
the 50 tags keeps an empty label (split faithful to Won et al.; ``drop_untagged=True`` drops
them). ``tags.txt`` (the vocabulary, in order) is written next to the manifests. Paths ending
in ``.mp3`` also match a converted ``.wav``/``.flac`` file with the same stem.
"""
from __future__ import annotations

import csv
import logging
import os
import re

from petl_core.manifest import (
    DatasetError,
    check_disjoint,
    ensure_dataset,
    finalize_splits,
    first_existing,
    prepare_once,
    read_lines,
    resolve_audio,
    write_lines_atomic,
)

logger = logging.getLogger(__name__)

LAYOUT = ("annotations_final.csv, mp3/<0-9a-f>/*.mp3, split files train/valid/test (.npy of "
          "Won et al. or .tsv/.txt lists) and top50_tags.txt; from "
          "https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset")
SPLITS = ("train", "valid", "test")
_SPLIT_EXTS = (".npy", ".tsv", ".txt")


def _norm(tag: str) -> str:
    return re.sub(r"[^a-z0-9]", "", tag.lower())


def _find_split_folder(data_folder: str, split_folder: str | None) -> str:
    if split_folder:
        return os.path.abspath(split_folder)
    candidates = [os.path.join(data_folder, d) for d in ("split", "splits", "split/mtat", "")]
    for c in candidates:
        if any(os.path.isfile(os.path.join(c, "train" + e)) for e in _SPLIT_EXTS):
            return os.path.abspath(c)
    raise DatasetError(
        f"MagnaTagATune split files (train.npy/train.tsv/train.txt) not found in any of "
        f"{[os.path.normpath(c) for c in candidates]}; pass split_folder (layout: {LAYOUT})"
    )


def read_split_list(path: str) -> list[str]:
    """Clip paths (relative to the mp3 folder) of a split file: ``.npy`` of ``"idx\\tpath"``
    strings (Won et al.) or a text file with ``idx<TAB>path`` or ``path`` per line."""
    if path.endswith(".npy"):
        import numpy as np

        try:
            items = [str(x) for x in np.load(path, allow_pickle=False).reshape(-1)]
        except Exception as exc:  # noqa: BLE001 - numpy raises several types
            raise DatasetError(f"{path}: cannot read split array ({exc})") from None
    else:
        items = read_lines(path)
    out = []
    for item in items:
        rel = item.split("\t")[-1].strip().replace("\\", "/")
        if rel.startswith("mp3/"):
            rel = rel[4:]
        if rel:
            out.append(rel)
    return out


def read_tag_list(path: str) -> list[str]:
    if path.endswith(".npy"):
        import numpy as np

        return [str(x).strip() for x in np.load(path, allow_pickle=False).reshape(-1)]
    return read_lines(path)


def read_annotations(path: str) -> tuple[list[str], dict[str, tuple[str, set[str]]]]:
    """Tag columns and ``{mp3_path: (clip_id, {tags})}`` of ``annotations_final.csv``."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DatasetError(f"{path}: empty annotation file") from None
        if len(header) < 3 or header[0] != "clip_id" or header[-1] != "mp3_path":
            raise DatasetError(
                f"{path}: expected a tab-separated header 'clip_id <tags...> mp3_path', "
                f"got {header[:2]}...{header[-1:]}"
            )
        tags = header[1:-1]
        clips = {}
        for n, values in enumerate(reader, start=2):
            if not values or not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise DatasetError(f"{path}: line {n} has {len(values)} fields, "
                                   f"expected {len(header)}")
            on = {t for t, v in zip(tags, values[1:-1]) if v.strip() == "1"}
            clips[values[-1].strip()] = (values[0].strip(), on)
    return tags, clips


def prepare(
    data_folder: str,
    save_folder: str,
    split_folder: str | None = None,
    tag_file: str | None = None,
    drop_untagged: bool = False,
    download: bool = False,
    skip_bad_files: bool = False,
    check_samples: bool = False,
) -> dict[str, str]:
    """Write ``train/valid/test.csv`` and ``tags.txt``; return ``{split: path}``."""
    data_folder = os.path.abspath(data_folder)
    ensure_dataset(data_folder, "annotations_final.csv",
                   "MagnaTagATune" + (" (cannot be downloaded automatically)" if download else ""),
                   LAYOUT)
    split_folder = _find_split_folder(data_folder, split_folder)
    if tag_file is None:
        tag_file = first_existing(
            [os.path.join(split_folder, "top50_tags.txt"), os.path.join(split_folder, "tags.npy"),
             os.path.join(data_folder, "top50_tags.txt")])
        if tag_file is None:
            raise DatasetError(f"MagnaTagATune tag list not found: "
                               f"{os.path.join(split_folder, 'top50_tags.txt')} (layout: {LAYOUT})")
    tag_file = os.path.abspath(tag_file)
    split_files = {}
    for split in SPLITS:
        found = first_existing(os.path.join(split_folder, split + e) for e in _SPLIT_EXTS)
        if found is None:
            raise DatasetError(f"MagnaTagATune {split} split not found: "
                               f"{os.path.join(split_folder, split + '.npy')} (or .tsv/.txt)")
        split_files[split] = found
    audio_root = first_existing([os.path.join(data_folder, "mp3")], isdir=True) or data_folder
    options = dict(dataset="magnatagatune_top50", data_folder=data_folder, split_files=split_files,
                   tag_file=tag_file, drop_untagged=drop_untagged, skip_bad_files=skip_bad_files,
                   check_samples=check_samples)

    def build():
        ann_path = os.path.join(data_folder, "annotations_final.csv")
        columns, clips = read_annotations(ann_path)
        vocab = read_tag_list(tag_file)
        if not vocab:
            raise DatasetError(f"{tag_file}: empty tag list")
        by_norm = {_norm(c): c for c in columns}
        unknown = [t for t in vocab if _norm(t) not in by_norm]
        if unknown:
            raise DatasetError(f"{tag_file}: tag(s) {unknown} are not columns of {ann_path}")
        column_of = {t: by_norm[_norm(t)] for t in vocab}
        rows = {}
        untagged = 0
        for split in SPLITS:
            rels = read_split_list(split_files[split])
            absent = [r for r in rels if r not in clips]
            if absent:
                raise DatasetError(
                    f"{split_files[split]}: {len(absent)} clip(s) not in {ann_path}, e.g. "
                    f"{absent[:3]}")
            rows[split] = []
            for rel in rels:
                clip_id, on = clips[rel]
                tags = [t for t in vocab if column_of[t] in on]
                if not tags:
                    untagged += 1
                    if drop_untagged:
                        continue
                rows[split].append({
                    "ID": clip_id,
                    "wav": resolve_audio(os.path.join(audio_root, rel)),
                    "label": ";".join(tags),
                })
        if untagged:
            logger.info("MagnaTagATune: %d listed clip(s) have none of the %d tags (%s)", untagged,
                        len(vocab), "dropped" if drop_untagged else "kept with an empty label")
        check_disjoint(rows, "MagnaTagATune")
        rows = finalize_splits(rows, skip_bad_files, check_samples, "MagnaTagATune")
        write_lines_atomic(vocab, os.path.join(save_folder, "tags.txt"))
        return rows

    return prepare_once(save_folder, SPLITS, options, build)
