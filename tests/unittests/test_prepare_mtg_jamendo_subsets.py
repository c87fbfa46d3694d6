"""MTG-Jamendo genre / instrument / mood-theme subsets (split-0) on fixtures built from real split lines."""
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.datasets import get_prepare, mtg_jamendo
from petl_core.manifest import DatasetError, read_manifest

HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\r\n"
# real split-0 lines (autotagging_top50tags), whose tags span every category
REAL = {
    "train": ["track_0002165\tartist_000326\talbum_000347\t65/2165.mp3\t229.0\tgenre---chillout\tgenre---soundtrack\t"
              "mood/theme---film",
              "track_0004639\tartist_000087\talbum_000718\t39/4639.mp3\t188.0\tgenre---ambient\tgenre---newage\t"
              "mood/theme---relaxing"],
    "validation": ["track_0017490\tartist_002449\talbum_002470\t90/17490.mp3\t233.7\tgenre---jazz\t"
                   "instrument---bass\tinstrument---drums\tmood/theme---energetic"],
    "test": ["track_0006720\tartist_000937\talbum_001020\t20/6720.mp3\t132.4\tgenre---pop\tinstrument---piano\t"
             "mood/theme---relaxing"],
}
CATEGORY = {"genre": "genre---", "instrument": "instrument---", "moodtheme": "mood/theme---"}


def _subset_line(line, subset):
    """The line as the official subset file has it: only that category's tags (None if it has none)."""
    fields = line.split("\t")
    tags = [t for t in fields[5:] if t.startswith(CATEGORY[subset])]
    return "\t".join(fields[:5] + tags) if tags else None


def _layout(root, subset, lines_of=_subset_line):
    split = root / "data" / "splits" / "split-0"
    split.mkdir(parents=True, exist_ok=True)
    for name, lines in REAL.items():
        kept = [x for x in (lines_of(line, subset) for line in lines) if x]
        (split / f"autotagging_{subset}-{name}.tsv").write_bytes((HEADER + "".join(x + "\r\n" for x in kept)).encode())
        for line in kept:
            path = root / "audio" / line.split("\t")[3].replace(".mp3", ".wav")
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), np.full(1600, 0.1, dtype="float32"), 16000)
    return root


@pytest.mark.parametrize("subset", ["moodtheme", "genre"])
def test_subset_files_and_vocabulary(tmp_path, subset):
    root = _layout(tmp_path / "mtg", subset)
    paths = get_prepare(f"mtg_jamendo_{subset}")(root, tmp_path / "save")
    rows = {s: read_manifest(p) for s, p in paths.items()}
    labels = [t for r in sum(rows.values(), []) for t in r["label"].split(";")]
    assert labels and all(t.startswith(CATEGORY[subset]) for t in labels)
    if subset == "moodtheme":
        assert [r["label"] for r in rows["train"]] == ["mood/theme---film", "mood/theme---relaxing"]
        assert rows["test"][0]["ID"] == "track_0006720"
    vocab = (tmp_path / "save" / "tags.txt").read_text().split()
    assert vocab == sorted({t for r in rows["train"] + rows["valid"] + rows["test"] for t in r["label"].split(";")})


def test_instrument_subset_without_a_track_in_train_is_refused_clearly(tmp_path):
    root = _layout(tmp_path / "mtg", "instrument")  # no train line has an instrument tag: empty file
    with pytest.raises(DatasetError, match="autotagging_instrument-train.tsv"):
        mtg_jamendo.prepare(root, tmp_path / "save", subset="instrument")


def test_swapped_or_unknown_subset_files(tmp_path):
    root = _layout(tmp_path / "mtg", "moodtheme", lines_of=lambda line, subset: line)  # top-50 lines, all tags
    with pytest.raises(DatasetError, match="outside the moodtheme subset .*right split file"):
        mtg_jamendo.prepare(root, tmp_path / "save", subset="moodtheme")
    with pytest.raises(ValueError, match="subset must be one of top50tags, genre, instrument, moodtheme, all"):
        mtg_jamendo.prepare(root, tmp_path / "save", subset="mood")
    os.remove(root / "data" / "splits" / "split-0" / "autotagging_moodtheme-test.tsv")
    with pytest.raises(DatasetError, match="autotagging_moodtheme-test.tsv"):
        mtg_jamendo.prepare(root, tmp_path / "other", subset="moodtheme")
