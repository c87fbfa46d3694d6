"""Metrics against hand-computed values."""
import numpy as np
import pytest

from petl_core import metrics as M


@pytest.mark.parametrize("ref,est,score", [
    ("C major", "C major", 1.0),
    ("C major", "G major", 0.5),    # estimate a fifth ABOVE the reference
    ("C major", "F major", 0.0),    # a fifth below: mir_eval gives nothing (peft-music gave 0.5)
    ("A minor", "E minor", 0.5),
    ("C major", "A minor", 0.3),    # relative minor
    ("A minor", "C major", 0.3),    # relative major
    ("C major", "C minor", 0.2),    # parallel
    ("F# minor", "F# major", 0.2),
    ("C major", "D major", 0.0),
])
def test_key_weighted_score_pairs(ref, est, score):
    assert M.key_scores([ref], [est])[0] == pytest.approx(score)


def test_key_task_metrics_are_the_means_of_mir_eval_scores():
    import torch

    from petl_core.tasks import KeyTask

    task = KeyTask()
    refs, ests = ["C major", "C major", "A minor", "D major"], ["C major", "G major", "C major", "E minor"]
    logits = torch.nn.functional.one_hot(torch.stack([task.encode(e) for e in ests]), 24).float()
    out = task.summarise(task.item_metrics(logits, torch.stack([task.encode(r) for r in refs])))
    assert out["weighted_score"] == pytest.approx((1 + 0.5 + 0.3 + 0) / 4)
    assert out["accuracy"] == pytest.approx(0.25)


@pytest.mark.parametrize("det,ann,acc1,acc2", [
    (120.0, 120.0, 1, 1),
    (124.0, 120.0, 1, 1),     # 3.3 % off: within 4 %
    (125.0, 120.0, 0, 0),     # 4.2 % off
    (60.0, 120.0, 0, 1),      # half
    (240.0, 120.0, 0, 1),     # double
    (40.0, 120.0, 0, 1),      # third
    (360.0, 120.0, 0, 1),     # triple
    (90.0, 120.0, 0, 0),
])
def test_tempo_accuracies(det, ann, acc1, acc2):
    out = M.tempo_scores([det], [ann])
    assert out["acc1"][0] == acc1 and out["acc2"][0] == acc2


def test_tempo_scores_mean():
    scores = M.tempo_scores([120, 60, 90, 121], [120, 120, 120, 120])
    assert scores["acc1"].mean() == pytest.approx(0.5) and scores["acc2"].mean() == pytest.approx(0.75)


def test_map_hand_computed():
    # tag 0: scores (0.9 +, 0.8 -, 0.7 +) -> AP = (1/1 + 2/3) / 2 ; tag 1: (0.1 -, 0.6 +, 0.2 -) -> AP = 1
    scores = np.array([[0.9, 0.1], [0.8, 0.6], [0.7, 0.2]])
    targets = np.array([[1, 0], [0, 1], [1, 0]])
    out = M.tagging_metrics(scores, targets)
    assert out["mAP"] == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    # ROC-AUC tag 0: positive pairs (0.9>0.8 yes, 0.7>0.8 no) -> 0.5 ; tag 1: 1.0
    assert out["roc_auc"] == pytest.approx(0.75)


def test_map_skips_tags_without_positives():
    scores = np.array([[0.9, 0.5], [0.1, 0.4]])
    targets = np.array([[1, 0], [0, 0]])
    assert M.tagging_metrics(scores, targets)["mAP"] == pytest.approx(1.0)


def test_classification_accuracy():
    import torch

    from petl_core.tasks import ClassificationTask

    task = ClassificationTask(["a", "b", "c", "d"])
    logits = torch.nn.functional.one_hot(torch.tensor([1, 2, 3]), 4).float()
    assert task.summarise(task.item_metrics(logits, torch.tensor([1, 2, 0])))["accuracy"] == pytest.approx(2 / 3)


def test_bootstrap_seeded_and_brackets_mean():
    values = np.array([0.0, 1.0] * 50)
    fn = lambda idx: {"m": float(values[idx].mean())}  # noqa: E731
    a = M.bootstrap_ci(fn, len(values), n_resamples=300, seed=1)
    b = M.bootstrap_ci(fn, len(values), n_resamples=300, seed=1)
    assert a == b
    low, high = a["m"]
    assert low < 0.5 < high and high - low < 0.3
