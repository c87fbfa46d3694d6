"""ESC-50 preparation on a tiny fixture in the official layout."""
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.datasets import esc50
from petl_core.manifest import BadAudioError, DatasetError, ManifestError, read_manifest

META = """filename,fold,target,category,esc10,src_file,take
1-100032-A-0.wav,1,0,dog,True,100032,A
1-100038-A-14.wav,1,14,chirping_birds,False,100038,A
2-100648-A-43.wav,2,43,chainsaw,False,100648,A
2-102414-C-17.wav,2,17,pouring_water,False,102414,C
2-118072-A-0.wav,2,0,dog,True,118072,A
3-100018-A-18.wav,3,18,toilet_flush,False,100018,A
4-102844-A-49.wav,4,49,hand_saw,False,102844,A
5-103415-A-2.wav,5,2,pig,False,103415,A
5-9032-A-0.wav,5,0,dog,True,9032,A
"""


def _wav(path, seconds=0.1, sr=8000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype="float32"), sr)


@pytest.fixture
def esc(tmp_path):
    root = tmp_path / "ESC-50"
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "esc50.csv").write_text(META)
    for line in META.splitlines()[1:]:
        _wav(root / "audio" / line.split(",")[0], seconds=0.2)
    return root


def test_folds_and_labels(esc, tmp_path):
    paths = esc50.prepare(esc, tmp_path / "save", test_fold=1)
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert {r["fold"] for r in rows["test"]} == {"1"}
    assert {r["fold"] for r in rows["valid"]} == {"5"}  # PETL_AST: the previous fold
    assert {r["fold"] for r in rows["train"]} == {"2", "3", "4"}
    assert {r["ID"]: r["label"] for r in rows["test"]} == {"1-100032-A-0": "dog",
                                                          "1-100038-A-14": "chirping_birds"}
    assert all(os.path.isabs(r["wav"]) and float(r["duration"]) == pytest.approx(0.2)
               for rs in rows.values() for r in rs)
    ids = [set(r["ID"] for r in rs) for rs in rows.values()]
    assert sum(map(len, ids)) == len(set.union(*ids)) == 9


def test_fold_roles_are_petl_ast_by_default_and_configurable(esc, tmp_path):
    # PETL_AST main.py: folds_train [[1,2,3], [2,3,4], ...], folds_valid [[4], [5], ...], folds_test [[5], [1], ...]
    for test, valid, train in ((5, "4", {"1", "2", "3"}), (1, "5", {"2", "3", "4"}), (3, "2", {"4", "5", "1"})):
        paths = esc50.prepare(esc, tmp_path / f"save{test}", test_fold=test)
        assert {r["fold"] for r in read_manifest(paths["valid"])} == {valid}
        assert {r["fold"] for r in read_manifest(paths["train"])} == train
    paths = esc50.prepare(esc, tmp_path / "next", test_fold=5, valid_fold="next")
    assert {r["fold"] for r in read_manifest(paths["valid"])} == {"1"}
    paths = esc50.prepare(esc, tmp_path / "three", test_fold=5, valid_fold=3)
    assert {r["fold"] for r in read_manifest(paths["valid"])} == {"3"}
    with pytest.raises(ValueError, match="valid_fold must be one of next, previous, test"):
        esc50.prepare(esc, tmp_path / "bad", test_fold=5, valid_fold=5)
    with pytest.raises(ValueError, match="1..5"):
        esc50.prepare(esc, tmp_path / "save", test_fold=6)


def test_esc10_subset(esc, tmp_path):
    paths = esc50.prepare(esc, tmp_path / "save", test_fold=1, esc10=True)
    assert [r["ID"] for r in read_manifest(paths["test"])] == ["1-100032-A-0"]
    assert [r["ID"] for r in read_manifest(paths["train"])] == ["2-118072-A-0"]
    assert [r["ID"] for r in read_manifest(paths["valid"])] == ["5-9032-A-0"]


def test_unpacked_zip_folder_is_found(esc, tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    os.rename(esc, parent / "ESC-50-master")
    paths = esc50.prepare(parent, tmp_path / "save")
    assert "ESC-50-master" in read_manifest(paths["train"])[0]["wav"]


def test_missing_metadata_names_file(tmp_path):
    with pytest.raises(DatasetError, match=r"esc50\.csv.*layout"):
        esc50.prepare(tmp_path / "nothing", tmp_path / "save")


def test_bad_audio_listed_at_once_or_skipped(esc, tmp_path):
    (esc / "audio" / "3-100018-A-18.wav").write_bytes(b"")
    (esc / "audio" / "1-100038-A-14.wav").write_bytes(b"not audio at all")
    os.remove(esc / "audio" / "5-103415-A-2.wav")
    with pytest.raises(BadAudioError) as err:
        esc50.prepare(esc, tmp_path / "save")
    assert len(err.value.problems) == 3
    for name in ("3-100018-A-18", "1-100038-A-14", "5-103415-A-2"):
        assert name in str(err.value)
    assert not (tmp_path / "save" / "train.csv").exists()
    paths = esc50.prepare(esc, tmp_path / "save", skip_bad_files=True)
    assert sum(len(read_manifest(p)) for p in paths.values()) == 6


def test_duplicate_ids_refused(esc, tmp_path):
    meta = esc / "meta" / "esc50.csv"
    meta.write_text(META + "1-100032-A-0.wav,3,0,dog,True,100032,A\n")
    with pytest.raises((ManifestError, DatasetError), match="1-100032-A-0"):
        esc50.prepare(esc, tmp_path / "save")


def test_rerun_skips_and_option_change_rebuilds(esc, tmp_path):
    paths = esc50.prepare(esc, tmp_path / "save", test_fold=2)
    stamp = os.stat(paths["train"]).st_mtime_ns
    (esc / "meta" / "esc50.csv").write_text(META + "3-1-A-0.wav,3,0,dog,True,1,A\n")
    _wav(esc / "audio" / "3-1-A-0.wav")
    assert esc50.prepare(esc, tmp_path / "save", test_fold=2) == paths  # not re-read
    assert os.stat(paths["train"]).st_mtime_ns == stamp
    assert "3-1-A-0" not in {r["ID"] for r in read_manifest(paths["train"])}
    paths = esc50.prepare(esc, tmp_path / "save", test_fold=3)  # other options: rebuilt
    assert "3-1-A-0" in {r["ID"] for r in read_manifest(paths["test"])}
