"""SynthMusic: the labels match the audio (key, tempo, tags), seeding, balanced splits, caching."""
import csv
import os
from collections import Counter

import mir_eval
import numpy as np
import pytest
from scipy import signal

from petl_core.datasets.synthmusic import prepare
from petl_core.music import KEYS
from petl_core.synth import TAGS, TEMPO_RANGE, generate_clip

SR = 24000

# Krumhansl-Kessler key profiles (C major / C minor)
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PCS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def estimate_key(wav, sr):
    """Template matching of a clip-averaged chroma (60 Hz - 1.2 kHz) with Krumhansl profiles."""
    f, _, z = signal.stft(wav, sr, nperseg=8192, noverlap=6144)
    mag = np.abs(z).mean(axis=1)
    sel = (f > 60) & (f < 1200)
    pc = np.round(69 + 12 * np.log2(f[sel] / 440.0)).astype(int) % 12
    chroma = np.bincount(pc, weights=mag[sel], minlength=12)
    scores = [(np.corrcoef(chroma, np.roll(prof, k))[0, 1], f"{PCS[k]} {mode}")
              for mode, prof in (("major", KK_MAJOR), ("minor", KK_MINOR)) for k in range(12)]
    return max(scores)[1]


def estimate_tempo(wav, sr, hop=256):
    """Autocorrelation of a log-spectral-flux onset envelope, weighted around 120 BPM."""
    _, _, z = signal.stft(wav, sr, nperseg=1024, noverlap=1024 - hop)
    flux = np.maximum(np.diff(np.log1p(100 * np.abs(z)), axis=1), 0).sum(axis=0)
    flux -= flux.mean()
    fps = sr / hop
    ac = np.correlate(flux, flux, "full")[len(flux) - 1:]
    bpm = 60 * fps / np.maximum(np.arange(len(ac)), 1)
    score = np.where((bpm >= 50) & (bpm <= 220), ac * np.exp(-0.5 * np.log2(bpm / 120) ** 2), -np.inf)
    lag = int(np.argmax(score))
    a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
    denom = a - 2 * b + c
    return 60 * fps / (lag + (0.5 * (a - c) / denom if denom else 0.0))


def accuracy2(ref, est, tol=0.04):
    return any(abs(est - ref * m) <= tol * ref * m for m in (1, 2, 3, 1 / 2, 1 / 3))


def high_band_fraction(wav, sr, cutoff=5000.0):
    power = np.abs(np.fft.rfft(wav)) ** 2
    return power[np.fft.rfftfreq(len(wav), 1 / sr) > cutoff].sum() / power.sum()


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("task", ["key", "tempo", "tagging"])
def test_clip_format_and_seeding(task):
    wav, label = generate_clip(task, np.random.default_rng([1, 2]), 16000, 1.5)
    assert wav.dtype == np.float32 and wav.shape == (24000,) and np.isfinite(wav).all()
    assert 0.24 <= np.abs(wav).max() <= 1.0  # peak 0.5 +- 6 dB
    again, label2 = generate_clip(task, np.random.default_rng([1, 2]), 16000, 1.5)
    assert label == label2 and np.array_equal(wav, again)
    other, _ = generate_clip(task, np.random.default_rng([1, 3]), 16000, 1.5)
    assert not np.array_equal(wav, other)


def test_key_labels_match_audio():
    refs, ests = [], []
    for i, key in enumerate(KEYS):
        wav, label = generate_clip("key", np.random.default_rng([42, i]), SR, 4.0, target=key)
        assert label == key
        refs.append(label)
        ests.append(estimate_key(wav, SR))
    scores = [mir_eval.key.weighted_score(r, e) for r, e in zip(refs, ests)]
    assert np.mean(scores) >= 0.8, list(zip(refs, ests, scores))


def test_key_random_labels_are_valid_keys():
    labels = {generate_clip("key", np.random.default_rng([5, i]), 8000, 1.0)[1] for i in range(20)}
    for label in labels:
        mir_eval.key.validate_key(label)
        assert label in KEYS


def test_tempo_labels_match_audio():
    lo, hi = TEMPO_RANGE
    hits = []
    for i in range(24):
        bpm = lo + (hi - lo) * (i + 0.5) / 24
        wav, label = generate_clip("tempo", np.random.default_rng([42, i]), SR, 4.0, target=bpm)
        assert label == f"{bpm:.2f}"
        hits.append(accuracy2(float(label), estimate_tempo(wav, SR)))
    assert np.mean(hits) >= 0.8


def test_tempo_labels_match_madmom():
    """Independent check with madmom's RNN beat activations + tempo histogram (Accuracy2)."""
    from madmom.audio.signal import Signal
    from madmom.features.beats import RNNBeatProcessor
    from madmom.features.tempo import TempoEstimationProcessor

    rnn, tempo = RNNBeatProcessor(), TempoEstimationProcessor(fps=100)
    lo, hi = TEMPO_RANGE
    hits = []
    for i in range(8):
        wav, label = generate_clip("tempo", np.random.default_rng([43, i]), SR, 4.0,
                                   target=lo + (hi - lo) * (i + 0.5) / 8)
        x = signal.resample_poly(wav, 147, 80).astype(np.float32)  # 24 kHz -> 44.1 kHz
        est = tempo(rnn(Signal(x, sample_rate=44100)))[0][0]
        hits.append(accuracy2(float(label), est))
    assert np.mean(hits) >= 0.75


def test_tagging_labels():
    with_drums, without = [], []
    counts = Counter()
    for i in range(32):
        wav, label = generate_clip("tagging", np.random.default_rng([42, i]), SR, 4.0, target=TAGS[i % 8])
        tags = label.split(";")
        assert 1 <= len(tags) <= 4 and len(set(tags)) == len(tags) and set(tags) <= set(TAGS)
        assert TAGS[i % 8] in tags
        counts.update(tags)
        (with_drums if "drums" in tags else without).append(high_band_fraction(wav, SR))
    assert set(counts) == set(TAGS)
    assert with_drums and without
    # cymbals and snares live above 5 kHz; the pitched instruments stay below it
    assert np.median(with_drums) > 20 * np.median(without)
    assert min(with_drums) > np.median(without)


def test_prepare_balanced_cached_and_reproducible(tmp_path):
    # key: every split covers all 24 keys evenly
    m = prepare(tmp_path / "data", tmp_path / "key", task="key", n_train=24, n_valid=24, n_test=24,
                seed=7, sample_rate=8000, duration=2.0)
    assert set(m) == {"train", "valid", "test"}
    for split, path in m.items():
        rows = read_csv(path)
        assert list(rows[0]) == ["ID", "wav", "duration", "label"]
        assert sorted(r["label"] for r in rows) == sorted(KEYS)
        for r in rows:
            assert os.path.isabs(r["wav"]) and os.path.isfile(r["wav"])
            assert os.path.dirname(r["wav"]) == str((tmp_path / "data" / "key" / f"{split}-n24-seed7-8000hz-2s-v1").resolve())
            assert float(r["duration"]) == 2.0

    # rerun: no regeneration
    wavs = [r["wav"] for p in m.values() for r in read_csv(p)]
    mtimes = [os.stat(w).st_mtime_ns for w in wavs]
    m2 = prepare(tmp_path / "data", tmp_path / "key", task="key", n_train=24, n_valid=24, n_test=24,
                 seed=7, sample_rate=8000, duration=2.0)
    assert m2 == m and [os.stat(w).st_mtime_ns for w in wavs] == mtimes

    # tempo: one clip per equal-width stratum of 60-200 BPM
    m = prepare(tmp_path / "data", tmp_path / "tempo", task="tempo", n_train=10, n_valid=5, n_test=5,
                seed=7, sample_rate=8000, duration=1.0)
    lo, hi = TEMPO_RANGE
    for path in m.values():
        bpms = np.array([float(r["label"]) for r in read_csv(path)])
        strata = np.floor((bpms - lo) / (hi - lo) * len(bpms)).astype(int)
        assert sorted(np.clip(strata, 0, len(bpms) - 1)) == list(range(len(bpms)))

    # tagging: every tag appears in every split
    kw = dict(task="tagging", n_train=8, n_valid=8, n_test=8, sample_rate=8000, duration=1.0)
    m = prepare(tmp_path / "data", tmp_path / "tag", seed=7, **kw)
    for path in m.values():
        tags = {t for r in read_csv(path) for t in r["label"].split(";")}
        assert tags == set(TAGS)

    # same seed -> byte-identical files; different seed -> different files
    same = prepare(tmp_path / "data2", tmp_path / "tag2", seed=7, **kw)
    other = prepare(tmp_path / "data3", tmp_path / "tag3", seed=8, **kw)
    for split in m:
        a, b, c = (read_csv(x[split]) for x in (m, same, other))
        assert [r["label"] for r in a] == [r["label"] for r in b]
        for ra, rb, rc in zip(a, b, c):
            with open(ra["wav"], "rb") as fa, open(rb["wav"], "rb") as fb, open(rc["wav"], "rb") as fc:
                da, db, dc = fa.read(), fb.read(), fc.read()
            assert da == db and da != dc

    # changed options: new clips in their own folder; the earlier clips stay as they were
    first = read_csv(m["train"])[0]["wav"]
    with open(first, "rb") as f:
        before = f.read()
    changed = prepare(tmp_path / "data", tmp_path / "tag", seed=9, **kw)
    new_first = read_csv(changed["train"])[0]["wav"]
    with open(first, "rb") as f, open(new_first, "rb") as g:
        assert f.read() == before and g.read() != before


def test_default_data_folder_is_a_cache_not_the_current_folder(tmp_path, monkeypatch, capsys):
    """data_folder=None: audio in $XDG_CACHE_HOME/petl-audio/SynthMusic (or $SYNTHMUSIC_DATA), nothing in the
    current folder, and a progress bar naming the folder while generating."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("SYNTHMUSIC_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "petl-audio" / "SynthMusic"
    kw = dict(task="key", n_train=3, n_valid=1, n_test=1, seed=7, sample_rate=8000, duration=0.5)
    m = prepare(None, tmp_path / "manifests", **kw)
    assert not os.listdir(work)
    wavs = [r["wav"] for p in m.values() for r in read_csv(p)]
    assert len(wavs) == 5 and all(w.startswith(str(cache.resolve() / "key")) and os.path.isfile(w) for w in wavs)
    err = capsys.readouterr().err
    assert f"generating SynthMusic key in {cache.resolve() / 'key'}" in err and "5/5" in err
    # reuse: no bar; the same bytes as an explicit data_folder
    prepare(None, tmp_path / "manifests", **kw)
    assert "generating" not in capsys.readouterr().err
    explicit = prepare(tmp_path / "explicit", tmp_path / "m2", **kw)
    for split in m:
        for a, b in zip(read_csv(m[split]), read_csv(explicit[split])):
            assert open(a["wav"], "rb").read() == open(b["wav"], "rb").read()

    from petl_core.datasets.synthmusic import build_parser, default_data_folder

    assert default_data_folder() == cache
    monkeypatch.setenv("SYNTHMUSIC_DATA", str(tmp_path / "elsewhere"))
    assert default_data_folder() == tmp_path / "elsewhere"
    assert build_parser("key").parse_args(["--save_folder", "x"]).data_folder == str(tmp_path / "elsewhere")


SMALL = dict(seed=3, sample_rate=8000, duration=0.5)


def _files(manifests):
    """{wav or annotation path: bytes} of every file a run's manifests point at."""
    out = {}
    for path in manifests.values():
        for r in read_csv(path):
            for key in ("wav", "label"):
                if os.path.isfile(r[key]):
                    out[r[key]] = open(r[key], "rb").read()
    return out


@pytest.mark.parametrize("task", ["tempo", "beat"])
def test_another_configuration_never_removes_a_runs_clips(tmp_path, task):
    """A 6/2/2 run, then a 3/1/1 run on the same folder (issue 20: it deleted clips 3-5): the first run's
    files are all still there, byte for byte; a split does not change when another split's size does."""
    kw = dict(SMALL, task=task, duration=1.0)
    big = prepare(tmp_path / "data", tmp_path / "big", n_train=6, n_valid=2, n_test=2, **kw)
    before = _files(big)
    assert len(before) == (10 if task == "tempo" else 20)
    small = prepare(tmp_path / "data", tmp_path / "small", n_train=3, n_valid=1, n_test=1, **kw)
    assert _files(big) == before
    assert prepare(tmp_path / "data", tmp_path / "big", n_train=6, n_valid=2, n_test=2, **kw) == big
    # valid and test did not change with the train size
    other = prepare(tmp_path / "data", tmp_path / "other", n_train=3, n_valid=2, n_test=2, **kw)
    for split in ("valid", "test"):
        assert read_csv(other[split]) == read_csv(big[split])
    assert read_csv(other["train"]) == read_csv(small["train"])


def _prepare_key(data, n, out):
    prepare(data, out, task="key", n_train=n, n_valid=n, n_test=n, seed=3, sample_rate=8000, duration=0.5)


def test_concurrent_runs_with_different_sizes(tmp_path):
    """Two processes preparing different sizes (and a third the same as the first) on one folder at once:
    all succeed and every manifest points at complete files."""
    import multiprocessing

    runs = [(6, "a"), (2, "b"), (6, "c")]
    procs = [multiprocessing.get_context("fork").Process(target=_prepare_key, args=(tmp_path / "data", n, tmp_path / name))
             for n, name in runs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    import soundfile as sf

    for n, name in runs:
        rows = [r for s in ("train", "valid", "test") for r in read_csv(tmp_path / name / f"{s}.csv")]
        assert len(rows) == 3 * n
        assert all(sf.info(r["wav"]).frames == 4000 for r in rows)
    assert _files({s: str(tmp_path / "a" / f"{s}.csv") for s in ("train",)}) == \
        _files({s: str(tmp_path / "c" / f"{s}.csv") for s in ("train",)})
    assert not [f for f in (tmp_path / "data").rglob("*.tmp.wav")]


@pytest.mark.parametrize("args, message", [
    (["--n_train", "0"], "argument --n_train: '0' is not a whole number > 0"),
    (["--n_valid=-3"], "argument --n_valid: '-3' is not a whole number > 0"),
    (["--duration", "0"], "argument --duration: '0' is not a number > 0"),
    (["--duration", "nan"], "argument --duration: 'nan' is not a number > 0"),
    (["--sample_rate", "100"], "argument --sample_rate: '100' is not a whole number >= 8000"),
])
def test_prepare_cli_refuses_sizes_and_durations_out_of_range(tmp_path, capsys, args, message):
    from petl_core.datasets.synthmusic import cli

    with pytest.raises(SystemExit) as exit_:
        cli("key", ["--save_folder", str(tmp_path / "m"), "--data_folder", str(tmp_path / "d"), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "d").exists() and not (tmp_path / "m").exists()


def test_prepare_cli_error_line_for_an_option_only_the_task_refuses(tmp_path, capsys):
    from petl_core.datasets.synthmusic import cli

    with pytest.raises(SystemExit) as exit_:
        cli("beat", ["--save_folder", str(tmp_path / "m"), "--data_folder", str(tmp_path / "d"), "--duration", "0.3"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == ("error: SynthMusic beat: duration must be a finite number of seconds > 0.545455, "
                                       "got 0.3\n")


@pytest.mark.parametrize("options, message", [
    (dict(n_train=0), "n_train must be a whole number of clips >= 1, got 0"),
    (dict(n_test=2.5), "n_test must be a whole number of clips >= 1, got 2.5"),
    (dict(duration=-1.0), "duration must be a finite number of seconds > 0, got -1.0"),
    (dict(task="beat", duration=0.3), "SynthMusic beat: duration must be a finite number of seconds > 0.545455"),
    (dict(task="melody"), "unknown SynthMusic task 'melody'"),
])
def test_prepare_refuses_options_out_of_range(tmp_path, options, message):
    from petl_core.manifest import OptionError

    with pytest.raises(OptionError, match=message.replace(".", r"\.").replace("(", r"\(")):
        prepare(tmp_path / "d", tmp_path / "m", **{"task": "key", **options})
    assert not (tmp_path / "d").exists()
