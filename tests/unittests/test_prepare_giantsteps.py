"""GiantSteps key (MTG-Key train/valid, GiantSteps test) and tempo on tiny fixtures."""
import logging
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.datasets import giantsteps
from petl_core.manifest import BadAudioError, DatasetError, ManifestError, read_manifest

# real lines of giantsteps-mtg-key-dataset/annotations/annotations.txt (+ ambiguous/unknown ones)
MTG_ANNOTATIONS = (
    "ID\tMANUAL KEY\tC\n5061\tD# minor\t2\n5881\tA major\t2\n7217\tF minor\t2\n10359\tD minor\t2\n"
    "100066\tBb minor\t2\n1017875\tC# major\t2\n1019315\tG# minor\t1\n1030011\t-\t0\n"
    "1068430\tF minor / G# major\t2\n1084996\t \t0\n1101119\tE major\t2\n1120216\tC minor\t2\n"
    "1140405\tB minor\t2\n1164209\tG major\t2\n"
)
GS_KEYS = {"10089": "Eb minor", "1004923": "C minor", "1007941": "Ab major", "1224698": "Db minor",
           "3424038": "-"}
TEMPO_V2 = {"1030011": "127.0", "1068430": "174.0", "1084996": "142.0", "3041381": "0.0",
            "906760": "85.5", "1327052": "0.0", "4416506": "120.0", "1855660": "128.0",
            "3419452": "126.0", "3577631": "140.0"}
TEMPO_V1 = {k: str(int(float(v) or 125) - 1) for k, v in TEMPO_V2.items()}
FOLDS = [["1030011", "1068430"], ["1084996"], ["3041381"], ["906760"], ["1327052"],
         ["4416506"], ["1855660"], [], ["3419452"], ["3577631"]]


def _wav(path, seconds=0.1, sr=11025):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype="float32"), sr)


@pytest.fixture
def keyroot(tmp_path):
    r = tmp_path / "giantsteps"
    mtg = r / "giantsteps-mtg-key-dataset"
    (mtg / "annotations").mkdir(parents=True)
    (mtg / "annotations" / "annotations.txt").write_text(MTG_ANNOTATIONS)
    for line in MTG_ANNOTATIONS.splitlines()[1:]:
        _wav(mtg / "audio" / f"{line.split(chr(9))[0]}.LOFI.wav")  # stands in for .LOFI.mp3
    gs = r / "giantsteps-key-dataset"
    (gs / "annotations" / "key").mkdir(parents=True)
    for track, key in GS_KEYS.items():
        (gs / "annotations" / "key" / f"{track}.LOFI.key").write_text(key)  # no newline
        _wav(gs / "audio" / f"{track}.LOFI.wav")
    return r


@pytest.fixture
def temporoot(tmp_path):
    r = tmp_path / "giantsteps-tempo-dataset"
    for folder, values in (("annotations_v2", TEMPO_V2), ("annotations", TEMPO_V1)):
        (r / folder / "tempo").mkdir(parents=True)
        for track, bpm in values.items():
            (r / folder / "tempo" / f"{track}.LOFI.bpm").write_text(bpm)
    (r / "splits").mkdir()
    for i, tracks in enumerate(FOLDS, start=1):
        (r / "splits" / f"fold{i:02d}.txt").write_text("".join(f"{t}.LOFI.mp3\n" for t in tracks))
    for track in TEMPO_V2:
        _wav(r / "audio" / f"{track}.LOFI.wav")
    return r


def test_key_splits_and_labels(keyroot, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    rows = {s: read_manifest(p) for s, p in giantsteps.prepare_key(keyroot, tmp_path / "k").items()}
    test = {r["ID"]: r["label"] for r in rows["test"]}
    assert test == {"10089": "D# minor", "1004923": "C minor", "1007941": "G# major",
                    "1224698": "C# minor"}  # flats -> sharps, "-" excluded
    trainval = {r["ID"]: r["label"] for r in rows["train"] + rows["valid"]}
    assert trainval["100066"] == "A# minor" and trainval["5881"] == "A major"
    assert set(trainval) == {"5061", "5881", "7217", "10359", "100066", "1017875", "1101119",
                             "1120216", "1140405", "1164209"}  # confidence 2, unambiguous
    assert len(rows["valid"]) == 1  # 10 % of 10
    assert "F minor / G# major" in caplog.text and "3424038.LOFI.key" in caplog.text
    assert rows["test"][0]["wav"].endswith(os.path.join("giantsteps-key-dataset", "audio",
                                                        "1004923.LOFI.wav"))
    # seeded: same valid track again, another seed may differ but stays disjoint
    again = giantsteps.prepare_key(keyroot, tmp_path / "k2")
    assert read_manifest(again["valid"]) == rows["valid"]
    other = giantsteps.prepare_key(keyroot, tmp_path / "k3", seed=7, valid_fraction=0.3,
                                   min_confidence=1)
    v = {r["ID"] for r in read_manifest(other["valid"])}
    t = {r["ID"] for r in read_manifest(other["train"])}
    assert len(v) == 3 and not v & t and "1019315" in v | t


def test_key_missing_annotations(keyroot, tmp_path):
    with pytest.raises(DatasetError, match="annotations.txt"):
        giantsteps.prepare_key(tmp_path / "none", tmp_path / "k")
    with pytest.raises(DatasetError, match=os.path.join("annotations", "key")):
        giantsteps.prepare_key(keyroot, tmp_path / "k", key_folder=tmp_path / "nokey")


def test_key_bad_audio_and_rerun(keyroot, tmp_path):
    (keyroot / "giantsteps-key-dataset" / "audio" / "10089.LOFI.wav").write_bytes(b"")
    os.remove(keyroot / "giantsteps-mtg-key-dataset" / "audio" / "7217.LOFI.wav")
    with pytest.raises(BadAudioError) as err:
        giantsteps.prepare_key(keyroot, tmp_path / "k")
    assert len(err.value.problems) == 2 and "7217.LOFI.mp3" in str(err.value)
    paths = giantsteps.prepare_key(keyroot, tmp_path / "k", skip_bad_files=True)
    stamp = os.stat(paths["test"]).st_mtime_ns
    assert giantsteps.prepare_key(keyroot, tmp_path / "k", skip_bad_files=True) == paths
    assert os.stat(paths["test"]).st_mtime_ns == stamp
    assert len(read_manifest(paths["test"])) == 3


def test_key_duplicate_ids_refused(keyroot, tmp_path):
    ann = keyroot / "giantsteps-mtg-key-dataset" / "annotations" / "annotations.txt"
    ann.write_text(MTG_ANNOTATIONS + "5061\tD# minor\t2\n")
    with pytest.raises(ManifestError, match="duplicate ID '5061'"):
        giantsteps.prepare_key(keyroot, tmp_path / "k")


def test_tempo_folds_v2_v1(temporoot, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    paths = giantsteps.prepare_tempo(temporoot.parent, tmp_path / "t")  # parent folder works too
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert {r["ID"] for r in rows["test"]} == {"3419452", "3577631"}  # folds 9-10
    assert {r["ID"] for r in rows["valid"]} == {"1855660"}  # folds 7-8
    assert {r["ID"]: r["label"] for r in rows["train"]} == {
        "1030011": "127.0", "1068430": "174.0", "1084996": "142.0", "906760": "85.5",
        "4416506": "120.0"}  # 3041381, 1327052: 0.0 in v2 -> excluded
    assert "3041381.LOFI.bpm" in caplog.text
    rows = {s: read_manifest(p) for s, p in
            giantsteps.prepare_tempo(temporoot, tmp_path / "t1", annotations="v1").items()}
    assert {r["ID"]: r["label"] for r in rows["train"]}["3041381"] == "124.0"
    with pytest.raises(ValueError):
        giantsteps.prepare_tempo(temporoot, tmp_path / "t2", annotations="v3")


def test_tempo_seeded_split_without_folds(temporoot, tmp_path):
    for f in (temporoot / "splits").iterdir():
        os.remove(f)
    os.rmdir(temporoot / "splits")
    paths = giantsteps.prepare_tempo(temporoot, tmp_path / "t", seed=3)
    sizes = {s: len(read_manifest(p)) for s, p in paths.items()}
    assert sum(sizes.values()) == 8 and sizes["test"] + sizes["valid"] <= 4
    again = giantsteps.prepare_tempo(temporoot, tmp_path / "t2", seed=3)
    assert read_manifest(again["test"]) == read_manifest(paths["test"])


def test_tempo_errors_bad_audio_rerun(temporoot, tmp_path):
    with pytest.raises(DatasetError, match=os.path.join("annotations_v2", "tempo")):
        giantsteps.prepare_tempo(tmp_path / "none", tmp_path / "t")
    (temporoot / "audio" / "3577631.LOFI.wav").write_bytes(b"garbage!")
    os.remove(temporoot / "audio" / "906760.LOFI.wav")
    with pytest.raises(BadAudioError) as err:
        giantsteps.prepare_tempo(temporoot, tmp_path / "t")
    assert len(err.value.problems) == 2
    paths = giantsteps.prepare_tempo(temporoot, tmp_path / "t", skip_bad_files=True)
    stamp = os.stat(paths["train"]).st_mtime_ns
    assert giantsteps.prepare_tempo(temporoot, tmp_path / "t", skip_bad_files=True) == paths
    assert os.stat(paths["train"]).st_mtime_ns == stamp
    (temporoot / "splits" / "fold08.txt").write_text("1030011.LOFI.mp3\n")
    with pytest.raises(DatasetError, match="1030011.LOFI is in two folds"):
        giantsteps.prepare_tempo(temporoot, tmp_path / "t3")
