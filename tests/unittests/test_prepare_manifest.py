"""petl_core.manifest: writing, validation, run-once logic, key/tempo labels."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from petl_core.manifest import (
    BadAudioError,
    DatasetError,
    ManifestError,
    download_and_extract,
    finalize_splits,
    format_bpm,
    normalize_key,
    prepare_once,
    read_manifest,
    validate_audio,
    write_manifest,
)


def _wav(path, seconds=0.1, sr=8000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype="float32"), sr)
    return str(path)


def _row(i, wav="/x.wav"):
    return {"ID": f"u{i}", "wav": wav, "duration": 1.0, "label": "a"}


def test_write_and_read_roundtrip_with_extra_columns(tmp_path):
    rows = [{**_row(1), "fold": 3, "transcription": 'say "hi", then stop'}, _row(2) | {"fold": 1,
                                                                                     "transcription": ""}]
    path = write_manifest(rows, tmp_path / "m" / "train.csv")
    with open(path) as f:
        assert f.readline().strip() == "ID,wav,duration,label,fold,transcription"
    back = read_manifest(path)
    assert back[0]["transcription"] == 'say "hi", then stop' and back[1]["fold"] == "1"
    # SpeechBrain can read it
    from speechbrain.dataio.dataset import DynamicItemDataset

    data = DynamicItemDataset.from_csv(path)
    assert len(data) == 2 and data.data["u1"]["duration"] == 1.0
    assert not [f for f in os.listdir(tmp_path / "m") if f.startswith(".tmp")]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([], "empty manifest"),
        ([_row(1), _row(1)], "duplicate ID 'u1'"),
        ([{"ID": "u1", "wav": "/x.wav", "label": "a"}], "lacks column(s) duration"),
        ([_row(1) | {"wav": "$root/x.wav"}], "'$'"),
    ],
)
def test_write_manifest_refuses_bad_rows(tmp_path, rows, message):
    path = tmp_path / "bad.csv"
    with pytest.raises(ManifestError) as err:
        write_manifest(rows, path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert not path.exists()


def test_validate_audio_reports_all_problems(tmp_path):
    good = _wav(tmp_path / "good.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF0000WAVEjunkjunkjunk")
    zero = str(tmp_path / "zero.wav")
    sf.write(zero, np.zeros(0, dtype="float32"), 8000)
    nan = str(tmp_path / "nan.wav")
    sf.write(nan, np.array([0.0, np.nan, 0.1], dtype="float32"), 8000, subtype="FLOAT")
    rows = [_row(i, str(p)) for i, p in
            enumerate([good, empty, corrupt, zero, nan, tmp_path / "missing.wav"])]
    problems = validate_audio(rows)
    assert len(problems) == 4
    text = "\n".join(problems)
    for name in ("empty.wav", "corrupt.wav", "zero.wav", "missing.wav"):
        assert name in text
    assert len(validate_audio(rows, check_samples=True)) == 5


def test_finalize_splits_raises_once_or_skips(tmp_path, caplog):
    good = _wav(tmp_path / "good.wav", seconds=0.25)
    rows = {"train": [_row(1, good), _row(2, str(tmp_path / "a.wav"))],
            "test": [_row(3, str(tmp_path / "b.wav"))]}
    with pytest.raises(BadAudioError) as err:
        finalize_splits(rows, context="toy")
    assert len(err.value.problems) == 2 and "a.wav" in str(err.value) and "b.wav" in str(err.value)
    out = finalize_splits(rows, skip_bad_files=True, context="toy")
    assert [r["ID"] for r in out["train"]] == ["u1"] and out["test"] == []
    assert out["train"][0]["duration"] == pytest.approx(0.25)
    assert sum("skipping bad file" in r.message for r in caplog.records) == 2


def test_prepare_once_skips_same_options_and_redoes_on_change(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"train": [_row(1)], "test": [_row(2)]}

    paths = prepare_once(tmp_path, ["train", "test"], {"fold": 1}, build)
    mtime = os.path.getmtime(paths["train"])
    again = prepare_once(tmp_path, ["train", "test"], {"fold": 1}, build)
    assert again == paths and len(calls) == 1 and os.path.getmtime(paths["train"]) == mtime
    prepare_once(tmp_path, ["train", "test"], {"fold": 2}, build)
    assert len(calls) == 2
    assert json.loads((tmp_path / "prepare_options.json").read_text())["fold"] == 2
    os.remove(paths["test"])  # a missing manifest is rebuilt
    prepare_once(tmp_path, ["train", "test"], {"fold": 2}, build)
    assert len(calls) == 3


def test_prepare_once_failure_leaves_no_options(tmp_path):
    def build():
        raise DatasetError("boom")

    with pytest.raises(DatasetError):
        prepare_once(tmp_path, ["train"], {}, build)
    assert not (tmp_path / "prepare_options.json").exists()


@pytest.mark.parametrize("text, key", [
    ("Eb minor", "D# minor"), ("A major", "A major"), ("d# minor", "D# minor"),
    ("Db", "C# major"), ("Cb major", "B major"), ("E# minor", "F minor"), ("  Gb minor\n", "F# minor"),
    ("bb min", "A# minor"), ("-", None), ("-1", None), ("", None), ("F minor / G# major", None),
    ("G minor/major", None), ("A dorian", None), ("H major", None),
])
def test_normalize_key(text, key):
    assert normalize_key(text) == key


def test_normalized_keys_are_valid_mir_eval_keys():
    import mir_eval

    for text in ("Eb minor", "Db", "Cb major", "a major"):
        mir_eval.key.validate_key(normalize_key(text))


@pytest.mark.parametrize("text, bpm", [
    ("1.258700000000000045e+02\n", "125.87"), ("127.0", "127.0"), ("126", "126.0"),
    ("0.0", None), ("abc", None), ("", None), ("-3", None),
])
def test_format_bpm(text, bpm):
    assert format_bpm(text) == bpm


def test_download_checks_checksum_and_fails_clearly(tmp_path):
    src = tmp_path / "src" / "data.txt"
    src.parent.mkdir()
    src.write_text("hello")
    dest = tmp_path / "dest"
    url = src.as_uri()
    with pytest.raises(DatasetError, match="md5"):
        download_and_extract(url, str(dest), md5="0" * 32)
    os.remove(dest / "data.txt")
    path = download_and_extract(url, str(dest), md5="5d41402abc4b2a76b9719d911017c592")
    assert open(path).read() == "hello"
    with pytest.raises(DatasetError, match=r"cannot download Toy .*put the dataset in"):
        download_and_extract((tmp_path / "nope.zip").as_uri(), str(dest), name="Toy",
                             layout="a/b.csv")


def test_threaded_probe_on_many_files(tmp_path):
    rows = [_row(i, _wav(tmp_path / f"{i}.wav", seconds=0.01 * (1 + i % 3))) for i in range(70)]
    rows.append(_row(70, str(tmp_path / "gone.wav")))
    with pytest.raises(BadAudioError) as err:
        finalize_splits({"train": rows})
    assert err.value.problems == [f"{tmp_path / 'gone.wav'}: file not found"]
    out = finalize_splits({"train": rows}, skip_bad_files=True)["train"]
    assert len(out) == 70 and out[5]["duration"] == pytest.approx(0.03)
