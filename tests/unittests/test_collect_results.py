"""tools/collect_results.py on synthetic results.json files."""
from __future__ import annotations

import csv
import json
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from tools import collect_results  # noqa: E402


def write(root, name, *, dataset, backbone, method, seed, test, few_shot_k=None, num_layers=None, trainable=1000,
          extra_config=None, backbone_config=None, options=None, **rest):
    folder = root / name
    folder.mkdir(parents=True)
    config = {"backbone": {"name": backbone, "num_layers": num_layers, **(backbone_config or {})},
              "method": {"name": method, "options": options or {}},
              "dataset": dataset, "seed": seed, "few_shot_k": few_shot_k, "num_layers": num_layers,
              **(extra_config or {})}
    data = {"test": test, "valid": {k: v - 0.01 for k, v in test.items()},
            "params": {"trainable": trainable, "total": 10 ** 6, "head": 10}, "config": config, **rest}
    (folder / "results.json").write_text(json.dumps(data))


def make_runs(root):
    acc = {("lora", "ast"): [0.80, 0.90], ("adapter", "ast"): [0.70, 0.72], ("lora", "mert"): [0.60]}
    for (method, backbone), values in acc.items():
        for seed, v in enumerate(values, 1):
            write(root, f"esc-{method}-{backbone}-{seed}", dataset="ESC50", backbone=backbone, method=method,
                  seed=seed, test={"accuracy": v, "loss": 1.0}, num_layers=12 if backbone == "ast" else 6,
                  trainable=5000 if method == "lora" else 20000, test_ci={"accuracy": [v - 0.05, v + 0.05]})
    # key task: weighted score is the metric, and the run has no optional keys at all
    (root / "key-min").mkdir()
    (root / "key-min" / "results.json").write_text(json.dumps(
        {"test": {"accuracy": 0.5, "weighted_score": 0.61},
         "config": {"dataset": "SynthMusic", "task": "key", "backbone": "ast", "method": "lora", "seed": 1}}))
    # tagging task: mAP and ROC-AUC columns
    write(root, "tag-ast", dataset="SynthMusic-tagging", backbone="ast", method="lora", seed=1,
          test={"mAP": 0.3, "roc_auc": 0.8}, num_layers=12)
    # few-shot runs
    for method, vals in (("lora", {1: [0.2, 0.4], 5: [0.6]}), ("ft", {1: [0.1], 5: [0.7, 0.75]})):
        for k, values in vals.items():
            for seed, v in enumerate(values, 1):
                write(root, f"few-{method}-{k}-{seed}", dataset="ESC50", backbone="ast", method=method, seed=seed,
                      test={"accuracy": v}, few_shot_k=k, num_layers=12)
    # layer ablation (AST, fewer layers, one seed each)
    for n, v in ((2, 0.5), (4, 0.6)):
        write(root, f"layers-{n}", dataset="ESC50", backbone="ast", method="lora", seed=1,
              test={"accuracy": v}, num_layers=n)
    (root / "broken").mkdir()
    (root / "broken" / "results.json").write_text("{not json")


def test_collect_tables_csv_plots(tmp_path):
    make_runs(tmp_path / "runs")
    out = tmp_path / "out"
    assert collect_results.main([str(tmp_path / "runs"), "--out", str(out)]) == 0

    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 5 + 1 + 1 + 6 + 2
    lora1 = next(r for r in rows if r["method"] == "lora" and r["backbone"] == "ast" and r["seed"] == "1"
                 and r["task"] == "ESC50" and r["num_layers"] == "12" and not r["few_shot_k"])
    assert float(lora1["test_accuracy"]) == 0.8 and lora1["trainable_params"] == "5000"
    assert float(lora1["test_ci_accuracy_low"]) == 0.75
    key = next(r for r in rows if r["task"] == "SynthMusic-key")
    assert key["trainable_params"] == "" and key["test_weighted_score"] == "0.61"

    main = (out / "table_main.md").read_text()
    mean, std = 85.0, statistics.stdev([80.0, 90.0])
    assert f"| lora | ast | **{mean:.1f} ± {std:.1f}** |" in main  # best ESC50 cell, bold
    assert "| adapter | ast | 71.0 ± 1.4 |" in main
    assert "| lora | mert | 60.0 |" in main  # single seed: no ± std
    assert "SynthMusic-key (Weighted)" in main and "ESC50 (Acc)" in main
    assert "SynthMusic-tagging (mAP)" in main and "SynthMusic-tagging (ROC-AUC)" in main
    assert "61.0" in main
    assert "(loss" not in main.lower()
    # layer-ablation runs (2, 4 layers) are not mixed into the main table
    assert "num_layers=12" in main
    # seed 002 layout: per backbone with params
    assert "### ast" in main and "| lora | 5.00K |" in main and "| adapter | 20.00K |" in main

    few = (out / "table_fewshot.md").read_text()
    assert "| Method | k=1 | k=5 |" in few
    assert f"| ft | 10.0 | **72.5 ± {statistics.stdev([70.0, 75.0]):.1f}** |" in few
    assert f"| lora | **30.0 ± {statistics.stdev([20.0, 40.0]):.1f}** | 60.0 |" in few

    assert (out / "params_vs_metric.png").stat().st_size > 1000
    assert (out / "layers_vs_metric.png").stat().st_size > 1000


def test_no_optional_data(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    (root / "r1").mkdir()
    (root / "r1" / "results.json").write_text(json.dumps({"test": {"accuracy": 0.5}}))
    out = tmp_path / "out"
    summary = collect_results.collect([str(root)], str(out))
    assert summary["runs"] == 1
    assert "No few-shot runs" in (out / "table_fewshot.md").read_text()
    assert not (out / "params_vs_metric.png").exists() and not (out / "layers_vs_metric.png").exists()
    assert collect_results.main([str(tmp_path / "empty"), "--out", str(out)]) == 1


def test_metric_override_and_raw_values(tmp_path):
    root = tmp_path / "runs"
    write(root, "a", dataset="T", backbone="ast", method="lora", seed=1, test={"mAP": 0.3, "roc_auc": 0.8})
    write(root, "b", dataset="T", backbone="ast", method="ft", seed=1, test={"mAP": 0.4, "roc_auc": 0.7})
    out = tmp_path / "out"
    assert collect_results.main([str(root), "--out", str(out), "--metric", "T=roc_auc", "--no_percent"]) == 0
    main = (out / "table_main.md").read_text()
    assert "T (ROC-AUC)" in main and "mAP" not in main
    assert "| lora | ast | **0.800** |" in main and "| ft | ast | 0.700 |" in main


def test_recipe_results_format(tmp_path):
    """The layout petl_core.recipe writes: top-level task/main_metric, test_ci95, resolved config."""
    root = tmp_path / "runs"
    for seed, (acc, ws) in enumerate([(0.9, 0.5), (0.8, 0.7)], 1):
        folder = root / f"s{seed}"
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps({
            "task": "key", "main_metric": "weighted_score", "status": "ok",
            "test": {"accuracy": acc, "weighted_score": ws}, "valid": {"accuracy": acc},
            "test_ci95": {"weighted_score": [ws - 0.1, ws + 0.1]},
            "params": {"trainable": 123, "total": 456, "head": 7}, "seconds_per_epoch": 1.5,
            "config": {"seed": seed, "few_shot_k": 0, "task": {"name": "key"},
                       "backbone": {"name": "mert", "num_layers": 6}, "method": {"name": "lora", "rank": 8},
                       "hparams_file": "/x/recipes/SynthMusic/key/hparams/default.yaml"}}))
    out = tmp_path / "out"
    assert collect_results.main([str(root), "--out", str(out)]) == 0
    main = (out / "table_main.md").read_text()
    assert "SynthMusic-key (Weighted)" in main and "| lora | mert | 60.0 ± 14.1 |" in main
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert rows[0]["num_layers"] == "6" and rows[0]["few_shot_k"] == "" and rows[0]["test_ci_weighted_score_low"]
    assert "No few-shot runs" in (out / "table_fewshot.md").read_text()


SMALL_MUSICFM = {"hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 192,
                 "conv_dim": 16}


def test_configurations_kept_apart(tmp_path):
    """tiny_musicfm and small_musicfm (both name 'musicfm') and LoRA ranks are separate rows."""
    root = tmp_path / "runs"
    for i, (config, options, acc) in enumerate([("tiny", {"rank": 2}, 0.5), ("tiny", {"rank": 2}, 0.6),
                                                (SMALL_MUSICFM, {"rank": 2}, 0.9), ("tiny", {"rank": 8}, 0.7)]):
        write(root, f"r{i}", dataset="SynthMusic-key", backbone="musicfm", method="lora", seed=i, test={"accuracy": acc},
              backbone_config={"config": config}, options=options, num_layers=2)
    out = tmp_path / "out"
    assert collect_results.main([str(root), "--out", str(out)]) == 0
    main = (out / "table_main.md").read_text()
    tiny = "musicfm (config=tiny)"
    small = "musicfm (hidden_size=96, num_hidden_layers=2, num_attention_heads=4, intermediate_size=192, …)"
    assert f"| lora (rank=2) | {tiny} | 55.0 ± 7.1 |" in main
    assert f"| lora (rank=2) | {small} | **90.0** |" in main
    assert f"| lora (rank=8) | {tiny} | 70.0 |" in main
    assert f"### {tiny}" in main and f"### {small}" in main
    assert "## Configurations" in main and f'- `{small}`: `{{"config": {{"conv_dim": 16' in main
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted({r["backbone"] for r in rows}) == sorted([tiny, small])
    assert {json.loads(r["backbone_config"])["config"] == "tiny" for r in rows} == {True, False}
    assert {json.loads(r["method_config"])["options"]["rank"] for r in rows} == {2, 8}


def test_config_labels_unique_and_plain():
    assert collect_results.config_labels("ast", [{}, {}]) == {"{}": "ast"}
    labels = collect_results.config_labels("m", [{"a": 1, "b": {"x": 1}}, {"a": 2}, {}])
    assert sorted(labels.values()) == ["m (a=1, x=1)", "m (a=2)", "m (defaults)"]
    many = [{f"k{j}": int(i == j) for j in range(6)} for i in range(5, 3, -1)]  # differ only after the 4th item
    assert len(set(collect_results.config_labels("m", many).values())) == 2


def test_params_plot_keeps_probe_and_labels(tmp_path, monkeypatch):
    """The linear probe (0 trainable parameters) is drawn, and no point label leaves the figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    drawn = {}
    original = Figure.savefig

    def capture(fig, *args, **kwargs):  # what the saved figure holds, measured as it is drawn
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        drawn[ax.get_xlabel()] = (sorted(float(x) for line in ax.lines for x in line.get_xdata()),
                                  {t.get_text(): t.get_window_extent(renderer) for t in ax.texts},
                                  fig.bbox.frozen(), ax.bbox.frozen())
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    root = tmp_path / "runs"
    for method, trainable, acc in (("linear", 0, 0.4), ("lora", 405_504, 0.7), ("ft", 179_679_360, 0.8)):
        write(root, method, dataset="ESC50", backbone="musicfm", method=method, seed=1, test={"accuracy": acc},
              trainable=trainable)
    assert collect_results.main([str(root), "--out", str(tmp_path / "out")]) == 0
    xs, texts, fig_box, ax_box = next(v for k, v in drawn.items() if k.startswith("trainable"))
    assert xs == [0.0, 405_504.0, 179_679_360.0]
    assert sorted(texts) == ["ft (musicfm)", "linear (musicfm)", "lora (musicfm)"]
    for text, extent in texts.items():
        assert fig_box.x0 <= extent.x0 and extent.x1 <= fig_box.x1, text
        assert fig_box.y0 <= extent.y0 and extent.y1 <= fig_box.y1, text
        assert ax_box.x0 <= extent.x0 and extent.x1 <= ax_box.x1, text  # inside its panel


def test_unknown_metric_is_an_error(tmp_path, capsys):
    root = tmp_path / "runs"
    write(root, "a", dataset="T", backbone="ast", method="lora", seed=1, test={"mAP": 0.3, "roc_auc": 0.8})
    out = tmp_path / "out"
    assert collect_results.main([str(root), "--out", str(out), "--metric", "T=rocauc"]) == 2
    err = capsys.readouterr().err
    assert "unknown metric(s) rocauc" in err and "mAP, roc_auc" in err
    assert collect_results.main([str(root), "--out", str(out), "--metric", "X=mAP"]) == 2
    assert "no runs of task 'X'; tasks: T" in capsys.readouterr().err
    assert not out.exists()


def test_out_that_is_a_file_is_one_error_line(tmp_path, capsys):
    """Issue 20: --out <existing file> was a traceback (and the file is never touched)."""
    root = tmp_path / "runs"
    write(root, "a", dataset="T", backbone="ast", method="lora", seed=1, test={"accuracy": 0.5})
    out = tmp_path / "tables.md"
    out.write_text("mine")
    assert collect_results.main([str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --out {out}: is a file, not a folder; give a folder for results.csv and the tables\n"
    assert out.read_text() == "mine"


def test_tables_are_the_pandas_aggregates_of_the_runs_read_back(tmp_path):
    """The main table's cells equal pandas' mean and sample std of read_runs' rows (what results.py reads
    back from the files the runs wrote)."""
    from petl_core.results import read_runs

    make_runs(tmp_path / "runs")
    runs = read_runs([str(tmp_path / "runs")])
    assert len(runs) == 15 and runs["trainable"].dtype == "Int64"
    esc = runs[(runs["task"] == "ESC50") & runs["few_shot_k"].isna() & (runs["num_layers"] == 12)]
    stats = esc.groupby(["method", "backbone"])["test_accuracy"].agg(["mean", "std"]) * 100
    table = collect_results.mean_std_table(esc.assign(value=esc["test_accuracy"] * 100, column="acc"),
                                           ["method", "backbone"], "column", 2)
    for (method, backbone), row in stats.iterrows():
        text = table.loc[(method, backbone), "acc"].strip("*")
        assert text == f"{row['mean']:.2f}" + ("" if np.isnan(row["std"]) else f" ± {row['std']:.2f}")
