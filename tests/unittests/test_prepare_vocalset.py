"""VocalSet singer / technique preparation on a generated official layout (MARBLE's split convention)."""
import hashlib
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


#: VocalSet's own ``test_singers_technique.txt`` (in the zip next to ``FULL/``; MARBLE reads it and maps
#: ``female2`` -> ``f2``, ``male3`` -> ``m3``): the singers held out in the VocalSet paper
OFFICIAL_TEST_SINGERS_FILE = "female2\nfemale8\nmale3\nmale5\nmale10\n"
OFFICIAL_TEST_SINGERS = {"f2", "f8", "m3", "m5", "m10"}


def _expected_technique_recordings(root, singers):
    """Paths of the fixture's recordings of ``singers`` in the technique classes (forte is not one)."""
    return {os.path.join(root, "FULL", s, c, t, f"{s}_{c}_{t}_{v}.wav")
            for s in singers for c in ("arpeggios", "scales") for t in ("belt", "breathy", "vibrato") for v in "ae"}


@pytest.mark.parametrize("official_file", [False, True])
def test_technique_holds_out_the_official_test_singers(root, tmp_path, official_file):
    """Test = every recording of the official test singers present (f2, m3 of the fixture's f1 f2 f3
    m1 m3), with or without VocalSet's file; valid = the other recordings whose sha1 of the path below
    FULL/ is 0 or 1 mod 5 (the documented 40 %), train the rest."""
    if official_file:
        with open(os.path.join(root, "test_singers_technique.txt"), "w") as f:
            f.write(OFFICIAL_TEST_SINGERS_FILE)
    rows = _rows(vocalset.prepare_technique(root, tmp_path / "t"))
    wavs = {split: [r["wav"] for r in items] for split, items in rows.items()}
    present = {"f1", "f2", "f3", "m1", "m3"}
    held_out = _expected_technique_recordings(root, present & OFFICIAL_TEST_SINGERS)
    rest = _expected_technique_recordings(root, present - OFFICIAL_TEST_SINGERS)
    assert len(held_out) == 2 * 2 * 3 * 2 and len(rest) == 3 * 2 * 3 * 2
    assert sorted(wavs["test"]) == sorted(held_out)

    def sha1_bucket(wav):
        return int(hashlib.sha1(os.path.relpath(wav, os.path.join(root, "FULL")).encode()).hexdigest(), 16) % 5
    expected_valid = {w for w in rest if sha1_bucket(w) < 2}
    assert 0 < len(expected_valid) < len(rest)
    assert sorted(wavs["valid"]) == sorted(expected_valid) and sorted(wavs["train"]) == sorted(rest - expected_valid)
    for items in rows.values():  # label, singer, context: from the recording's folders
        for r in items:
            singer, context, technique = r["wav"].split(os.sep)[-4:-1]
            assert (r["label"], r["technique"], r["singer"], r["context"]) == (technique, technique, singer, context)
            assert r["ID"] == f"{singer}-{context}-{technique}-{os.path.basename(r['wav'])[:-4]}"


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
