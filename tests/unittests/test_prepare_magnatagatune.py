"""MagnaTagATune top-50 preparation (Won et al. split) on a tiny fixture in the official layout."""
import logging
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.datasets import magnatagatune as mtat
from petl_core.manifest import BadAudioError, DatasetError, ManifestError, read_manifest

COLUMNS = ["no voice", "singer", "guitar", "female voice", "classical", "no vocals", "harpsichord"]
CLIPS = [  # clip_id, tags on, mp3_path
    ("2", {"classical", "harpsichord"},
     "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3"),
    ("6", {"classical", "no vocals", "singer"},
     "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-88-117.mp3"),
    ("10", {"guitar", "female voice"}, "c/lisa_debenedictis-tigers-01-girl_from_the_grill-0-29.mp3"),
    ("11", {"guitar"}, "c/lisa_debenedictis-tigers-01-girl_from_the_grill-30-59.mp3"),
    ("14", {"singer"}, "9/various_artists-the_art_of_the_harpsichord-05-suite-146-175.mp3"),
    ("20", {"no voice"}, "0/jeff_wahl-guitarscapes-01-spanish_fire-204-233.mp3"),
]
TOP = "guitar\nclassical\nharpsichord\nfemaleVoice\nnoVocals\nnoVoice\n"  # camelCase as in the list
SPLIT = {"train": [0, 2, 3], "valid": [4], "test": [1, 5]}


def _wav(path, seconds=0.1, sr=16000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype="float32"), sr)


def _annotations():
    q = lambda v: f'"{v}"'  # noqa: E731 - the official file quotes every field
    lines = ["\t".join(q(c) for c in ["clip_id", *COLUMNS, "mp3_path"])]
    for cid, on, path in CLIPS:
        lines.append("\t".join([q(cid), *(q(int(c in on)) for c in COLUMNS), q(path)]))
    return "\n".join(lines) + "\n"


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "magnatagatune"
    r.mkdir()
    (r / "annotations_final.csv").write_text(_annotations())
    for _, _, path in CLIPS:  # .wav stands in for the official .mp3
        _wav(r / "mp3" / path.replace(".mp3", ".wav"))
    split = r / "split"
    split.mkdir()
    for name, idx in SPLIT.items():
        np.save(split / f"{name}.npy", np.array([f"{i}\t{CLIPS[i][2]}" for i in idx]))
    (split / "top50_tags.txt").write_text(TOP)
    return r


def test_won_split_and_tags(root, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    paths = mtat.prepare(root, tmp_path / "save")
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert [r["ID"] for r in rows["train"]] == ["2", "10", "11"]
    labels = {r["ID"]: r["label"] for rs in rows.values() for r in rs}
    assert labels == {"2": "classical;harpsichord", "6": "classical;noVocals", "10":
                      "guitar;femaleVoice", "11": "guitar", "14": "", "20": "noVoice"}
    assert rows["train"][0]["wav"].endswith(".wav") and "mp3" in rows["train"][0]["wav"]
    assert (tmp_path / "save" / "tags.txt").read_text().split("\n")[:2] == ["guitar", "classical"]
    assert "have none of the 6 tags" in caplog.text
    with pytest.raises(ManifestError, match="valid.csv: no rows"):  # only an untagged clip
        mtat.prepare(root, tmp_path / "dropped", drop_untagged=True)


def test_drop_untagged(root, tmp_path):
    np.save(root / "split" / "valid.npy", np.array([f"4\t{CLIPS[4][2]}", f"5\t{CLIPS[5][2]}"]))
    np.save(root / "split" / "test.npy", np.array([f"1\t{CLIPS[1][2]}"]))
    paths = mtat.prepare(root, tmp_path / "save", drop_untagged=True)
    assert [r["ID"] for r in read_manifest(paths["valid"])] == ["20"]


def test_text_split_lists(root, tmp_path):
    for name, idx in SPLIT.items():
        os.remove(root / "split" / f"{name}.npy")
        (root / "split" / f"{name}.tsv").write_text(
            "".join(f"{i}\t{CLIPS[i][2]}\n" if i % 2 else f"{CLIPS[i][2]}\n" for i in idx))
    paths = mtat.prepare(root, tmp_path / "save")
    assert [r["ID"] for r in read_manifest(paths["test"])] == ["6", "20"]


def test_errors_name_the_files(root, tmp_path):
    (root / "split" / "top50_tags.txt").write_text(TOP + "banjo\n")
    with pytest.raises(DatasetError, match=r"top50_tags.txt: tag\(s\) \['banjo'\]"):
        mtat.prepare(root, tmp_path / "save")
    (root / "split" / "top50_tags.txt").write_text(TOP)
    np.save(root / "split" / "test.npy", np.array(["99\tz/unknown.mp3"]))
    with pytest.raises(DatasetError, match=r"test.npy: 1 clip\(s\) not in"):
        mtat.prepare(root, tmp_path / "save")
    os.remove(root / "split" / "test.npy")
    with pytest.raises(DatasetError, match="test split not found"):
        mtat.prepare(root, tmp_path / "save")
    os.remove(root / "annotations_final.csv")
    with pytest.raises(DatasetError, match="annotations_final.csv"):
        mtat.prepare(root, tmp_path / "save")


def test_bad_audio_duplicates_rerun(root, tmp_path):
    (root / "mp3" / "c" / "lisa_debenedictis-tigers-01-girl_from_the_grill-0-29.wav").write_bytes(b"")
    os.remove(root / "mp3" / "0" / "jeff_wahl-guitarscapes-01-spanish_fire-204-233.wav")
    with pytest.raises(BadAudioError) as err:
        mtat.prepare(root, tmp_path / "save")
    assert len(err.value.problems) == 2 and "spanish_fire-204-233.mp3" in str(err.value)
    paths = mtat.prepare(root, tmp_path / "save", skip_bad_files=True)
    assert [r["ID"] for r in read_manifest(paths["test"])] == ["6"]
    stamp = os.stat(paths["test"]).st_mtime_ns
    assert mtat.prepare(root, tmp_path / "save", skip_bad_files=True) == paths
    assert os.stat(paths["test"]).st_mtime_ns == stamp
    np.save(root / "split" / "valid.npy", np.array([f"4\t{CLIPS[4][2]}", f"4\t{CLIPS[4][2]}"]))
    with pytest.raises(ManifestError, match="duplicate ID '14'"):
        mtat.prepare(root, tmp_path / "other", skip_bad_files=True)
