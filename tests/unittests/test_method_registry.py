"""petl_modules' structure: a base that imports no method, self-registering methods, conflicts as the
methods' own hook, no import circle; merge keeps the plain module structure (issue 18, issue 19 §4).

Run: python -m pytest tests/unittests/test_method_registry.py
"""
from __future__ import annotations

import ast
import copy
import glob
import os
import subprocess
import sys
import warnings

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from lobes import build_backbone  # noqa: E402
from petl_modules import METHODS, Method, PetlError, apply_petl, merge, register_method, unmerge  # noqa: E402
from petl_modules.base import METHODS as BASE_METHODS  # noqa: E402
from petl_modules.merge import MergeableWrapper  # noqa: E402

PACKAGE = os.path.join(ROOT, "petl_modules")
METHOD_MODULES = {"adapter", "baselines", "bitfit", "conformer_adapter", "convpass", "lora", "moa", "prefix",
                  "prompt", "ssf"}


def tiny(name, **kw):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone(name, config="tiny", **kw)


def imported_modules(path):
    """petl_modules submodules imported anywhere in ``path`` (also inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("petl_modules"):
            out.add(node.module.split(".")[1] if "." in node.module else "")
            if node.module == "petl_modules":
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("petl_modules."))
    return out


def test_base_and_registry_import_no_method():
    for name in ("base", "registry", "common", "merge", "counting"):
        assert not imported_modules(os.path.join(PACKAGE, f"{name}.py")) & METHOD_MODULES, name


def test_methods_register_themselves():
    assert METHODS is BASE_METHODS
    for module in METHOD_MODULES:
        text = open(os.path.join(PACKAGE, f"{module}.py"), encoding="utf-8").read()
        assert "@register_method" in text and "registry" not in imported_modules(os.path.join(PACKAGE, f"{module}.py"))
    assert {m.name for m in METHODS.values()} == set(METHODS)


def test_register_a_new_method_and_its_conflict_hook():
    """A method added from outside the package works through apply_petl, with its own conflict rule."""

    @register_method
    class FreezeNothingButQ(Method):
        name = "q_bias_only_test"
        defaults = {}

        def validate(self, backbone, options):
            return dict(options)

        def apply(self, backbone, options):
            for spec in backbone.layer_specs():
                spec.get("q").bias.requires_grad_(True)

        def check_combination(self, options, others):
            if "bitfit" in others:
                raise PetlError("q_bias_only_test: bitfit already trains the q biases")

    try:
        bb = tiny("ast")
        assert apply_petl(bb, "q_bias_only_test").num_trainable() == 4 * 32
        with pytest.raises(PetlError, match="bitfit already trains"):
            apply_petl(tiny("ast"), "q_bias_only_test+bitfit")
        with pytest.raises(ValueError, match="two methods are named 'lora'"):
            register_method(type("OtherLoRA", (Method,), {"name": "lora"}))
    finally:
        del METHODS["q_bias_only_test"]


def test_convpass_conflict_is_its_own():
    registry = open(os.path.join(PACKAGE, "registry.py"), encoding="utf-8").read()
    assert "convpass" not in registry and "prompt" not in registry.replace("prompts", "")
    with pytest.raises(PetlError, match="cannot be combined with prompt"):
        apply_petl(tiny("ast", max_length=36), "convpass+prompt")
    apply_petl(tiny("ast", max_length=36), "convpass+prompt", {"convpass": {"conv": "1d", "bottleneck": 2}})


def test_no_import_circle():
    tool = "/work/shared/tools/import_cycles.py"
    if not os.path.isfile(tool):  # the shared checker; the AST scan below is the test's own
        tool = None
    if tool:
        out = subprocess.run([sys.executable, tool, ROOT], capture_output=True, text=True).stdout
        assert "petl_modules" not in out, out
    graph = {os.path.basename(p)[:-3]: imported_modules(p) - {""} for p in glob.glob(os.path.join(PACKAGE, "*.py"))}
    graph.pop("__init__")

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph.get(start, ()))

    assert [m for m in graph if reaches(m, m)] == []


def test_by_backbone_options():
    opts = {"rank": 2, "targets": ["q"], "by_backbone": {"musicfm": {"targets": ["q", "conv_pw1"]}}}
    assert apply_petl(tiny("mert"), "lora", copy.deepcopy(opts)).options["targets"] == ["q"]
    state = apply_petl(tiny("musicfm"), "lora", copy.deepcopy(opts))
    assert state.options["targets"] == ["q", "conv_pw1"] and "by_backbone" not in state.options
    with pytest.raises(PetlError, match="unknown backbone famil.*'musicfn'"):
        apply_petl(tiny("mert"), "lora", {"by_backbone": {"musicfn": {}}})


# ------------------------------------------------------------------ issue 19 §4: SSF merge on a bias-less module
def test_ssf_shift_on_a_bias_less_module_refuses_to_merge():
    """Merging used to add a bias to conv_pw1: the merged state no longer loaded into a plain backbone."""
    bb = tiny("musicfm").eval()
    assert bb.layer_specs()[0].get("conv_pw1").bias is None
    apply_petl(bb, "ssf", {"targets": ["conv_pw1", "q"]})
    before = {n: p.clone() for n, p in bb.state_dict().items()}
    with pytest.raises(PetlError, match="pointwise_conv1 and 1 more.*without bias"):
        merge(bb)
    assert all(torch.equal(before[n], p) for n, p in bb.state_dict().items())  # nothing folded
    assert any(isinstance(m, MergeableWrapper) for m in bb.modules())


@pytest.mark.parametrize("options", [{"conv_scale": True}, {"targets": ["q", "ffn"]}])
def test_merged_ssf_state_loads_strictly_into_a_plain_backbone(options):
    plain = tiny("musicfm").eval()
    bb = copy.deepcopy(plain)
    state = apply_petl(bb, "ssf", options)
    with torch.no_grad():
        for _, p in state.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.1)
    merge(bb)
    target = copy.deepcopy(plain)
    target.load_state_dict(bb.state_dict(), strict=True)
    wav = torch.randn(1, 2400)
    with torch.no_grad():
        torch.testing.assert_close(target(wav).hidden_states[-1], bb(wav).hidden_states[-1])
    unmerge(bb)
    assert list(bb.state_dict()) != list(plain.state_dict())  # the wrappers are back
