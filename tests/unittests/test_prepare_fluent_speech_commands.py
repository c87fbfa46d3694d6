"""Fluent Speech Commands preparation on a tiny fixture in the official layout."""
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.datasets import fluent_speech_commands as fsc
from petl_core.manifest import BadAudioError, DatasetError, ManifestError, read_manifest

HEADER = ",path,speakerId,transcription,action,object,location\n"
TRAIN = HEADER + (
    "0,wavs/speakers/2BqVo8kVB2Skwgyb/0a3129c0-4474-11e9-a9a5-5dbec3b8816a.wav,2BqVo8kVB2Skwgyb,"
    "Change language,change language,none,none\n"
    "1,wavs/speakers/2BqVo8kVB2Skwgyb/0ee42a80-4474-11e9-a9a5-5dbec3b8816a.wav,2BqVo8kVB2Skwgyb,"
    "Resume,activate,music,none\n"
    "2,wavs/speakers/2BqVo8kVB2Skwgyb/144d5be0-4474-11e9-a9a5-5dbec3b8816a.wav,2BqVo8kVB2Skwgyb,"
    "\"Turn the lights on, please\",activate,lights,none\n"
)
VALID = HEADER + (
    "0,wavs/speakers/35v28XaVEns4WXOv/0b7e5d10-4513-11e9-bf4f-8fd6a2a9e7c6.wav,35v28XaVEns4WXOv,"
    "Heat up the kitchen,increase,heat,kitchen\n"
)
TEST = HEADER + (
    "0,wavs/speakers/4aGjX3AG5xcxeL7a/0a1d3a20-45da-11e9-b578-494a5b19ab8b.wav,4aGjX3AG5xcxeL7a,"
    "Decrease the volume,decrease,volume,none\n"
    "1,wavs/speakers/4aGjX3AG5xcxeL7a/0c9f1e50-45da-11e9-b578-494a5b19ab8b.wav,4aGjX3AG5xcxeL7a,"
    "Lights on in the bedroom,activate,lights,bedroom\n"
)


def _wav(path, seconds=0.1, sr=16000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype="float32"), sr)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "fluent_speech_commands_dataset"
    (r / "data").mkdir(parents=True)
    for split, text in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        (r / "data" / f"{split}_data.csv").write_text(text)
        for line in text.splitlines()[1:]:
            _wav(r / line.split(",")[1])
    return r


def test_intents_and_splits(root, tmp_path):
    paths = fsc.prepare(root, tmp_path / "save")
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert [r["label"] for r in rows["train"]] == [
        "change language_none_none", "activate_music_none", "activate_lights_none"]
    assert rows["train"][2]["transcription"] == "Turn the lights on, please"
    assert rows["valid"][0]["label"] == "increase_heat_kitchen"
    assert rows["test"][1]["ID"] == "4aGjX3AG5xcxeL7a_0c9f1e50-45da-11e9-b578-494a5b19ab8b"
    assert rows["test"][1]["speaker"] == "4aGjX3AG5xcxeL7a"
    assert all(os.path.isfile(r["wav"]) for rs in rows.values() for r in rs)


def test_parent_folder_and_missing_csv(root, tmp_path):
    assert fsc.prepare(tmp_path, tmp_path / "save")
    os.remove(root / "data" / "test_data.csv")
    with pytest.raises(DatasetError, match="test_data.csv"):
        fsc.prepare(root, tmp_path / "other")


def test_missing_column(root, tmp_path):
    (root / "data" / "valid_data.csv").write_text(",path,speakerId,transcription,action\n")
    with pytest.raises(DatasetError, match=r"valid_data.csv: missing column\(s\) \['location', 'object'\]"):
        fsc.prepare(root, tmp_path / "save")


def test_bad_audio(root, tmp_path):
    bad = next((root / "wavs" / "speakers" / "35v28XaVEns4WXOv").iterdir())
    bad.write_bytes(b"")
    with pytest.raises(BadAudioError, match="0b7e5d10"):
        fsc.prepare(root, tmp_path / "save")
    with pytest.raises(ManifestError, match="valid.csv: no rows"):  # the only valid file dropped
        fsc.prepare(root, tmp_path / "save", skip_bad_files=True)


def test_duplicates_refused_and_rerun(root, tmp_path):
    paths = fsc.prepare(root, tmp_path / "save")
    stamp = os.stat(paths["train"]).st_mtime_ns
    assert fsc.prepare(root, tmp_path / "save") == paths
    assert os.stat(paths["train"]).st_mtime_ns == stamp
    (root / "data" / "train_data.csv").write_text(TRAIN + TRAIN.splitlines()[1] + "\n")
    with pytest.raises(ManifestError, match="duplicate ID"):
        fsc.prepare(root, tmp_path / "other")
