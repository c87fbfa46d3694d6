"""A backbone's ``pretrained=`` that gives no configuration: one line saying why and what to do."""
import pytest
from transformers import ASTConfig

from lobes.loading import resolve_config


@pytest.mark.parametrize("pretrained, env, message", [
    ("someone/not-cached-model", {"HF_HUB_OFFLINE": "1"},
     "pretrained='someone/not-cached-model': offline (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set) and this hub id "
     "is not in the local cache: give a local folder"),
    ("someone/not-cached-model", {"TRANSFORMERS_OFFLINE": "yes"}, "offline (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE"),
    ("/nope/ast", {}, "pretrained='/nope/ast': no such folder (give a local checkpoint folder holding config.json"),
])
def test_a_pretrained_that_gives_no_config_is_one_clear_line(tmp_path, monkeypatch, pretrained, env, message):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # never reach the network
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(OSError) as info:
        resolve_config(ASTConfig, pretrained.format(tmp=tmp_path), None, {})
    assert message.format(tmp=tmp_path) in str(info.value) and "\n" not in str(info.value)
