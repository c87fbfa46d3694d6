"""Frame-level dataset preparation: GTZAN beats, Ballroom, Isophonics-layout chords, SynthMusic beat/chord."""
import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from frame_fixtures import BALLROOM, make_ballroom, make_beatles, make_gtzan_beats  # noqa: E402

from lobes.frame_head import FrameTiming  # noqa: E402
from petl_core.beat import BeatTask, read_beats  # noqa: E402
from petl_core.chord import ChordTask, read_lab  # noqa: E402
from petl_core.datasets import get_prepare, synthmusic  # noqa: E402
from petl_core.frame_tasks import frame_dataset  # noqa: E402
from petl_core.manifest import DatasetError, check_manifest, read_manifest  # noqa: E402


def test_gtzan_beat_uses_the_filtered_split_and_the_beats_files(tmp_path):
    root = make_gtzan_beats(tmp_path / "gtzan")
    os.remove(os.path.join(root, "gtzan_tempo_beat", "beats", "gtzan_pop_00002.beats"))
    paths = get_prepare("gtzan_beat")(root, str(tmp_path / "m"))
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert [len(rows[s]) for s in ("train", "valid", "test")] == [6, 1, 2]  # pop.00002 excluded
    assert rows["test"][0]["label"].endswith(os.path.join("beats", "gtzan_blues_00003.beats"))
    for p in paths.values():
        check_manifest(p, BeatTask().encode)
    genre = get_prepare("gtzan_genre")(root, str(tmp_path / "g"))
    assert [r["ID"] for r in read_manifest(genre["train"])] == [r["ID"] for r in rows["train"]]


def test_ballroom_folds_cover_every_style(tmp_path):
    root = make_ballroom(tmp_path / "ballroom")
    paths = get_prepare("ballroom_beat")(root, str(tmp_path / "m"), test_fold=1)
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert {r["style"] for r in rows["test"]} == set(BALLROOM)  # first track of every style in fold 1
    assert {r["fold"] for r in rows["valid"]} == {"2"} and {r["fold"] for r in rows["train"]} == {"3"}
    waltz = next(r for r in rows["test"] if r["style"] == "Waltz")
    assert set(read_beats(waltz["label"])[1]) == {1, 2, 3}
    with pytest.raises(DatasetError, match="BallroomAnnotations"):
        get_prepare("ballroom_beat")(str(tmp_path / "ballroom" / "BallroomData"), str(tmp_path / "n"))


def test_isophonics_chord_layout(tmp_path):
    root = make_beatles(tmp_path / "beatles")
    os.remove(os.path.join(root, "audio", "The Beatles", "02_-_With_the_Beatles", "02_-_All_I've_Got_To_Do.wav"))
    paths = get_prepare("chords_lab")(root, str(tmp_path / "m"), test_fold=1, num_folds=5)
    rows = {s: read_manifest(p) for s, p in paths.items()}
    assert sum(len(r) for r in rows.values()) == 5  # one track without audio excluded
    test = rows["test"][0]
    assert test["ID"] == "The Beatles__01_-_Please_Please_Me__01_-_I_Saw_Her_Standing_There"
    assert test["wav"].endswith(".wav") and read_lab(test["label"])[1] == ["N", "C:maj", "F:maj/3"]
    for p in paths.values():
        check_manifest(p, ChordTask().encode)
    with pytest.raises(DatasetError, match="chordlab"):
        get_prepare("chords_lab")(str(tmp_path), str(tmp_path / "n"))


def test_synthmusic_beat_annotations_match_the_audio(tmp_path):
    paths = synthmusic.prepare(str(tmp_path / "d"), str(tmp_path / "m"), task="beat", n_train=2, n_valid=1,
                               n_test=1, sample_rate=16000, duration=4.0)
    row = read_manifest(paths["train"])[0]
    times, positions = read_beats(row["label"])
    assert 6 <= len(times) <= 13 and np.allclose(np.diff(times), np.diff(times)[0], atol=2e-3)  # 110-170 BPM
    assert set(positions) <= {1, 2, 3, 4} and np.all(np.diff(positions) % 4 == 1)  # 4/4 bars in turn
    import soundfile as sf
    wav, sr = sf.read(row["wav"])
    frame = 512
    energy = np.array([np.sum(wav[i:i + frame] ** 2) for i in range(0, len(wav) - frame, frame // 4)])
    onset = np.maximum(np.diff(energy), 0)
    at_beats = [onset[max(0, int(t * sr / (frame // 4)) - 3): int(t * sr / (frame // 4)) + 2].max()
                for t in times[1:-1]]
    off_beats = [onset[int((t + 0.5 * np.diff(times)[0]) * sr / (frame // 4)) - 1] for t in times[1:-1]]
    assert np.median(at_beats) > 2 * np.median(off_beats)  # drum onsets sit on the annotated beats
    mtime = os.path.getmtime(row["wav"])
    synthmusic.prepare(str(tmp_path / "d"), str(tmp_path / "m2"), task="beat", n_train=2, n_valid=1,
                       n_test=1, sample_rate=16000, duration=4.0)
    assert os.path.getmtime(row["wav"]) == mtime  # reused


def test_synthmusic_chord_labels_and_frame_dataset(tmp_path):
    paths = synthmusic.prepare(str(tmp_path / "d"), str(tmp_path / "m"), task="chord", n_train=3, n_valid=1,
                               n_test=1, sample_rate=16000, duration=4.0)
    task = ChordTask()
    task.timing = FrameTiming(25.0)
    check_manifest(paths["train"], task.encode)
    labels = [lab for r in read_manifest(paths["train"]) for lab in read_lab(r["label"])[1]]
    assert all(task.class_of(lab) >= 0 for lab in labels)  # triads and dominant sevenths: all in majmin
    train = frame_dataset(paths["train"], task, 16000, train=True, crop_seconds=2.0)
    item = train[0]
    assert item["sig"].shape == (32000,) and item["targets"].shape == (50,) and item["seconds"] == 2.0
    valid = frame_dataset(paths["valid"], task, 16000, train=False)[0]
    assert valid["targets"].shape == (100,) and valid["label"].endswith(".lab")
    assert torch.equal(valid["targets"], task.targets(valid["label"], 0.0, 4.0))


def test_isophonics_lab_past_the_end_of_its_audio_is_refused(tmp_path):
    """A .lab whose last segment ends 1 s after the audio (another release of the track): one error
    naming the file and line, before any manifest is written."""
    root = make_beatles(tmp_path / "beatles", seconds=2.0)
    lab = os.path.join(root, "chordlab", "The Beatles", "01_-_Please_Please_Me", "01_-_I_Saw_Her_Standing_There.lab")
    with open(lab, "a") as f:
        f.write("2.000000 3.000000 C:maj\n")
    with pytest.raises(DatasetError, match=r"I_Saw_Her_Standing_There\.lab:4: segment 2-3 s ends after the audio"):
        get_prepare("chords_lab")(root, str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()


def test_any_chord_manifest_with_a_lab_past_its_audio_is_one_error(tmp_path, capsys):
    """Not only the Isophonics prepare: a user's chord manifest whose .lab ends after its audio stops
    the recipe before training with one error line naming the manifest line and the .lab line."""
    import soundfile as sf

    from petl_core.manifest import ManifestError
    from petl_core.recipe import recipe_main

    rows = ["ID,wav,duration,label"]
    for name, last_end in (("fits", 1.0), ("longer", 2.5)):
        sf.write(tmp_path / f"{name}.wav", np.zeros(16000, dtype=np.float32), 16000)
        (tmp_path / f"{name}.lab").write_text(f"0.0 0.5 C:maj\n0.5 {last_end} G:maj\n")
        rows.append(f"{name},{tmp_path / name}.wav,1.0,{tmp_path / name}.lab")
    manifest = tmp_path / "valid.csv"
    manifest.write_text("\n".join(rows) + "\n")
    task = ChordTask().with_timing(FrameTiming(25.0))
    check_manifest(str(manifest), task.encode)  # each .lab alone is valid
    expected = (r"valid\.csv: 1 annotation\(s\) do not fit their audio:\n  line 3 \(ID='longer'\): "
                r".*longer\.lab:2: segment 0\.5-2\.5 s ends after the audio \(1 s\)")
    with pytest.raises(ManifestError, match=expected):
        frame_dataset(str(manifest), task, 16000, train=False)
    with pytest.raises(SystemExit) as exit_info, recipe_main():
        frame_dataset(str(manifest), task, 16000, train=True, crop_seconds=0.5)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "longer.lab:2" in err and "Traceback" not in err
    sf.write(tmp_path / "longer.wav", np.zeros(40000, dtype=np.float32), 16000)  # the audio it was made for
    rows[2] = rows[2].replace("longer.wav,1.0", "longer.wav,2.5")
    manifest.write_text("\n".join(rows) + "\n")
    assert len(frame_dataset(str(manifest), task, 16000, train=False)) == 2
