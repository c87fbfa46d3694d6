"""Regression task: standardised losses, R² / Pearson equal to sklearn / scipy."""
import csv

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.metrics import r2_score

from petl_core.metrics import bootstrap_ci, regression_metrics
from petl_core.tasks import RegressionTask

RNG = np.random.default_rng(0)
REF = RNG.normal(5, 2, size=(40, 2))
PRED = REF + RNG.normal(0, 1.5, size=(40, 2))


def test_metrics_equal_sklearn_and_scipy():
    # by hand: arousal ref 1 2 3 4, pred 1 3 2 4: SS_res 2, SS_tot 5, R² 0.6; r = 4 / sqrt(5 * 5) = 0.8
    # valence ref 0 0 2 2, pred 0 1 1 2: SS_res 2, SS_tot 4, R² 0.5; r = 2 / sqrt(2 * 4) = 1 / sqrt(2)
    # (R² is not symmetric: with pred and ref swapped valence's would be 1 - 2 / 2 = 0)
    hand = regression_metrics(np.array([[1, 0], [3, 1], [2, 1], [4, 2]]), np.array([[1, 0], [2, 0], [3, 2], [4, 2]]),
                              ["arousal", "valence"])
    expected = {"r2_arousal": 0.6, "r2_valence": 0.5, "r2": 0.55, "pearson_arousal": 0.8,
                "pearson_valence": 0.5 ** 0.5, "pearson": (0.8 + 0.5 ** 0.5) / 2}
    assert hand == pytest.approx(expected, abs=1e-12) and hand.keys() == expected.keys()

    out = regression_metrics(PRED, REF, ["arousal", "valence"])
    assert out["r2"] == pytest.approx(r2_score(REF, PRED, multioutput="uniform_average"), abs=1e-12)
    for j, name in enumerate(["arousal", "valence"]):
        assert out[f"r2_{name}"] == pytest.approx(r2_score(REF[:, j], PRED[:, j]), abs=1e-12)
        assert out[f"pearson_{name}"] == pytest.approx(pearsonr(PRED[:, j], REF[:, j])[0], abs=1e-12)
    assert out["pearson"] == pytest.approx(np.mean([out["pearson_arousal"], out["pearson_valence"]]))
    assert np.isnan(regression_metrics(PRED[:1], REF[:1], ["a", "b"])["r2"])  # undefined on one item


def test_task_standardises_targets_and_reports_original_units():
    task = RegressionTask(["arousal", "valence"], mean=[5.0, 4.0], std=[2.0, 0.5])
    labels = torch.stack([task.encode(f"{a};{v}") for a, v in REF])
    outputs = torch.randn(40, 2)
    scaled = (labels - torch.tensor([5.0, 4.0])) / torch.tensor([2.0, 0.5])
    torch.testing.assert_close(task.cost_targets(labels), scaled)  # what compute_cost (e.g. MSE) compares with
    pred = outputs * torch.tensor([2.0, 0.5]) + torch.tensor([5.0, 4.0])
    metrics = task.summarise(task.item_metrics(outputs, labels))
    assert metrics["r2_valence"] == pytest.approx(r2_score(labels[:, 1].numpy(), pred[:, 1].numpy()), abs=1e-6)
    assert task.main_metric == "r2" and not task.scalar and task.num_outputs == 2
    ci = bootstrap_ci(lambda idx: task.summarise(task.item_metrics(outputs, labels), idx), 40, 50, 0)
    assert ci["r2"][0] < ci["r2"][1] and {"r2_arousal", "pearson_valence"} <= set(ci)


def test_labels_and_options_are_checked():
    task = RegressionTask(["arousal", "valence"])
    for bad in ("1.0", "1;2;3", "a;b", "nan;1"):
        with pytest.raises(ValueError, match="2 finite numbers joined by ';'"):
            task.encode(bad)
    with pytest.raises(ValueError, match="distinct target names"):
        RegressionTask(["a", "a"])
    with pytest.raises(ValueError, match="std > 0"):
        RegressionTask(["a"], std=[0.0])


def test_fitted_task_standardises_from_the_training_manifest(tmp_path):
    path = tmp_path / "train.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ID", "wav", "duration", "label"])
        for i, (a, v) in enumerate(REF):
            w.writerow([i, f"/x/{i}.wav", 1.0, f"{a};{v}"])
    spec = RegressionTask(["arousal", "valence"], standardize=True)  # the recipe form: !new:, then fitted
    task = spec.fitted(str(path))
    np.testing.assert_allclose(task.mean.numpy(), REF.mean(0), rtol=1e-6)
    np.testing.assert_allclose(task.std.numpy(), REF.std(0), rtol=1e-6)
    assert spec.mean.tolist() == [0.0, 0.0] and task is not spec  # the built task is never changed
    assert task.describe()["standardize"]
    expected = (REF[:3] - REF.mean(0)) / REF.std(0)
    torch.testing.assert_close(task.cost_targets(torch.tensor(REF[:3], dtype=torch.float32)),
                               torch.tensor(expected, dtype=torch.float32))
    raw = RegressionTask(["arousal", "valence"]).fitted(str(path))
    assert raw.mean.tolist() == [0.0, 0.0] and raw.std.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="standardize: false"):
        RegressionTask(["a", "b"], mean=[0, 0], standardize=True)
    one = tmp_path / "one.csv"
    one.write_text("ID,wav,duration,label\n0,/x/0.wav,1.0,1;2\n")
    with pytest.raises(ValueError, match="two distinct values per target"):
        RegressionTask(["a", "b"], standardize=True).fitted(str(one))
