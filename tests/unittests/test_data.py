"""Evaluation caps: the validation cap of long-track datasets, whole tracks for the test."""
import pytest
import soundfile as sf
import torch

from petl_core.data import eval_cap, make_dataset
from petl_core.tasks import KeyTask


def test_validation_cap_applies_to_validation_only():
    hp = {"max_valid_seconds": 30, "max_eval_seconds": None}
    assert eval_cap(hp, "valid") == 30.0 and eval_cap(hp, "test") is None
    assert eval_cap({"max_valid_seconds": 30, "max_eval_seconds": 10}, "valid") == 10.0
    assert eval_cap({}, "valid") is None


@pytest.mark.parametrize("bad", [0, -5, "abc", True])
def test_bad_cap_is_one_clear_error(bad):
    with pytest.raises(ValueError, match="max_valid_seconds must be a positive number"):
        eval_cap({"max_valid_seconds": bad}, "valid")


def test_capped_validation_reads_the_first_seconds_and_the_test_the_whole_track(tmp_path):
    sr = 8000
    wav = torch.linspace(-1, 1, 10 * sr)
    sf.write(tmp_path / "long.wav", wav.numpy(), sr, subtype="FLOAT")
    (tmp_path / "m.csv").write_text(f"ID,wav,duration,label\na,{tmp_path / 'long.wav'},10.0,C major\n")
    hp = {"max_valid_seconds": 3}
    for split, seconds in (("valid", 3), ("test", 10)):
        item = make_dataset(str(tmp_path / "m.csv"), KeyTask(), sr, train=False,
                            max_eval_seconds=eval_cap(hp, split))[0]
        assert item["sig"].shape[0] == seconds * sr
        torch.testing.assert_close(item["sig"], wav[: seconds * sr])
