"""UrbanSound8K preparation on a tiny fixture in the official layout."""
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.datasets import urbansound8k
from petl_core.manifest import BadAudioError, DatasetError, ManifestError, read_manifest

META = """slice_file_name,fsID,start,end,salience,fold,classID,class
100032-3-0-0.wav,100032,0.0,0.317551,1,5,3,dog_bark
100263-2-0-117.wav,100263,58.5,62.5,1,5,2,children_playing
100648-1-0-0.wav,100648,4.823402,5.471927,2,10,1,car_horn
101415-3-0-2.wav,101415,1.0,5.0,1,1,3,dog_bark
102305-6-0-0.wav,102305,0.0,2.61161,1,1,6,gun_shot
102842-3-0-1.wav,102842,0.5,4.5,1,2,3,dog_bark
103074-7-0-0.wav,103074,3.0,7.0,1,3,7,jackhammer
104817-4-0-0.wav,104817,0.0,4.0,2,9,4,drilling
"""


def _wav(path, seconds=0.1, sr=8000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype="float32"), sr)


@pytest.fixture
def us8k(tmp_path):
    root = tmp_path / "UrbanSound8K"
    (root / "metadata").mkdir(parents=True)
    (root / "metadata" / "UrbanSound8K.csv").write_text(META)
    for line in META.splitlines()[1:]:
        f = line.split(",")
        _wav(root / "audio" / f"fold{f[5]}" / f[0])
    return root


def test_folds_labels_and_wrap_around(us8k, tmp_path):
    paths = urbansound8k.prepare(us8k, tmp_path / "s1", test_fold=1)
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert {r["ID"]: r["label"] for r in rows["test"]} == {"101415-3-0-2": "dog_bark",
                                                          "102305-6-0-0": "gun_shot"}
    assert [r["ID"] for r in rows["valid"]] == ["102842-3-0-1"]
    assert {r["fold"] for r in rows["train"]} == {"3", "5", "9", "10"}
    assert rows["test"][0]["wav"].endswith(os.path.join("audio", "fold1", "101415-3-0-2.wav"))
    paths = urbansound8k.prepare(us8k, tmp_path / "s10", test_fold=10)
    assert {r["fold"] for r in read_manifest(paths["valid"])} == {"1"}
    with pytest.raises(ValueError):
        urbansound8k.prepare(us8k, tmp_path / "s0", test_fold=0)


def test_petl_ast_protocol_trains_on_nine_folds_and_validates_on_the_test_fold(us8k, tmp_path):
    paths = urbansound8k.prepare(us8k, tmp_path / "petl", test_fold=1, valid_fold="test")
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert [r["ID"] for r in rows["valid"]] == [r["ID"] for r in rows["test"]]
    assert {r["fold"] for r in rows["test"]} == {"1"}
    assert "2" in {r["fold"] for r in rows["train"]}  # the default's validation fold trains here
    default = read_manifest(urbansound8k.prepare(us8k, tmp_path / "default", test_fold=1)["train"])
    assert len(rows["train"]) > len(default)


def test_parent_folder_accepted(us8k, tmp_path):
    paths = urbansound8k.prepare(tmp_path, tmp_path / "save", test_fold=9)
    assert [r["ID"] for r in read_manifest(paths["test"])] == ["104817-4-0-0"]


def test_missing_metadata(tmp_path):
    with pytest.raises(DatasetError, match="UrbanSound8K.csv"):
        urbansound8k.prepare(tmp_path / "none", tmp_path / "save")


def test_bad_audio_and_skip(us8k, tmp_path):
    (us8k / "audio" / "fold5" / "100032-3-0-0.wav").write_bytes(b"")
    os.remove(us8k / "audio" / "fold9" / "104817-4-0-0.wav")
    with pytest.raises(BadAudioError) as err:
        urbansound8k.prepare(us8k, tmp_path / "save")
    assert len(err.value.problems) == 2
    paths = urbansound8k.prepare(us8k, tmp_path / "save", skip_bad_files=True)
    assert sum(len(read_manifest(p)) for p in paths.values()) == 6


def test_duplicate_and_rerun(us8k, tmp_path):
    paths = urbansound8k.prepare(us8k, tmp_path / "save")
    stamp = os.stat(paths["test"]).st_mtime_ns
    assert urbansound8k.prepare(us8k, tmp_path / "save") == paths
    assert os.stat(paths["test"]).st_mtime_ns == stamp
    (us8k / "metadata" / "UrbanSound8K.csv").write_text(
        META + "101415-3-0-2.wav,101415,1.0,5.0,1,1,3,dog_bark\n")
    with pytest.raises(ManifestError, match="duplicate ID '101415-3-0-2'"):
        urbansound8k.prepare(us8k, tmp_path / "other")
