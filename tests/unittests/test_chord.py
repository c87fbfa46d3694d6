"""Chord task: vocabularies, .lab parsing, frame targets, segments, metrics equal to mir_eval."""
import mir_eval
import numpy as np
import pytest
import torch

from lobes.frame_head import FrameTiming
from petl_core.chord import IGNORE, METRICS, ChordTask, read_lab, write_lab
from petl_core.frame_tasks import masked_cross_entropy

REF = """0.000 1.000 N
1.000 3.500 C:maj
3.500 5.000 A:min7
5.000 6.000 G:7/3
6.000 8.000 F:maj
8.000 10.000 C:maj
"""
EST = """0.000 1.200 N
1.200 3.500 C:maj
3.500 5.000 C:maj
5.000 6.200 G:maj
6.200 8.000 F:min
8.000 9.000 C:maj
"""
REF2 = """0.0 1.0 C:dim
1.0 3.0 E:min
3.0 4.0 B:sus4
"""
EST2 = """0.0 2.0 E:min
2.0 4.0 B:maj
"""


def _lab(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_vocabularies_and_label_mapping():
    majmin, ext = ChordTask("majmin"), ChordTask("extended")
    assert majmin.num_outputs == 25 and ext.num_outputs == 169
    cases = {"N": ("N", "N"), "C:maj": ("C:maj", "C:maj"), "Eb:min7": ("D#:min", "D#:min7"),
             "G:9/5": ("G:maj", "G:7"), "C:maj7/3": ("C:maj", "C:maj7"), "Bb:sus4(b7)": (None, "A#:sus4"),
             "B:dim": (None, "B:dim"), "B:hdim7": (None, "B:hdim7"), "F#:aug": (None, "F#:aug"),
             "A:5": (None, None), "X": (None, None), "D:(1,b3,5)": ("D:min", "D:min")}
    for label, (want_mm, want_ext) in cases.items():
        for task, want in ((majmin, want_mm), (ext, want_ext)):
            k = task.class_of(label)
            assert (task.classes[k] if k != IGNORE else None) == want, (label, task.vocabulary)
    with pytest.raises(ValueError, match="vocabulary"):
        ChordTask("huge")


def test_read_lab_errors_name_the_file(tmp_path):
    intervals, labels = read_lab(_lab(tmp_path, "ok.lab", REF))
    assert intervals.shape == (6, 2) and labels[3] == "G:7/3"
    with pytest.raises(ValueError, match=r"bad\.lab:1: invalid chord label 'H:maj'"):
        read_lab(_lab(tmp_path, "bad.lab", "0 1 H:maj\n"))
    with pytest.raises(ValueError, match="not found"):
        read_lab(str(tmp_path / "none.lab"))


@pytest.mark.parametrize("text, duration, message", [
    ("0 1 N\n2.0 1.5 C:maj\n", None, r"b\.lab:2: segment 2-1\.5 s ends before it starts"),
    ("0 2 N\n# comment\n1.5 3 C:maj\n", None, r"b\.lab:3: segment 1\.5-3 s overlaps the previous one \(0-2 s, line 1\)"),
    ("0 1 N\n1 2 C:maj\n", 1.5, r"b\.lab:2: segment 1-2 s ends after the audio \(1\.5 s\)"),
    ("0 1\n", None, r"b\.lab:1: expected 'start end label'"),
    ("0 1 C:maj extra\n", None, r"b\.lab:1: expected 'start end label'"),
])
def test_read_lab_refuses_segments_mir_eval_refuses(tmp_path, text, duration, message):
    """Issue 19 §5: such segments were parsed and scored; one error naming the file and the line."""
    with pytest.raises(ValueError, match=message):
        read_lab(_lab(tmp_path, "b.lab", text), duration)
    assert len(read_lab(_lab(tmp_path, "ok.lab", "0 1 N\n1.0005 2 C:maj\n"), 2.0005)[1]) == 2  # rounding tolerated


@pytest.mark.parametrize("ref,est", [(REF, EST), (REF2, EST2), (REF, REF)])
def test_track_metrics_equal_mir_eval_evaluate(tmp_path, ref, est):
    task = ChordTask()
    ref_path, est_path = _lab(tmp_path, "ref.lab", ref), _lab(tmp_path, "est.lab", est)
    ours = task.score(read_lab(est_path), task.annotation(ref_path))
    theirs = mir_eval.chord.evaluate(*read_lab(ref_path), *read_lab(est_path))
    for metric in METRICS:
        assert ours[metric] == pytest.approx(theirs[metric]), metric


def test_set_metrics_are_duration_weighted(tmp_path):
    task = ChordTask()
    items = [task.score(read_lab(_lab(tmp_path, f"e{i}.lab", e)), task.annotation(_lab(tmp_path, f"r{i}.lab", r)))
             for i, (r, e) in enumerate([(REF, EST), (REF2, EST2)])]
    stacked = {k: np.array([it[k] for it in items]) for k in items[0]}
    summary = task.summarise(stacked)
    # majmin, by hand. Track 1 (10 s, all scorable): wrong 1.0-1.2 (N vs C), 3.5-5 (C vs Amin),
    # 6.0-6.2 (G vs F), 6.2-8 (Fmin vs F), 9-10 (N vs C): 10 - 4.7 = 5.3 s correct.
    # Track 2: C:dim and B:sus4 are not majmin (excluded): 2 s scorable, E:min right for 1 s of it.
    assert stacked["majmin"].tolist() == pytest.approx([0.53, 0.5])
    assert summary["majmin"] == pytest.approx((5.3 + 1.0) / (10 + 2))
    assert summary["root"] == pytest.approx((stacked["root_num"].sum()) / 14.0)
    boot = task.summarise(stacked, np.array([1, 1]))
    assert boot["majmin"] == pytest.approx(0.5)


def test_frame_targets_and_decoded_segments_reproduce_the_reference(tmp_path):
    task = ChordTask()
    task.timing = FrameTiming(100.0)
    path = _lab(tmp_path, "ref.lab", REF)
    y = task.targets(path, 0.0, 10.0)
    assert y.shape == (1000,) and y[50] == 0 and y[150] == task.class_of("C:maj") and y[400] == task.class_of("A:min")
    crop = task.targets(path, 5.5, 1.0)  # G:7 until 6.0, then F
    assert crop[0] == task.class_of("G:maj") and crop[-1] == task.class_of("F:maj")
    assert (task.targets(path, 9.5, 1.0)[50:] == IGNORE).all()  # past the last segment
    logits = torch.nn.functional.one_hot(y.clamp(min=0), 25).float()
    intervals, labels = task.decode(logits, 10.0)
    assert labels == ["N", "C:maj", "A:min", "G:maj", "F:maj", "C:maj"]
    assert np.allclose(intervals[:, 0], [0, 1.0, 3.5, 5.0, 6.0, 8.0], atol=0.006) and intervals[-1, 1] == 10.0
    out = str(tmp_path / "est.lab")
    write_lab(out, intervals, labels)
    assert mir_eval.chord.evaluate(*read_lab(path), *read_lab(out))["majmin"] > 0.99


def test_loss_ignores_out_of_vocabulary_and_masked_frames():
    logits = torch.randn(1, 3, 25, requires_grad=True)
    targets = torch.tensor([[3, IGNORE, 5]])
    mask = torch.tensor([[True, True, False]])
    loss = masked_cross_entropy(logits, targets, mask)  # the chord recipes' compute_cost
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits[0, :1], targets[0, :1]).item())
    loss.backward()
    assert logits.grad[0, 1:].abs().sum() == 0
