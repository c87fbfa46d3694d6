"""NSynth instrument family / pitch preparation on a generated official layout."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dataset_fixtures import make_nsynth  # noqa: E402

from petl_core.datasets import nsynth  # noqa: E402
from petl_core.manifest import BadAudioError, DatasetError, read_manifest  # noqa: E402


@pytest.fixture
def root(tmp_path):
    return make_nsynth(tmp_path / "nsynth")


def test_instrument_and_pitch_labels_from_the_official_folders(root, tmp_path):
    fam = {s: read_manifest(p) for s, p in nsynth.prepare_instrument(root, tmp_path / "fam").items()}
    pitch = {s: read_manifest(p) for s, p in nsynth.prepare_pitch(root, tmp_path / "pitch").items()}
    assert [len(fam[s]) for s in ("train", "valid", "test")] == [6, 3, 3]
    first = fam["train"][0]
    assert first["ID"] == "bass_acoustic_000-040-100" and first["label"] == "bass"
    assert first["wav"] == os.path.join(root, "nsynth-train", "audio", "bass_acoustic_000-040-100.wav")
    assert (first["instrument"], first["source"], first["velocity"]) == ("bass_acoustic_000", "acoustic", "100")
    assert [r["label"] for r in pitch["valid"]] == ["40", "64", "72"]
    assert len(nsynth.FAMILIES) == 11 and len(nsynth.PITCHES) == 128 and nsynth.PITCHES[60] == "60"


def test_bad_layouts_name_the_file(root, tmp_path):
    with pytest.raises(ValueError, match="instrument, pitch"):
        nsynth.prepare(root, tmp_path / "s", task="velocity")
    path = os.path.join(root, "nsynth-valid", "examples.json")
    examples = json.load(open(path))
    note = next(iter(examples))
    examples[note]["pitch"] = 130
    json.dump(examples, open(path, "w"))
    with pytest.raises(DatasetError, match=f"nsynth-valid/examples.json: note '{note}' has pitch 130"):
        nsynth.prepare(root, tmp_path / "s")
    del examples[note]["instrument_family_str"]
    json.dump(examples, open(path, "w"))
    with pytest.raises(DatasetError, match="lacks instrument_family_str"):
        nsynth.prepare(root, tmp_path / "s")
    os.rename(os.path.join(root, "nsynth-test"), os.path.join(root, "moved"))
    with pytest.raises(DatasetError, match="NSynth test folder not found.*nsynth-test.jsonwav.tar.gz"):
        nsynth.prepare(root, tmp_path / "s")


def test_missing_audio_is_reported_or_skipped(root, tmp_path):
    os.remove(os.path.join(root, "nsynth-train", "audio", "vocal_acoustic_004-072-100.wav"))
    with pytest.raises(BadAudioError, match="vocal_acoustic_004-072-100"):
        nsynth.prepare(root, tmp_path / "s")
    paths = nsynth.prepare(root, tmp_path / "s", skip_bad_files=True)
    assert len(read_manifest(paths["train"])) == 5
