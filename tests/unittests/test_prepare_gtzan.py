"""GTZAN genre/key/tempo preparation (fault-filtered split) on a tiny fixture."""
import logging
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.datasets import gtzan
from petl_core.manifest import BadAudioError, DatasetError, ManifestError, read_manifest

SPLIT = {
    "train": "blues/blues.00029.wav\nblues/blues.00030.wav\nblues/blues.00088.wav\npop/pop.00042.wav\n",
    "valid": "blues/blues.00000.wav\npop/pop.00043.wav\n",
    "test": "blues/blues.00012.wav\nblues/blues.00034.wav\njazz/jazz.00054.wav\n",
}
# real gtzan_key values (no trailing newline; blues.00034 has a trailing space)
KEYS = {"blues.00029": "17", "blues.00030": "15", "blues.00088": "-1", "pop.00042": "16",
        "blues.00000": "22", "pop.00043": "9", "blues.00012": "14", "blues.00034": "17 ",
        "jazz.00054": "-1"}
# real gtzan_tempo_beat values; here jazz.00054 gets no .bpm file (missing annotation case)
BPMS = {"blues.00029": "1.264599999999999937e+02", "blues.00030": "1.101099999999999994e+02",
        "blues.00088": "1.290000000000000000e+02", "pop.00042": "9.315000000000000568e+01",
        "blues.00000": "1.258700000000000045e+02", "pop.00043": "2.659300000000000068e+02",
        "blues.00012": "9.368000000000000682e+01", "blues.00034": "9.381000000000000227e+01"}


def _wav(path, seconds=0.1, sr=22050):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype="float32"), sr)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "gtzan"
    for text in SPLIT.values():
        for rel in text.split():
            _wav(r / "genres" / rel)
    split = r / "gtzan_split"
    split.mkdir()
    for name, text in SPLIT.items():
        (split / f"{name}_filtered.txt").write_text(text)
    for stem, value in KEYS.items():
        genre = stem.split(".")[0]
        d = r / "gtzan_key" / "gtzan_key" / "genres" / genre
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{stem}.lerch.txt").write_text(value)
    (r / "gtzan_key" / "gtzan_key" / "genres" / "pop" / "pop.00042.pk").write_bytes(b"\xf1\x06\x00")
    tempo = r / "gtzan_tempo_beat" / "tempo"
    tempo.mkdir(parents=True)
    for stem, value in BPMS.items():
        (tempo / f"gtzan_{stem.replace('.', '_')}.bpm").write_text(value + "\n")
    return r


def _rows(paths):
    return {s: read_manifest(p) for s, p in paths.items()}


@pytest.mark.parametrize("value, key", [(0, "A major"), (3, "C major"), (11, "G# major"),
                                        (12, "A minor"), (15, "C minor"), (23, "G# minor"),
                                        (-1, None), (24, None)])
def test_key_enumeration(value, key):
    assert gtzan.gtzan_key_label(value) == key


def test_genre(root, tmp_path):
    rows = _rows(gtzan.prepare_genre(root, tmp_path / "genre"))
    assert [(r["ID"], r["label"]) for r in rows["valid"]] == [("blues.00000", "blues"),
                                                              ("pop.00043", "pop")]
    assert len(rows["train"]) == 4 and len(rows["test"]) == 3
    ids = [r["ID"] for rs in rows.values() for r in rs]
    assert len(ids) == len(set(ids)) == 9


def test_key_excludes_unknown(root, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    rows = _rows(gtzan.prepare_key(root, tmp_path / "key"))
    labels = {r["ID"]: r["label"] for rs in rows.values() for r in rs}
    assert labels == {"blues.00029": "D minor", "blues.00030": "C minor", "pop.00042": "C# minor",
                      "blues.00000": "G minor", "pop.00043": "F# major", "blues.00012": "B minor",
                      "blues.00034": "D minor"}
    assert "blues.00088.lerch.txt: -1" in caplog.text and "jazz.00054.lerch.txt: -1" in caplog.text
    assert rows["train"][0]["genre"] == "blues"


def test_tempo(root, tmp_path, caplog):
    rows = _rows(gtzan.prepare_tempo(root, tmp_path / "tempo"))
    labels = {r["ID"]: r["label"] for rs in rows.values() for r in rs}
    assert labels["blues.00000"] == "125.87" and labels["pop.00043"] == "265.93"
    assert labels["blues.00088"] == "129.0"
    assert "jazz.00054" not in labels and "gtzan_jazz_00054.bpm" in caplog.text
    assert len(rows["test"]) == 2


def test_au_files_and_genres_original(root, tmp_path):
    os.rename(root / "genres", root / "genres_original")
    for p in (root / "genres_original").rglob("*.wav"):
        data, sr = sf.read(p)
        sf.write(str(p)[:-4] + ".au", data, sr)
        os.remove(p)
    rows = _rows(gtzan.prepare(root, tmp_path / "au", task="genre"))
    assert rows["test"][0]["wav"].endswith(os.path.join("genres_original", "blues",
                                                        "blues.00012.au"))


def test_missing_files_named(root, tmp_path):
    os.remove(root / "gtzan_split" / "valid_filtered.txt")
    with pytest.raises(DatasetError, match="valid_filtered.txt"):
        gtzan.prepare_genre(root, tmp_path / "a")
    with pytest.raises(DatasetError, match="train_filtered.txt"):
        gtzan.prepare_genre(root, tmp_path / "a", split_folder=tmp_path)
    with pytest.raises(DatasetError, match="genres"):
        gtzan.prepare_genre(tmp_path / "empty", tmp_path / "a")
    os.rename(root / "gtzan_tempo_beat", root / "elsewhere")
    with pytest.raises(DatasetError, match="tempo annotations not found"):
        gtzan.prepare_tempo(root, tmp_path / "a", split_folder=root / "gtzan_split")


def test_bad_audio_duplicates_rerun(root, tmp_path):
    (root / "genres" / "pop" / "pop.00043.wav").write_bytes(b"")
    os.remove(root / "genres" / "blues" / "blues.00012.wav")
    with pytest.raises(BadAudioError) as err:
        gtzan.prepare_key(root, tmp_path / "key")
    assert len(err.value.problems) == 2
    assert "pop.00043.wav" in str(err.value) and "blues.00012.wav" in str(err.value)
    paths = gtzan.prepare_key(root, tmp_path / "key", skip_bad_files=True)
    stamp = os.stat(paths["valid"]).st_mtime_ns
    assert [r["ID"] for r in read_manifest(paths["valid"])] == ["blues.00000"]
    assert gtzan.prepare_key(root, tmp_path / "key", skip_bad_files=True) == paths
    assert os.stat(paths["valid"]).st_mtime_ns == stamp
    (root / "gtzan_split" / "valid_filtered.txt").write_text(SPLIT["valid"] + "blues/blues.00000.wav\n")
    with pytest.raises(ManifestError, match="duplicate ID 'blues.00000'"):
        gtzan.prepare_genre(root, tmp_path / "genre", skip_bad_files=True)


def test_split_overlap_refused(root, tmp_path):
    (root / "gtzan_split" / "test_filtered.txt").write_text(SPLIT["test"] + "pop/pop.00042.wav\n")
    with pytest.raises(DatasetError, match="pop.00042.wav is in both"):
        gtzan.prepare_genre(root, tmp_path / "genre")
