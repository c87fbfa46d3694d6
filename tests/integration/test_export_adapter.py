"""tools/export_adapter.py on tiny trained runs: a LoRA trained by a recipe run, exported in peft's
format, loaded with the real peft on the plain ``ASTModel`` (same hidden states), loaded back here
(same logits), its model card; offline push; refusals."""
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest_runs import tiny_run  # noqa: F401
from huggingface_hub import ModelCard
from peft import PeftModel
from transformers import ASTModel

from petl_core.inference import load_run
from petl_modules import load_adapter

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
import export_adapter  # noqa: E402

_RUNS = {}


@pytest.fixture(scope="module")
def ast_lora_run(tiny_run, tmp_path_factory):  # noqa: F811
    """The shared tiny run's data, trained again with ``--backbone=tiny_ast`` (LoRA, linear head)."""
    if "ast" not in _RUNS:
        from recipe_fixtures import COMMON, MINIMAL, run_in_process

        from petl_core.clip_brain import ClipBrain

        root = tmp_path_factory.mktemp("ast_lora_run")
        out = str(root / "run")
        (root / "hparams.yaml").write_text(MINIMAL.format(out=out, data=os.path.join(os.path.dirname(tiny_run), "data"),
                                                          common=COMMON))
        run_in_process(ClipBrain, [str(root / "hparams.yaml"), "--backbone=tiny_ast", "--device=cpu",
                                             "--noprogressbar"])
        _RUNS["ast"] = out
    return _RUNS["ast"]


def plain_ast(backbone):
    """The plain ``ASTModel`` with the run's frozen (here: seeded random) weights, without LoRA."""
    state = {k.replace(".base.", "."): v for k, v in backbone.model.state_dict().items() if ".lora_" not in k}
    plain = ASTModel(backbone.model.config)
    plain.load_state_dict(state)
    return plain.eval()


def test_recipe_lora_exported_in_peft_format_loads_in_peft(ast_lora_run, tmp_path, capsys):
    out = str(tmp_path / "peft")
    assert export_adapter.main([ast_lora_run, "--out", out, "--format", "peft"]) == 0
    model, _, hparams = load_run(ast_lora_run)
    backbone = model.backbone
    assert any(p.abs().max() > 0 for n, p in backbone.named_parameters() if n.endswith("lora_B"))  # it trained
    wav = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    features, _ = backbone.frontend(*backbone.prepare_waveform(wav))
    peft_model = PeftModel.from_pretrained(plain_ast(backbone), out).eval()
    with torch.no_grad():
        ours = backbone(wav).hidden_states
        theirs = peft_model(features, output_hidden_states=True).hidden_states
    diff = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(ours, theirs))
    print(f"recipe LoRA -> peft format -> PeftModel: max relative difference {diff:.3g}")
    assert diff <= 1e-5
    with torch.no_grad(), peft_model.disable_adapter():  # the trained LoRA changes the outputs beyond the tolerance
        plain_out = peft_model(features, output_hidden_states=True).hidden_states[-1]
    effect = float((ours[-1] - plain_out).abs().max() / plain_out.abs().max())
    print(f"effect of the trained LoRA on the last hidden state: {effect:.3g}")
    assert effect > 1e-4
    # back here: a fresh model of the run (untrained LoRA) takes the exported folder, head included
    fresh, _, _ = load_run(ast_lora_run)
    with torch.no_grad():
        for n, p in fresh.named_parameters():
            if p.requires_grad:
                p.zero_()
    load_adapter(out, fresh, name=fresh.backbone.petl_state.active)
    with torch.no_grad():
        torch.testing.assert_close(fresh(wav), model(wav))
    card = ModelCard.load(os.path.join(out, "README.md"))
    results = json.load(open(os.path.join(ast_lora_run, "results.json")))
    assert card.data.library_name == "peft" and "lora" in card.data.tags
    assert card.data.eval_results is None  # this run is not under recipes/<Dataset>/: no dataset, no model-index
    assert f"| test | accuracy | {results['test']['accuracy']:.4g} |" in card.text
    assert "PeftModel.from_pretrained(base" in card.text and "hyperparams.yaml" in card.text


def test_every_method_exports_in_our_format_with_a_card(tiny_run, tmp_path):  # noqa: F811
    out = str(tmp_path / "ours")
    assert export_adapter.main([tiny_run, "--out", out]) == 0
    card = ModelCard.load(os.path.join(out, "README.md"))
    assert card.data.library_name == "petl-audio" and "musicfm" in card.data.tags
    assert 'build_backbone("musicfm", config=\'tiny\')' in card.text and "load_adapter(folder, backbone)" in card.text
    config = json.load(open(os.path.join(out, "adapter_config.json")))
    assert config["extra"]["run"] == os.path.abspath(tiny_run)


def test_refusals(tiny_run, tmp_path, capsys):  # noqa: F811
    """MusicFM is no transformers model (peft format refused); an existing export is never replaced
    without --overwrite; the run folder itself is no output."""
    assert export_adapter.main([tiny_run, "--out", str(tmp_path / "p"), "--format", "peft"]) == 1
    assert "not a transformers model" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    assert export_adapter.main([tiny_run, "--out", str(tmp_path / "a")]) == 0
    before = (tmp_path / "a" / "adapter_model.safetensors").read_bytes()
    assert export_adapter.main([tiny_run, "--out", str(tmp_path / "a")]) == 1
    assert "already holds adapter_config.json" in capsys.readouterr().err.replace("\n", " ")
    assert (tmp_path / "a" / "adapter_model.safetensors").read_bytes() == before
    assert export_adapter.main([tiny_run, "--out", str(tmp_path / "a"), "--overwrite"]) == 0
    assert export_adapter.main([tiny_run, "--out", tiny_run]) == 1


def test_push_offline_is_a_clear_error_and_the_folder_is_written(tiny_run, tmp_path):  # noqa: F811
    out = tmp_path / "pushed"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "export_adapter.py"), tiny_run,
                           "--out", str(out), "--push_to_hub", "someone/tiny-lora"], cwd=REPO, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore"))
    assert proc.returncode == 1
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "offline" in error[0] and str(out) in error[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert {"README.md", "adapter_config.json", "adapter_model.safetensors"} <= set(os.listdir(out))
    card = ModelCard.load(str(out / "README.md"))
    assert 'snapshot_download("someone/tiny-lora")' in card.text  # the card names where it was meant to go
