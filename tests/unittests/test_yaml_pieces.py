"""The one yaml extension: ``<key>`` in ``!include:`` paths switches pieces, for any folder layout."""
import os

import pytest

from petl_core.config import load_hparams, references
from petl_core.errors import ConfigError
from petl_core.yaml_pieces import parse, piece_keys, substitute_pieces


@pytest.fixture
def pieces(tmp_path):
    for folder, name, text in (("backbones", "small", "width: 8\n"), ("backbones", "tiny", "width: 2\n"),
                               ("methods/seed001", "lora", "name: lora\nrank: 4\n"),
                               ("methods/seed001", "ft", "name: ft\n"), ("methods/seed002", "lora", "name: lora2\n")):
        os.makedirs(tmp_path / folder, exist_ok=True)
        (tmp_path / folder / f"{name}.yaml").write_text(text)
    path = tmp_path / "h.yaml"
    path.write_text("backbone: small  # a comment\nmethod: ft\npaper: seed001\n"
                    "encoder: !include:backbones/<backbone>.yaml {}\n"
                    "petl: !include:methods/<paper>/<method>.yaml {}\n"
                    "width: !ref <encoder[width]>\n")
    return str(path)


def test_pieces_switch_from_the_yaml_and_the_command_line(pieces):
    h = load_hparams(pieces)
    assert h["encoder"] == {"width": 8} and h["petl"] == {"name": "ft"} and h["width"] == 8
    h = load_hparams(pieces, {"backbone": "tiny", "method": "lora", "petl": {"rank": 2}})
    assert h["encoder"] == {"width": 2} and h["petl"] == {"name": "lora", "rank": 2}
    assert load_hparams(pieces, {"paper": "seed002", "method": "lora"})["petl"] == {"name": "lora2"}


def test_the_text_outside_include_paths_is_untouched(pieces):
    text = open(pieces).read()
    out = substitute_pieces(pieces, text, {"method": "lora"})
    assert "!include:methods/seed001/lora.yaml {}" in out and "!include:backbones/small.yaml {}" in out
    assert out.replace("seed001/lora", "<paper>/<method>").replace("small.yaml", "<backbone>.yaml") == text
    assert substitute_pieces(pieces, "a: 1\n", {}) == "a: 1\n"  # no pieces: as it was


def test_piece_keys_and_references_are_what_the_yaml_reads(pieces):
    text = open(pieces).read()
    assert piece_keys(text) == {"backbone", "method", "paper"}
    assert dict(parse(text))["paper"] == "seed001"
    assert references(text) == {"backbone", "method", "paper", "encoder"}


@pytest.mark.parametrize("override, message", [
    ({"backbone": "huge"}, r"backbone: no piece 'huge' \(.*backbones/huge.yaml not found\); valid: small, tiny"),
    ({"method": "prompt"}, r"method: no piece 'prompt' .*valid: ft, lora"),
    ({"backbone": "../h"}, r"backbone must be the name of a piece \(a file name without .yaml\), got '../h'"),
    ({"backbone": 3}, "backbone must be the name of a piece"),
])
def test_a_missing_or_malformed_piece_is_one_clear_error(pieces, override, message):
    with pytest.raises(ConfigError, match=message):
        substitute_pieces(pieces, open(pieces).read(), override)


def test_an_include_naming_a_key_the_yaml_lacks(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text("encoder: !include:backbones/<backbone>.yaml {}\n")
    with pytest.raises(ConfigError, match="names <backbone>, which is not a top-level key"):
        substitute_pieces(str(path), path.read_text(), {})
