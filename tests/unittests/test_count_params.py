"""tools/count_params.py: both paper tables are reproduced from instantiated (meta-device) modules.

Run: python -m pytest tests/unittests/test_count_params.py
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "count_params.py")
spec = importlib.util.spec_from_file_location("count_params_tool", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

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
CAPPELLAZZO2024 = {
    "BitFit": 102_144, "SPT-300": 230_400, "DPT-25": 230_400, "Prefix-24": 221_184,
    "Bottleneck PF par": 248_976, "Bottleneck PF seq": 248_976, "Bottleneck HOU par": 497_952,
    "Bottleneck HOU seq": 497_952, "Convpass PF par": 254_304, "Convpass PF seq": 254_304,
    "Convpass HOU par": 508_608, "Convpass HOU seq": 508_608, "LoRA (W_q, W_v)": 221_184,
    "Linear probe (10 classes)": 9_226, "Linear probe (50 classes)": 39_986,
}


def test_ding2024_table():
    rows = tool.compute_table("ding2024")
    got = {(r["backbone"], r["method"]): r["trainable"] + (r["unused"] if r["method"] == "FT" else 0) for r in rows}
    assert got == DING2024
    assert all(r["match"] for r in rows)
    notes = {(r["backbone"], r["method"]): r["note"] for r in rows}
    assert "num_prefixes: 64" in notes[("mert", "Prefix")]
    assert "conv_batchnorm_bias" in notes[("musicfm", "BitFit")] and "conv_scale" in notes[("musicfm", "SSF")]


def test_cappellazzo2024_table():
    rows = tool.compute_table("cappellazzo2024")
    got = {r["method"]: r["trainable"] + (r["head"] if r["method"].startswith("Linear probe") else 0) for r in rows}
    assert got == CAPPELLAZZO2024
    assert all(r["match"] for r in rows)
    conv = [r for r in rows if r["method"].startswith("Convpass")]
    assert all('"conv":"1d"' in r["options"] and "1d" in r["note"] for r in conv)
    # the adapter rows are the recipes' presets (PETL_AST placements), not ad-hoc options
    presets = {r["method"]: json.loads(r["options"]) for r in rows
               if r["method"].startswith(("Bottleneck", "Convpass"))}
    assert presets["Bottleneck PF par"]["preset"] == "adapter_pf_par"
    assert presets["Bottleneck PF par"]["options"]["location"] == "mhsa"
    assert presets["Bottleneck PF par"]["options"]["position"] == "before"
    assert presets["Bottleneck PF seq"]["options"]["location"] == "ffn"


def test_seed001_adapter_rows_use_the_recipe_preset():
    rows = {(r["backbone"], r["method"]): r for r in tool.compute_table("ding2024")}
    for backbone in ("mert", "musicfm"):
        options = json.loads(rows[(backbone, "Adapter")]["options"])
        assert options["preset"] == "adapter_seed001" and options["options"]["position"] == "after_add"


def test_single_count_line(capsys):
    assert tool.main(["--backbone", "ast", "--method", "lora", "--options", '{"rank": 6}', "--classes", "10"]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"trainable params: 221,184 \|\| all params: [\d,]+ \|\| trainable%: [\d.]+ \|\| "
                        r"head params: 7,690", line), line
    assert tool.main(["--backbone", "mert", "--method", "prompt", "--options", '{"num_prompts": 64}',
                      "--num-layers", "3"]) == 0
    assert capsys.readouterr().out.startswith("trainable params: 49,152 || ")
    assert tool.main(["--backbone", "musicfm", "--num-layers", "6", "--preset", "adapter_seed001"]) == 0
    assert capsys.readouterr().out.startswith("trainable params: 657,696 || ")
    assert tool.main(["--backbone", "ast", "--preset", "adapter_pf_seq", "--options", '{"train_norms": "none"}']) == 0
    assert capsys.readouterr().out.startswith("trainable params: 230,544 || ")  # 248,976 - 12 LayerNorms


@pytest.mark.parametrize("argv,message", [
    (["--backbone", "ast", "--method", "lorax"], "unknown PETL method 'lorax'"),
    (["--backbone", "astt", "--method", "lora"], "unknown backbone 'astt'"),
    (["--backbone", "ast", "--method", "lora", "--options", '{"rank": 0}'], "rank"),
    (["--backbone", "ast", "--method", "lora", "--options", "{rank"], "not valid JSON"),
    (["--table", "nope"], "unknown table 'nope'"),
    (["--backbone", "ast", "--preset", "nope"], "no method preset 'nope'"),
    (["--backbone", "ast", "--preset", "adapter_pf_par", "--method", "lora"], "one of --method / --preset"),
])
def test_errors_exit_nonzero(capsys, argv, message):
    assert tool.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_subprocess():
    result = subprocess.run([sys.executable, TOOL, "--backbone", "ast", "--method", "bogus"],
                            capture_output=True, text=True, cwd="/")
    assert result.returncode == 2 and "unknown PETL method" in result.stderr
