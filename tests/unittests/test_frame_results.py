"""tools/collect_results.py lays out the frame-level metrics like the song-level ones."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from petl_core.results import read_runs  # noqa: E402
from tools import collect_results  # noqa: E402


def _run(root, name, task, main, test, method="lora"):
    folder = root / name
    folder.mkdir(parents=True)
    config = {"backbone": {"name": "mert"}, "method": {"name": method, "options": {}}, "dataset": "GTZAN", "seed": 1}
    (folder / "results.json").write_text(json.dumps({"task": task, "main_metric": main, "test": test, "config": config,
                                                     "params": {"trainable": 1000, "total": 10 ** 6, "head": 10}}))


def test_beat_and_chord_tables_show_the_main_metric_with_its_companions(tmp_path):
    _run(tmp_path, "beat", "beat", "beat_f",
         {"beat_f": 0.88, "downbeat_f": 0.61, "cmlt": 0.8, "amlt": 0.9, "loss": 0.1})
    _run(tmp_path, "chord", "chord", "majmin", {"majmin": 0.7, "root": 0.8, "mirex": 0.72, "thirds": 0.7, "loss": 1.0})
    metrics = collect_results.choose_metrics(read_runs([str(tmp_path)]), {})
    assert metrics == {"GTZAN-beat": ["beat_f", "downbeat_f", "cmlt", "amlt"],
                       "GTZAN-chord": ["majmin", "root", "mirex"]}
    collect_results.collect([str(tmp_path)], str(tmp_path / "out"))
    table = (tmp_path / "out" / "table_main.md").read_text()
    for header in ("Beat F", "Downbeat F", "CMLt", "AMLt", "MajMin", "Root", "MIREX"):
        assert header in table
    assert "88.0" in table and "61.0" in table and "72.0" in table
