"""Beat / downbeat task: annotation parsing, widened targets, madmom DBN decoding, metrics."""
import mir_eval
import numpy as np
import pytest
import torch

from lobes.frame_head import FrameTiming
from petl_core.beat import BeatTask, read_beats, write_beats
from petl_core.frame_tasks import masked_bce

# the first lines of gtzan_tempo_beat/beats/gtzan_blues_00000.beats (format fixture)
GTZAN_BEATS = "0.217\t3\n0.695\t4\n1.173\t1\n1.653\t2\n2.137\t3\n"


def _file(tmp_path, text, name="a.beats"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_read_gtzan_beats_and_bad_files(tmp_path):
    times, pos = read_beats(_file(tmp_path, GTZAN_BEATS))
    assert times.tolist() == [0.217, 0.695, 1.173, 1.653, 2.137] and pos.tolist() == [3, 4, 1, 2, 3]
    assert read_beats(_file(tmp_path, "0.5\n1.0\n", "b.beats"))[1] is None
    with pytest.raises(ValueError, match=r"c\.beats:2: expected"):
        read_beats(_file(tmp_path, "0.5 1\nabc 2\n", "c.beats"))
    with pytest.raises(ValueError, match="increasing"):
        read_beats(_file(tmp_path, "1.0 1\n0.5 2\n", "d.beats"))
    with pytest.raises(ValueError, match="not found"):
        read_beats(str(tmp_path / "missing.beats"))
    with pytest.raises(ValueError, match="downbeats: false"):
        BeatTask().encode(_file(tmp_path, "0.5\n1.0\n", "e.beats"))


def test_targets_are_widened_at_the_nearest_frame_and_follow_the_crop(tmp_path):
    task = BeatTask()
    task.timing = FrameTiming(75.0, 199.5 / 24000)  # MERT frames
    path = _file(tmp_path, GTZAN_BEATS)
    y = task.targets(path, start=0.0, seconds=2.5)
    assert y.shape == (task.timing.num_frames(2.5), 2)
    for t, p in zip(*read_beats(path)):
        k = int(task.timing.frame_of(t))
        assert y[k, 0] == 1 and y[k - 1, 0] == 0.5 and y[k + 1, 0] == 0.5 and y[k + 2, 0] == 0
        assert y[k, 1] == (1.0 if p == 1 else 0.0)
    assert int((y[:, 0] == 1).sum()) == 5 and int((y[:, 1] == 1).sum()) == 1
    crop = task.targets(path, start=1.0, seconds=1.0)  # beats at 0.173, 0.653 in the crop
    ones = torch.nonzero(crop[:, 0] == 1).flatten().tolist()
    assert ones == task.timing.frame_of([0.173, 0.653]).tolist() and int(crop[:, 1].argmax()) == ones[0]


def _activation(beats, downbeats, n, fps, width=0.02):
    t = np.arange(n) / fps
    def peaks(times):
        return np.max(np.exp(-0.5 * ((t[:, None] - np.asarray(times)[None]) / width) ** 2), axis=1)
    return peaks(beats), peaks(downbeats)


@pytest.mark.parametrize("first", [0.0, 0.0875])
def test_dbn_recovers_known_beats_and_downbeats_from_a_synthetic_activation(first):
    fps, seconds, bpm = 100.0, 12.0, 128.0
    beats = np.arange(0.31, seconds - 0.1, 60 / bpm)
    positions = (np.arange(len(beats)) + 2) % 4 + 1  # the track starts on beat 3
    down = beats[positions == 1]
    b, d = _activation(beats - first, down - first, int(seconds * fps), fps)  # frame k at first + k / fps
    logit = lambda p: torch.logit(torch.as_tensor(np.clip(p * 0.9 + 0.02, 1e-4, 1 - 1e-4)))  # noqa: E731
    logits = torch.stack([logit(b), logit(d)], dim=1).float()
    task = BeatTask()
    task.timing = FrameTiming(fps, first)
    est_beats, est_down = task.decode(logits, seconds)
    assert len(est_beats) == len(beats) and np.abs(est_beats - beats).max() < 0.011
    assert len(est_down) == len(down) and np.abs(est_down - down).max() < 0.011
    scores = task.score((est_beats, est_down), (beats, positions))
    assert scores == {"beat_f": 1.0, "cmlt": 1.0, "amlt": 1.0, "downbeat_f": 1.0}
    # a half-tempo estimate: F-measure drops, AMLt (metrical levels allowed) does not
    half = task.score((est_beats[::2], est_down), (beats, positions))
    assert half["beat_f"] < 0.7 and half["amlt"] == 1.0


def test_beat_metrics_agree_with_mir_eval():
    rng = np.random.default_rng(0)
    task = BeatTask(downbeats=False)
    for _ in range(5):
        ref = np.sort(rng.uniform(0, 20, 40))
        keep = rng.uniform(size=40) < 0.7
        est = np.sort(np.concatenate([ref[keep] + rng.normal(0, 0.04, keep.sum()), rng.uniform(0, 20, 5)]))
        ours = task.score((est, None), (ref, None))["beat_f"]
        assert ours == pytest.approx(mir_eval.beat.f_measure(ref, est, 0.07))


def test_continuity_by_hand():
    """On a regular grid of 20 beats, every other beat (half tempo) is no beat of the annotated
    level (CMLt 0) but every beat of its half-tempo level (AMLt 1); the first 10 beats only: half of
    the annotations in one continuous run (CMLt = AMLt = 10 / 20). (F-measure is symmetric in its
    arguments, continuity is not: estimate and annotation swapped, the half-tempo AMLt is 0.95.)"""
    task = BeatTask(downbeats=False)
    grid = np.arange(1, 21) * 0.5
    half = task.score((grid[::2], None), (grid, None))
    assert (half["cmlt"], half["amlt"]) == (0.0, 1.0)
    first = task.score((grid[:10], None), (grid, None))
    assert (first["cmlt"], first["amlt"]) == (0.5, 0.5)


def test_loss_is_masked_bce(tmp_path):
    logits = torch.zeros(1, 4, 2, requires_grad=True)
    targets = torch.tensor([[[1.0, 0.0], [0.5, 0.0], [0.0, 0.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, True, False]])
    loss = masked_bce(logits, targets, mask)  # the beat recipes' compute_cost
    assert loss.item() == pytest.approx(np.log(2))  # every valid term is log 2 at logit 0
    loss.backward()
    assert logits.grad[0, 3].abs().sum() == 0


def test_write_read_round_trip(tmp_path):
    path = str(tmp_path / "x.beats")
    write_beats(path, [0.5, 1.0, 1.5], [1, 2, 3])
    times, pos = read_beats(path)
    assert times.tolist() == [0.5, 1.0, 1.5] and pos.tolist() == [1, 2, 3]


def test_a_track_with_one_reference_downbeat_is_scored():
    task = BeatTask()
    scores = task.score((np.array([0.1, 0.7, 1.3]), np.array([0.11])), (np.array([0.1, 0.7, 1.3]), np.array([1, 2, 3])))
    assert scores["downbeat_f"] == 1.0 and scores["beat_f"] == 1.0
    assert np.isnan(task.score((np.array([0.5]), np.array([0.5])), (np.array([0.5]), np.array([1])))["cmlt"])


def _clean_logits(bpm, n=1000, fps=100.0, low=1e-4, high=0.99):
    """Confident activations: ``high`` on the beat frames (and on every fourth beat's downbeat), ``low`` elsewhere."""
    beats = np.arange(0, n, fps * 60 / bpm)
    p = np.full((n, 2), low)
    p[np.round(beats).astype(int), 0] = high
    p[np.round(beats[::4]).astype(int), 1] = high
    return torch.logit(torch.tensor(p)).float(), beats / fps


@pytest.mark.parametrize("bpm", [120.0, 100.0])
@pytest.mark.parametrize("high", [0.99, 1.0 - 1e-9])
def test_clean_confident_activations_give_every_beat_and_downbeat(bpm, high):
    """Issue 19 §5: p_beat - p_down is exactly 0 off the beats (and on the downbeats): madmom took log(0)
    and returned no beats and no downbeats at 120 and 100 BPM."""
    logits, ref = _clean_logits(bpm, high=high)
    task = BeatTask()
    task.timing = FrameTiming(100.0)
    beats, downbeats = task.decode(logits, 10.0)
    assert len(beats) == len(ref) and np.abs(beats - ref).max() < 0.011
    assert len(downbeats) == len(ref[::4]) and np.abs(downbeats - ref[::4]).max() < 0.011
    beat_only = BeatTask(downbeats=False)
    beat_only.timing = FrameTiming(100.0)
    assert np.abs(beat_only.decode(logits[:, :1], 10.0)[0] - ref).max() < 0.011


@pytest.mark.parametrize("downbeats", [True, False])
def test_one_decoding_for_metrics_file_and_prediction(tmp_path, downbeats):
    """The .beats file, the returned beats/downbeats and what the metrics score are the same events."""
    rng = np.random.default_rng(1)
    logits, _ = _clean_logits(128.0, high=0.8)
    logits = logits + torch.as_tensor(rng.normal(0, 1.5, logits.shape), dtype=torch.float32)  # a noisy model
    task = BeatTask(downbeats=downbeats)
    task.timing = FrameTiming(100.0)
    logits = logits if downbeats else logits[:, :1]
    path = str(tmp_path / "t.beats")
    prediction = task.write_prediction(logits, 10.0, path)
    beats, down = task.decode(logits, 10.0)
    times, positions = read_beats(path)
    assert prediction["beats"] == [round(float(t), 3) for t in beats] == times.tolist()
    if downbeats:
        assert prediction["downbeats"] == [round(float(t), 3) for t in down] == times[positions == 1].tolist()
    else:
        assert prediction["downbeats"] is None and down is None and positions is None
