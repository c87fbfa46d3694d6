"""tools/tsne.py on the shared tiny run: PNG + CSV with one row per test item."""
import csv
import os
import sys

import numpy as np
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
    # each item's own label, coloured by it (classification), at a finite point; not all at one point
    assert [r["label"] for r in rows] == [m["label"] for m in manifest] == ["low", "high"] * 3
    assert [r["colour"] for r in rows] == [r["label"] for r in rows]
    points = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    assert np.isfinite(points).all() and points.std(axis=0).min() > 0

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


def test_many_classes_kept_apart(monkeypatch, tmp_path):
    """40 classes: 40 distinct colours (the first 24 well apart), no colour + marker pair twice up to 80."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import to_hex, to_rgb
    from matplotlib.figure import Figure

    drawn = []
    original = Figure.savefig

    def capture(fig, *args, **kwargs):  # (colour, marker shape) of each class's scatter
        drawn[:] = [(to_hex(c.get_facecolor()[0]), c.get_paths()[0].vertices.round(3).tobytes())
                    for c in fig.axes[0].collections]
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    for n, distinct_colours in ((24, 24), (40, 40), (80, 40)):
        labels = [f"class{i:02d}" for i in range(n)]
        points = np.random.default_rng(0).standard_normal((2 * n, 2))
        tsne_tool.plot(points, labels * 2, "classification", str(tmp_path / f"t{n}.png"), "t")
        assert len(drawn) == n
        assert len({c for c, _ in drawn}) == distinct_colours
        assert len(set(drawn)) == n
        if n == 24:
            rgb = np.array([to_rgb(c) for c, _ in drawn])
            assert (np.linalg.norm(rgb[:, None] - rgb[None], axis=-1) + 9 * np.eye(n)).min() > 0.2


def test_tsne_progress_out_folder_and_inputs(tiny_run, tmp_path, capsys):
    figures = tmp_path / "figures"
    figures.mkdir()
    assert tsne_tool.main(["--run", tiny_run, "--split", "test", "--out", str(figures)]) == 0
    assert sorted(os.listdir(figures)) == ["tsne_test.csv", "tsne_test.png"]
    err = capsys.readouterr().err
    assert "embedding" in err and "6/6" in err  # the progress bar

    # the points CSV would replace the input manifest: refused, the manifest is untouched
    manifest = tmp_path / "clips.csv"
    manifest.write_bytes(open(os.path.join(os.path.dirname(tiny_run), "data", "valid.csv"), "rb").read())
    before = manifest.read_bytes()
    assert tsne_tool.main(["--run", tiny_run, "--manifest", str(manifest), "--out", str(tmp_path / "clips.png")]) == 1
    assert "would overwrite an input" in capsys.readouterr().err
    assert manifest.read_bytes() == before and not (tmp_path / "clips.png").exists()
    assert tsne_tool.main(["--run", tiny_run, "--manifest", str(manifest), "--out", str(manifest)]) == 2
    assert "not an image file" in capsys.readouterr().err
    assert manifest.read_bytes() == before
