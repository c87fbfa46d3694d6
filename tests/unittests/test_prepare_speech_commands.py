"""Speech Commands v2 preparation on a tiny fixture in the official layout."""
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.datasets import speech_commands
from petl_core.manifest import BadAudioError, DatasetError, read_manifest

FILES = {
    "right": ["bb05582b_nohash_0.wav", "0a7c2a8d_nohash_0.wav", "988e2f9a_nohash_1.wav"],
    "yes": ["004ae714_nohash_0.wav", "c1d39ce8_nohash_3.wav"],
    "backward": ["0165e0e8_nohash_0.wav", "017c4098_nohash_1.wav"],
}
VALID = "right/0a7c2a8d_nohash_0.wav\nyes/c1d39ce8_nohash_3.wav\n"
TEST = "right/988e2f9a_nohash_1.wav\nbackward/017c4098_nohash_1.wav\n"


def _wav(path, seconds=0.1, sr=16000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype="float32"), sr)


@pytest.fixture
def gsc(tmp_path):
    root = tmp_path / "speech_commands_v0.02"
    for word, names in FILES.items():
        for name in names:
            _wav(root / word / name)
    _wav(root / "_background_noise_" / "white_noise.wav", seconds=0.5)
    (root / "validation_list.txt").write_text(VALID)
    (root / "testing_list.txt").write_text(TEST)
    (root / "LICENSE").write_text("cc-by")
    return root


def test_splits_from_lists(gsc, tmp_path, caplog):
    paths = speech_commands.prepare(gsc, tmp_path / "save")
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert sorted(r["ID"] for r in rows["valid"]) == ["right_0a7c2a8d_nohash_0",
                                                      "yes_c1d39ce8_nohash_3"]
    assert {r["ID"]: r["label"] for r in rows["test"]} == {
        "right_988e2f9a_nohash_1": "right", "backward_017c4098_nohash_1": "backward"}
    assert len(rows["train"]) == 3
    assert not any("noise" in r["wav"] for rs in rows.values() for r in rs)
    assert rows["test"][0]["speaker"] in ("988e2f9a", "017c4098")
    assert "3 word folders" in caplog.text  # not the 35 of v2: warned


def test_listed_file_missing_is_reported(gsc, tmp_path):
    os.remove(gsc / "yes" / "c1d39ce8_nohash_3.wav")
    (gsc / "right" / "bb05582b_nohash_0.wav").write_bytes(b"RIFF")
    with pytest.raises(BadAudioError) as err:
        speech_commands.prepare(gsc, tmp_path / "save")
    assert len(err.value.problems) == 2
    assert "c1d39ce8_nohash_3" in str(err.value) and "bb05582b_nohash_0" in str(err.value)
    paths = speech_commands.prepare(gsc, tmp_path / "save", skip_bad_files=True)
    assert len(read_manifest(paths["valid"])) == 1 and len(read_manifest(paths["train"])) == 2


def test_missing_lists(tmp_path, gsc):
    os.remove(gsc / "testing_list.txt")
    with pytest.raises(DatasetError, match="testing_list.txt"):
        speech_commands.prepare(gsc, tmp_path / "save")


def test_rerun_skips(gsc, tmp_path):
    paths = speech_commands.prepare(gsc, tmp_path / "save")
    stamp = os.stat(paths["train"]).st_mtime_ns
    _wav(gsc / "yes" / "ffffffff_nohash_0.wav")
    assert speech_commands.prepare(gsc, tmp_path / "save") == paths
    assert os.stat(paths["train"]).st_mtime_ns == stamp
