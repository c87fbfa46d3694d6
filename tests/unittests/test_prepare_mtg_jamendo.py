"""MTG-Jamendo top-50 split-0 preparation on a tiny fixture in the official layout."""
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.datasets import mtg_jamendo
from petl_core.manifest import BadAudioError, DatasetError, ManifestError, read_manifest

HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\r\n"  # the files use CRLF
TSV = {
    "train": HEADER
    + "track_0000241\tartist_000005\talbum_000033\t41/241.mp3\t340.1\tgenre---rock\r\n"
    + "track_0000247\tartist_000005\talbum_000033\t47/247.mp3\t85.9\tgenre---pop\tgenre---rock\r\n"
    + "track_0000382\tartist_000020\talbum_000046\t82/382.mp3\t211.1\tgenre---classical\t"
      "instrument---voice\r\n",
    "validation": HEADER
    + "track_0000773\tartist_000104\talbum_000126\t73/773.mp3\t275.3\tgenre---electronic\r\n",
    "test": HEADER
    + "track_0000215\tartist_000014\talbum_000031\t15/215.mp3\t151.4\tgenre---metal\r\n"
    + "track_0000216\tartist_000014\talbum_000031\t16/216.mp3\t234.9\tgenre---metal\t"
      "mood/theme---emotional\r\n",
}


def _wav(path, seconds=0.1, sr=16000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype="float32"), sr)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "mtg-jamendo-dataset"
    split = r / "data" / "splits" / "split-0"
    split.mkdir(parents=True)
    for name, text in TSV.items():
        (split / f"autotagging_top50tags-{name}.tsv").write_bytes(text.encode())
        for line in text.splitlines()[1:]:
            _wav(r / "audio" / line.split("\t")[3].replace(".mp3", ".wav"))
    return r


def test_tags_and_splits(root, tmp_path):
    paths = mtg_jamendo.prepare(root, tmp_path / "save")
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert [r["label"] for r in rows["train"]] == [
        "genre---rock", "genre---pop;genre---rock", "genre---classical;instrument---voice"]
    assert rows["valid"][0]["ID"] == "track_0000773" and rows["valid"][0]["artist"] == "artist_000104"
    assert rows["test"][1]["label"] == "genre---metal;mood/theme---emotional"
    assert rows["test"][0]["wav"] == str(root / "audio" / "15" / "215.wav")
    vocab = (tmp_path / "save" / "tags.txt").read_text().split()
    assert vocab == sorted(vocab) and len(vocab) == 7 and not any("\r" in t for t in vocab)


def test_audio_folder_option_and_low_quality(root, tmp_path):
    os.rename(root / "audio", tmp_path / "raw_30s")
    for p in (tmp_path / "raw_30s").rglob("*.wav"):
        os.rename(p, str(p).replace(".wav", ".low.wav"))
    paths = mtg_jamendo.prepare(root, tmp_path / "save", audio_folder=tmp_path / "raw_30s",
                                low_quality=True)
    assert read_manifest(paths["test"])[0]["wav"].endswith("15/215.low.wav")


def test_missing_split_files(root, tmp_path):
    with pytest.raises(DatasetError, match="split-3"):
        mtg_jamendo.prepare(root, tmp_path / "save", split=3)
    os.remove(root / "data" / "splits" / "split-0" / "autotagging_top50tags-validation.tsv")
    with pytest.raises(DatasetError, match="autotagging_top50tags-validation.tsv"):
        mtg_jamendo.prepare(root, tmp_path / "save")


def test_bad_audio_duplicates_rerun(root, tmp_path):
    (root / "audio" / "41" / "241.wav").write_bytes(b"RIFF\x00\x00")
    os.remove(root / "audio" / "16" / "216.wav")
    with pytest.raises(BadAudioError) as err:
        mtg_jamendo.prepare(root, tmp_path / "save")
    assert len(err.value.problems) == 2 and "16/216.mp3" in str(err.value)
    paths = mtg_jamendo.prepare(root, tmp_path / "save", skip_bad_files=True)
    assert len(read_manifest(paths["train"])) == 2
    stamp = os.stat(paths["train"]).st_mtime_ns
    assert mtg_jamendo.prepare(root, tmp_path / "save", skip_bad_files=True) == paths
    assert os.stat(paths["train"]).st_mtime_ns == stamp
    f = root / "data" / "splits" / "split-0" / "autotagging_top50tags-test.tsv"
    f.write_bytes((TSV["test"] + TSV["test"].splitlines()[1] + "\r\n").encode())
    with pytest.raises(ManifestError, match="duplicate ID 'track_0000215'"):
        mtg_jamendo.prepare(root, tmp_path / "other", skip_bad_files=True)
