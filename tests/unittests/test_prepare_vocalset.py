"""VocalSet singer / technique preparation on a generated official layout (MARBLE's split convention)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dataset_fixtures import make_vocalset  # noqa: E402

from petl_core.datasets import vocalset  # noqa: E402
from petl_core.manifest import DatasetError, read_manifest  # noqa: E402


@pytest.fixture
def root(tmp_path):
    return make_vocalset(tmp_path / "VocalSet")


def _rows(paths):
    return {s: read_manifest(p) for s, p in paths.items()}


def test_technique_holds_out_the_official_test_singers(root, tmp_path):
    rows = _rows(vocalset.prepare_technique(root, tmp_path / "t"))
    assert {r["singer"] for r in rows["test"]} == {"f2", "m3"}
    assert {r["singer"] for r in rows["train"] + rows["valid"]} == {"f1", "f3", "m1"}
    assert {r["label"] for s in rows.values() for r in s} == {"belt", "breathy", "vibrato"}  # forte: not a class
    assert len(rows["test"]) == 2 * 2 * 3 * 2 and len(rows["train"]) + len(rows["valid"]) == 3 * 2 * 3 * 2
    r = rows["test"][0]
    assert r["ID"] == "f2-arpeggios-belt-f2_arpeggios_belt_a" and r["context"] == "arpeggios"
    assert r["wav"] == os.path.join(root, "FULL", "f2", "arpeggios", "belt", "f2_arpeggios_belt_a.wav")
    for split, items in rows.items():  # the documented hash decides train/valid
        for item in items:
            rel = "/".join(item["wav"].split(os.sep)[-4:])
            assert vocalset.split_of("technique", item["singer"], rel, {"f2", "m3"}) == split


def test_official_test_singer_file_and_override(root, tmp_path):
    with open(os.path.join(root, "test_singers_technique.txt"), "w") as f:
        f.write("f1\nm1\n")
    rows = _rows(vocalset.prepare_technique(root, tmp_path / "file"))
    assert {r["singer"] for r in rows["test"]} == {"f1", "m1"}
    rows = _rows(vocalset.prepare_technique(root, tmp_path / "arg", test_singers=["f3"]))
    assert {r["singer"] for r in rows["test"]} == {"f3"}
    with pytest.raises(DatasetError, match=r"\['x9'\] are not VocalSet singers"):
        vocalset.prepare_technique(root, tmp_path / "bad", test_singers=["x9"])


def test_singer_split_is_by_recording_in_the_marble_proportions(root, tmp_path):
    rows = _rows(vocalset.prepare_singer(root, tmp_path / "s"))
    n = {s: len(v) for s, v in rows.items()}
    assert sum(n.values()) == 5 * 2 * 4 * 2  # every technique folder, forte too
    assert {r["label"] for r in rows["train"]} == {"f1", "f2", "f3", "m1", "m3"}
    ids = [r["ID"] for v in rows.values() for r in v]
    assert len(ids) == len(set(ids))
    big = [f"s/c/t/{i}.wav" for i in range(5000)]
    share = {s: sum(vocalset.split_of("singer", "f1", p, ()) == s for p in big) / 5000 for s in ("test", "valid")}
    assert share["test"] == pytest.approx(0.2, abs=0.02) and share["valid"] == pytest.approx(0.32, abs=0.02)


def test_layout_errors(root, tmp_path):
    with pytest.raises(ValueError, match="task='technique' only"):
        vocalset.prepare_singer(root, tmp_path / "x", test_singers=["f1"])
    os.makedirs(os.path.join(root, "FULL", "z1"))
    with pytest.raises(DatasetError, match="unexpected singer folder .*z1"):
        vocalset.prepare_singer(root, tmp_path / "x")
    with pytest.raises(DatasetError, match="FULL folder not found"):
        vocalset.prepare_singer(tmp_path / "nothing", tmp_path / "x")
