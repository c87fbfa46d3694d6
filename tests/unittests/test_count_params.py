"""tools/count_params.py: both papers' tables are reproduced from what the recipes train (meta device).

Run: python -m pytest tests/unittests/test_count_params.py
"""
from __future__ import annotations

import glob
import importlib.util
import os
import re
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "count_params.py")
spec = importlib.util.spec_from_file_location("count_params_tool", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
METHODS_DIR = os.path.join(ROOT, "recipes", "hparams_common", "methods")

# DESIGN.md §2, copied independently of the tool's own table
DING2024 = {
    ("musicfm", "FT"): 179_679_360, ("mert", "FT"): 51_843_712,
    ("musicfm", "Adapter"): 657_696, ("mert", "Adapter"): 322_752,
    ("musicfm", "Prompt"): 65_536, ("mert", "Prompt"): 49_152,
    ("musicfm", "Prefix"): 9_649_152, ("mert", "Prefix"): 7_385_088,
    ("musicfm", "BitFit"): 116_736, ("mert", "BitFit"): 50_688,
    ("musicfm", "SSF"): 190_464, ("mert", "SSF"): 82_944,
    ("musicfm", "LoRA"): 405_504, ("mert", "LoRA"): 165_888,
}
# seed 002: DESIGN.md §2 exact counts (Table I) and the paper's printed counts (Tables V, VI)
CAPPELLAZZO2024 = {
    ("I", "BitFit"): 102_144, ("I", "SPT-300"): 230_400, ("I", "DPT-25"): 230_400, ("I", "Pref-T 24"): 221_184,
    ("I", "Bottleneck PF par"): 248_976, ("I", "Bottleneck PF seq"): 248_976, ("I", "Bottleneck HOU par"): 497_952,
    ("I", "Bottleneck HOU seq"): 497_952, ("I", "Convpass PF par"): 254_304, ("I", "Convpass PF seq"): 254_304,
    ("I", "Convpass HOU par"): 508_608, ("I", "Convpass HOU seq"): 508_608, ("I", "LoRA"): 221_184,
    ("I", "Linear (10 classes)"): 9_226, ("I", "Linear (50 classes)"): 39_986,
}
PRINTED = {("V", "PF FFN-Seq-After x2"): "470K", ("V", "HOU mixed"): "498K", ("VI", "LoRA"): "442k",
           ("VI", "Adapter + LoRA"): "470K", ("VI", "Adapter + DPT-25"): "479K",
           ("VI", "Adapter + DPT-14 + LoRA"): "488K", ("IV", "W_q (RR 64)"): "221K"}
SEED001_RECIPES = ["GTZAN/genre", "GTZAN/key", "GTZAN/tempo", "GiantSteps/key", "GiantSteps/tempo",
                   "MagnaTagATune/tagging", "MTGJamendo/tagging"]
SEED002_RECIPES = ["ESC50/classification", "UrbanSound8K/classification", "SpeechCommands/classification",
                   "FluentSpeechCommands/classification"]


def hparams(recipe):
    return os.path.join(ROOT, "recipes", recipe, "hparams", "default.yaml")


@pytest.fixture(scope="module")
def cappellazzo():
    return tool.compute_table("cappellazzo2024")


def test_ding2024_table():
    rows = tool.compute_table("ding2024")
    got = {(r["backbone"], r["method"]): r["trainable"] + (r["unused"] if r["method"] == "FT" else 0) for r in rows}
    assert got == DING2024
    assert all(r["match"] for r in rows)
    assert {r["piece"] for r in rows} == {f"seed001/{m}" for m in
                                          ("ft", "adapter", "prompt", "prefix", "bitfit", "ssf", "lora")}


def test_cappellazzo2024_every_row(cappellazzo):
    rows = {(r["paper_table"], r["method"]): r for r in cappellazzo}
    for key, want in CAPPELLAZZO2024.items():
        r = rows[key]
        assert r["trainable"] + (r["head"] if key[1].startswith("Linear") else 0) == want, key
    for key, printed in PRINTED.items():
        assert rows[key]["paper"] == printed and rows[key]["match"], key
    assert [t for t in ("I", "III", "IV", "V", "VI", "VII") if not any(k[0] == t for k in rows)] == []
    assert sum(k[0] == "III" for k in rows) == 6 and sum(k[0] == "IV" for k in rows) == 4
    assert sum(k[0] == "V" for k in rows) == 8 and sum(k[0] == "VI" for k in rows) == 6
    assert sum(k[0] == "VII" for k in rows) == 4
    # the two rows whose printed count no configuration reaches are reported, not hidden
    assert [k for k, r in rows.items() if not r["match"]] == [("I", "Full FT"), ("V", "HYDRA FFN")]
    assert rows[("V", "HYDRA FFN")]["trainable"] == 479_520


def test_every_row_is_a_recipe_piece(cappellazzo):
    """The table's configurations are files the recipes include, not options written in the tool."""
    for r in cappellazzo:
        assert os.path.isfile(os.path.join(METHODS_DIR, r["piece"] + ".yaml")), r["piece"]
        assert r["recipe"].startswith("recipes/") and os.path.isfile(os.path.join(ROOT, r["recipe"]))


def test_paper_recipes_include_their_papers_pieces():
    """In a paper's recipe a method name means that paper's configuration (issue 19 §1)."""
    for recipes, folder in ((SEED001_RECIPES, "seed001"), (SEED002_RECIPES, "seed002")):
        pieces = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(METHODS_DIR, folder, "*.yaml")))
        for recipe in recipes:
            with open(hparams(recipe)) as f:
                text = f.read()
            # the piece is included as it is (no per-recipe options): a name means the same in every recipe
            assert f"\npetl: !include:../../../hparams_common/methods/{folder}/<method>.yaml {{}}\n" in text, recipe
            default = re.search(r"^method: (\S+)", text, re.M).group(1)
            assert default in pieces, (recipe, default)
        # every recipe resolves a piece to the same configuration as the table's recipe
        for method in ("lora", "prefix"):
            want = tool.recipe_configuration(hparams(recipes[0]), {"method": method})
            for recipe in recipes[1:]:
                got = tool.recipe_configuration(hparams(recipe), {"method": method})
                assert got[1] == want[1] and got[0]["name"] == want[0]["name"], (recipe, method)


def test_seed001_lora_on_musicfm_is_table_3(capsys):
    """--method=lora on a seed 001 recipe trains Table 3's LoRA (was rank 8 on q, v: 147,456 on MERT)."""
    assert tool.main(["--recipe", hparams("GTZAN/key"), "--method", "lora", "--backbone", "mert_95m"]) == 0
    assert capsys.readouterr().out.startswith("trainable params: 165,888 || ")
    encoder, petl = tool.recipe_configuration(hparams("GiantSteps/key"), {"method": "ssf", "backbone": "musicfm_msd"})
    assert encoder["name"] == "musicfm" and petl["options"]["by_backbone"] == {"musicfm": {"conv_scale": True}}


def test_seed002_lora_is_petl_ast(capsys):
    assert tool.main(["--recipe", hparams("UrbanSound8K/classification"), "--method=lora", "--classes", "10"]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"trainable params: 221,184 \|\| all params: [\d,]+ \|\| trainable%: [\d.]+ \|\| "
                        r"head params: 7,690", line), line
    _, petl = tool.recipe_configuration(hparams("ESC50/classification"), {"method": "lora"})
    assert petl["options"]["scale"] == 8 / 128 and petl["options"]["init"] == "petl_ast"


def test_recipe_overrides_change_the_count(capsys):
    """--key=value overrides act as on the recipe's command line."""
    assert tool.main(["--recipe", hparams("ESC50/classification"), "--method=lora", "--petl={options: {targets: [q]}}"]) == 0
    assert capsys.readouterr().out.startswith("trainable params: 110,592 || ")
    assert tool.main(["--recipe", hparams("GTZAN/genre"), "--method=prompt", "--encoder={num_layers: 3}"]) == 0
    assert capsys.readouterr().out.startswith("trainable params: 49,152 || ")


def test_single_count_line(capsys):
    assert tool.main(["--backbone", "ast", "--method", "lora", "--options", '{"rank": 6}', "--classes", "10"]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"trainable params: 221,184 \|\| all params: [\d,]+ \|\| trainable%: [\d.]+ \|\| "
                        r"head params: 7,690", line), line
    assert tool.main(["--backbone", "musicfm", "--num_layers", "6", "--preset", "seed001/adapter"]) == 0
    assert capsys.readouterr().out.startswith("trainable params: 657,696 || ")
    assert tool.main(["--backbone", "ast", "--preset", "seed002/adapter_pf_seq", "--options",
                      '{"train_norms": "none"}']) == 0
    assert capsys.readouterr().out.startswith("trainable params: 230,544 || ")  # 248,976 - 12 LayerNorms


def test_frame_recipes_twin_equals_the_seed001_piece():
    """methods/adapter_seed001 (frame recipes outside Table 3) is the same configuration as seed001/adapter."""
    with open(os.path.join(METHODS_DIR, "adapter_seed001.yaml")) as f, \
            open(os.path.join(METHODS_DIR, "seed001", "adapter.yaml")) as g:
        assert yaml.safe_load(f) == yaml.safe_load(g)


@pytest.mark.parametrize("argv,message", [
    (["--backbone", "ast", "--method", "lorax"], "unknown PETL method 'lorax'"),
    (["--backbone", "astt", "--method", "lora"], "unknown backbone 'astt'"),
    (["--backbone", "ast", "--method", "lora", "--options", '{"rank": 0}'], "rank"),
    (["--backbone", "ast", "--method", "lora", "--options", "{rank"], "not valid JSON"),
    (["--table", "nope"], "unknown table 'nope'"),
    (["--backbone", "ast", "--preset", "nope"], "no method preset 'nope'"),
    (["--backbone", "ast", "--preset", "seed002/adapter_pf_par", "--method", "lora"], "one of --method / --preset"),
    (["--recipe", "nope.yaml"], "no recipe hparams file"),
    (["--recipe", hparams("ESC50/classification"), "--method", "adapter_hou"], "no piece 'adapter_hou'"),
    (["--recipe", hparams("ESC50/classification"), "--bogus=1"], "unknown hyperparameter 'bogus'"),
    (["--recipe", hparams("ESC50/classification"), "--options", "{}"], "with --recipe"),
    (["--backbone", "ast", "--method", "lora", "--rank=2"], "need --recipe"),
])
def test_errors_exit_nonzero(capsys, argv, message):
    assert tool.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_subprocess():
    result = subprocess.run([sys.executable, TOOL, "--backbone", "ast", "--method", "bogus"],
                            capture_output=True, text=True, cwd="/")
    assert result.returncode == 2 and "unknown PETL method" in result.stderr
