"""Emomusic preparation (MARBLE's artist-hashed split, MediaEval 2013 evaluation set as test)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dataset_fixtures import EMOMUSIC_SONGS, make_emomusic  # noqa: E402

from petl_core.datasets import emomusic  # noqa: E402
from petl_core.manifest import DatasetError, read_manifest  # noqa: E402
from petl_core.tasks import RegressionTask  # noqa: E402


@pytest.fixture
def root(tmp_path):
    return make_emomusic(tmp_path / "emo")


def test_splits_labels_and_regression_task(root, tmp_path):
    paths = emomusic.prepare(root, tmp_path / "s")
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert [r["artist"] for r in rows["test"]] == ["queen", "muse", "nirvana"]
    assert [r["artist"] for r in rows["valid"]] == ["nina simone", "daft punk"]
    assert len(rows["train"]) == 5
    first = rows["train"][0]
    assert (first["ID"], first["label"], first["arousal"], first["valence"]) == ("2", "3.0;6.0", "3.0", "6.0")
    assert first["wav"] == os.path.join(root, "clips_45seconds", "2.wav")  # .mp3 converted to .wav is found
    task = RegressionTask(emomusic.TARGETS, standardize=True).fitted(paths["train"])
    train = [r["label"].split(";") for r in rows["train"]]
    means = [sum(float(a) for a, _ in train) / 5, sum(float(v) for _, v in train) / 5]
    assert task.mean.tolist() == pytest.approx(means)


def test_artist_key_normalisation():
    assert emomusic.artist_key("  Björk & The  Sugarcubes!! ") == "bjrk the sugarcubes"
    assert emomusic.artist_split("Nina Simone") == emomusic.artist_split("nina   SIMONE ") == "valid"
    assert len(EMOMUSIC_SONGS) == 10


def test_unannotated_songs_and_bad_files(root, tmp_path, caplog):
    ann = os.path.join(root, "annotations", "static_annotations.csv")
    lines = open(ann).read().splitlines()
    open(ann, "w").write("\n".join(lines[:-1]) + "\n")  # drop Nirvana's annotation
    with caplog.at_level("INFO"):
        rows = read_manifest(emomusic.prepare(root, tmp_path / "s")["test"])
    assert len(rows) == 2 and "without a static annotation" in caplog.text
    info = os.path.join(root, "annotations", "songs_info.csv")
    text = open(info).read()
    open(info, "w").write(text.replace("evaluation", "eval", 1))
    with pytest.raises(DatasetError, match="songs_info.csv:.*'eval'"):
        emomusic.prepare(root, tmp_path / "s2")
    os.remove(ann)
    with pytest.raises(DatasetError, match="static_annotations.csv not found"):
        emomusic.prepare(root, tmp_path / "s3")
