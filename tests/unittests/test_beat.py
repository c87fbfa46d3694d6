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
