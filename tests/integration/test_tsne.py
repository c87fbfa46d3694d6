"""tools/tsne.py on the shared tiny run: PNG + CSV with one row per test item."""
import csv
import os
import sys

import pytest
from conftest_runs import tiny_run  # noqa: F401

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
import tsne as tsne_tool  # noqa: E402


def test_tsne_png_and_points(tiny_run, tmp_path):
    png = tmp_path / "fig" / "tsne.png"
    assert tsne_tool.main(["--run", tiny_run, "--split", "test", "--out", str(png)]) == 0
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(open(png.with_suffix(".csv"))))
    manifest = list(csv.DictReader(open(os.path.join(os.path.dirname(tiny_run), "data", "test.csv"))))
    assert [r["ID"] for r in rows] == [m["ID"] for m in manifest]
    assert {r["label"] for r in rows} == {"low", "high"}
    assert all(float(r["x"]) == float(r["x"]) for r in rows)  # finite numbers

    # --manifest instead of a split, default output next to the run
    assert tsne_tool.main(["--run", tiny_run, "--manifest", os.path.join(os.path.dirname(tiny_run), "data",
                                                                           "valid.csv")]) == 0
    assert len(list(csv.DictReader(open(os.path.join(tiny_run, "tsne_manifest.csv"))))) == 4


def test_tsne_help_and_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        tsne_tool.parse_args(["--help"])
    assert info.value.code == 0
    assert tsne_tool.main(["--run", str(tmp_path / "missing")]) == 1
    assert "run folder not found" in capsys.readouterr().err
