"""Bad manifests and bad windows: one message naming the file, the line and the real cause."""
import numpy as np
import pytest
import soundfile as sf

from lobes.audio import AudioError, load_audio
from petl_core.manifest import ManifestError, check_manifest


def _wav(path, seconds=0.5, sr=16000):
    sf.write(path, np.zeros(int(seconds * sr), dtype=np.float32), sr)
    return str(path)


def _manifest(path, rows, bom=False):
    text = "ID,wav,duration,label\n" + "".join(",".join(r) + "\n" for r in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return str(path)


def test_byte_order_mark_is_named_with_the_fix(tmp_path):
    wav = _wav(tmp_path / "a.wav")
    path = _manifest(tmp_path / "user.csv", [("a", wav, "0.5", "dog")], bom=True)
    with pytest.raises(ManifestError, match="user.csv: starts with a UTF-8 byte-order mark") as info:
        check_manifest(path)
    assert "sed -i" in str(info.value)
    check_manifest(_manifest(tmp_path / "plain.csv", [("a", wav, "0.5", "dog")]))  # the same without BOM


@pytest.mark.parametrize("duration, message", [("abc", "is not a number of seconds"),
                                               ("", "is not a number of seconds"),
                                               ("-1", "must be a positive"), ("nan", "must be a positive"),
                                               ("inf", "must be a positive")])
def test_bad_duration_is_named_by_line(tmp_path, duration, message):
    wav = _wav(tmp_path / "a.wav")
    path = _manifest(tmp_path / "m.csv", [("a", wav, "0.5", "dog"), ("b", wav, duration, "cat")])
    with pytest.raises(ManifestError, match=f"line 3 \\(ID='b'\\): duration '{duration}' {message}"):
        check_manifest(path)


def test_window_past_the_end_says_so_not_zero_length(tmp_path):
    wav = _wav(tmp_path / "short.wav", seconds=0.5)
    with pytest.raises(AudioError, match=r"short.wav: nothing to read at 3.00 s, the file holds 0.50 s"):
        load_audio(wav, start=3.0, duration=1.0)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty.wav: zero-length audio"):
        load_audio(str(empty))
