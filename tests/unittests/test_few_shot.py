"""Few-shot subsets: exact k per class, seeded, from the training split only."""
import csv
import os
from collections import Counter

import pytest

from petl_core.few_shot import FewShotError, select_few_shot, write_few_shot_manifest


def _rows(n_per_class=10, classes="abc", prefix="train"):
    return [{"ID": f"{prefix}_{c}_{i}", "wav": f"/x/{prefix}_{c}_{i}.wav", "duration": "1.0", "label": c}
            for c in classes for i in range(n_per_class)]


def test_exact_k_per_class():
    sub = select_few_shot(_rows(), k=4, seed=0)
    assert Counter(r["label"] for r in sub) == {"a": 4, "b": 4, "c": 4}
    assert len({r["ID"] for r in sub}) == 12


def test_seeded_reproducible_and_seed_dependent():
    ids = lambda s: [r["ID"] for r in select_few_shot(_rows(), k=3, seed=s)]  # noqa: E731
    assert ids(5) == ids(5)
    assert ids(5) != ids(6)
    assert ids(5) != [r["ID"] for r in _rows() if int(r["ID"].split("_")[-1]) < 3]  # not "the first k"


def test_error_when_class_has_fewer_than_k():
    rows = _rows(10) + [{"ID": "rare", "wav": "/x/r.wav", "duration": "1", "label": "rare"}]
    with pytest.raises(FewShotError, match="'rare' \\(1\\)"):
        select_few_shot(rows, k=2, seed=0)


def test_bad_k():
    with pytest.raises(FewShotError):
        select_few_shot(_rows(), k=0, seed=0)


def test_multi_label_each_tag_at_least_k():
    rows = [{"ID": str(i), "label": ";".join(t for j, t in enumerate("xyz") if (i >> j) & 1)} for i in range(1, 40)]
    sub = select_few_shot(rows, k=3, seed=1, multi_label=True)
    counts = Counter(t for r in sub for t in r["label"].split(";"))
    assert all(counts[t] >= 3 for t in "xyz")
    assert len(sub) < len(rows)
    assert sub == select_few_shot(rows, k=3, seed=1, multi_label=True)


def test_manifest_subset_of_train_disjoint_from_valid_test(tmp_path):
    def write(name, rows):
        path = tmp_path / f"{name}.csv"
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["ID", "wav", "duration", "label"])
            w.writeheader()
            w.writerows(rows)
        return str(path)

    train = write("train", _rows(prefix="train"))
    valid_ids = {r["ID"] for r in _rows(prefix="valid")}
    out = write_few_shot_manifest(train, str(tmp_path / "fs" / "train_k2.csv"), k=2, seed=3)
    with open(out) as f:
        sub = list(csv.DictReader(f))
    ids = {r["ID"] for r in sub}
    assert len(sub) == 6 and ids <= {r["ID"] for r in _rows(prefix="train")} and not ids & valid_ids
    assert os.listdir(tmp_path / "fs") == ["train_k2.csv"]


def test_tool_summary_mean_std():
    import importlib.util
    spec = importlib.util.spec_from_file_location("few_shot_tool", os.path.join(
        os.path.dirname(__file__), "..", "..", "tools", "few_shot.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tool.summarise({0: {"test": {"acc": 0.5}}, 1: {"test": {"acc": 0.7}}, 2: {"test": {"acc": 0.9}}})
    assert out["acc"]["mean"] == pytest.approx(0.7) and out["acc"]["std"] == pytest.approx(0.2) and out["acc"]["n"] == 3


def test_tempo_few_shot_is_by_bpm_band_not_by_bpm_string():
    """GTZAN-like tempi: almost every BPM string is distinct; k examples are drawn per tempo band."""
    from petl_core.tasks import TempoTask

    rng = __import__("numpy").random.default_rng(0)
    bpms = [f"{b:.2f}" for b in rng.uniform(60, 180, size=200)] + ["41.00"]  # one sparse band
    rows = [{"ID": str(i), "wav": f"/x/{i}.wav", "duration": "30", "label": b} for i, b in enumerate(bpms)]
    assert len(set(bpms)) > 190  # by string this would be ~200 "classes" of one item
    task = TempoTask()
    sub = select_few_shot(rows, k=4, seed=1, class_of=task.few_shot_class, short=task.few_shot_short)
    bands = Counter(task.few_shot_class(r["label"]) for r in sub)
    all_bands = Counter(task.few_shot_class(b) for b in bpms)
    assert set(bands) == set(all_bands) and 10 <= len(all_bands) <= 14
    assert all(n == min(4, all_bands[b]) for b, n in bands.items())
    assert bands[task.few_shot_class("41.00")] == 1  # the sparse band contributes what it has
    with pytest.raises(FewShotError, match="fewer than 4"):  # classification keeps the strict rule
        select_few_shot(rows, k=4, seed=1, class_of=task.few_shot_class)


def test_tempo_checkpoints_select_on_accuracy1_by_default():
    from petl_core.tasks import TempoTask

    assert TempoTask().main_metric == "acc1" and TempoTask(main_metric="acc2").main_metric == "acc2"
    with pytest.raises(ValueError, match="valid: acc1, acc2"):
        TempoTask(main_metric="accuracy")
