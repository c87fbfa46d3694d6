"""TempoTask: the seed-001 linear grid and the log-spaced grid (encode/decode round trips)."""
import numpy as np
import pytest
import torch

from petl_core.tasks import TempoTask


def _peaked_logits(task, bpm):
    """Logits whose soft-max is (about) the task's own soft target for ``bpm``."""
    return torch.log(task.soft_targets(torch.as_tensor(bpm, dtype=torch.float32)) + 1e-12)


def test_linear_grid_is_seed_001_default():
    task = TempoTask()
    assert task.grid == "linear" and task.num_outputs == 300 and task.min_bpm == 1.0
    target = task.soft_targets(torch.tensor([120.0]))[0]
    centre = 119  # class k = min_bpm + k
    np.testing.assert_allclose(target[centre - 2: centre + 3].numpy(), np.array([0.5, 0.5, 1, 0.5, 0.5]) / 3, atol=1e-6)
    assert float(target.sum()) == pytest.approx(1.0)
    bpm = torch.tensor([60.0, 87.0, 150.0, 200.0])
    assert task.predict_bpm(_peaked_logits(task, bpm)).tolist() == bpm.tolist()


def test_log_grid_bins():
    task = TempoTask(grid="log", min_bpm=30, max_bpm=300, spacing=0.02)
    assert task.num_outputs == 117  # 30 * 1.02**116 = 298.4 <= 300 < 30 * 1.02**117
    centres = task.bin_bpm(torch.arange(task.num_outputs).float())
    assert float(centres[0]) == pytest.approx(30.0)
    assert float(centres[-1]) <= 300.0 < float(centres[-1]) * 1.02
    np.testing.assert_allclose((centres[1:] / centres[:-1]).numpy(), 1.02, rtol=1e-5)
    with pytest.raises(ValueError, match="num_bins"):
        TempoTask(grid="log", num_bins=300)
    with pytest.raises(ValueError, match="grid"):
        TempoTask(grid="mel")


@pytest.mark.parametrize("decode,tol", [("argmax", 0.0101), ("parabolic", 0.001)])
def test_log_grid_round_trip(decode, tol):
    task = TempoTask(grid="log", sigma=1.5, decode=decode)
    bpm = torch.tensor([30.5, 60.0, 61.3, 99.99, 123.4, 150.0, 187.7, 200.0, 290.0])
    est = task.predict_bpm(_peaked_logits(task, bpm))
    rel = (est / bpm - 1).abs()
    assert float(rel.max()) < tol  # argmax: within half a 2 % bin; weighted: sub-bin
    scores = task.item_metrics(_peaked_logits(task, bpm), bpm)
    assert scores["acc1"].tolist() == [1.0] * len(bpm)


def test_log_grid_soft_targets_gaussian():
    task = TempoTask(grid="log", sigma=1.0)
    bpm = torch.tensor([30.0 * 1.02 ** 50])  # exactly on bin 50
    target = task.soft_targets(bpm)[0]
    assert float(target.sum()) == pytest.approx(1.0)
    assert int(target.argmax()) == 50
    assert float(target[49] / target[50]) == pytest.approx(np.exp(-0.5), rel=1e-4)
    assert float(target[51] / target[50]) == pytest.approx(np.exp(-0.5), rel=1e-4)
    assert float(target[55]) == 0.0  # truncated at 4 sigma
    # out-of-range tempi are clamped to the edge bins
    edge = task.soft_targets(torch.tensor([10.0, 1000.0]))
    assert edge[0].argmax() == 0 and edge[1].argmax() == task.num_outputs - 1


def test_log_grid_stretch_and_loss():
    task = TempoTask(grid="log")
    labels = task.transform(torch.tensor([100.0, 120.0]), stretch_rates=torch.tensor([1.05, 0.95]))
    np.testing.assert_allclose(labels.numpy(), [105.0, 114.0], rtol=1e-6)
    logits = torch.zeros(2, task.num_outputs, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(logits, task.cost_targets(labels))  # the tempo recipes' compute_cost
    loss.backward()
    assert torch.isfinite(loss) and float(loss.detach()) == pytest.approx(np.log(task.num_outputs), rel=0.3)
    good = torch.nn.functional.cross_entropy(_peaked_logits(task, labels), task.cost_targets(labels))
    assert float(good) < float(loss.detach())


def test_log_grid_options():
    task = TempoTask(grid="log", min_bpm=30, max_bpm=300, spacing=0.02, sigma=1.5, decode="argmax")
    assert task.num_outputs == 117 and task.decode_mode == "argmax" and task.describe()["grid"] == "log"
    assert task.fitted("unused.csv") is task  # nothing to learn from a manifest
    assert TempoTask(num_bins=300, min_bpm=1).grid == "linear"
