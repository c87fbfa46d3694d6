"""Safe loading, checked over the whole code base: every ``torch.load`` passes
``weights_only=True`` and nothing enables ``trust_remote_code``."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("lobes", "petl_modules", "petl_core", "tools", "recipes")


def _sources():
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    yield os.path.relpath(path, ROOT), ast.parse(open(path, encoding="utf-8").read())


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(func) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else ""


def _keyword(call, name):
    return next((k.value for k in call.keywords if k.arg == name), None)


SOURCES = list(_sources())


def test_the_scan_sees_the_code_base():
    assert len(SOURCES) > 30
    assert any(_name(c.func) == "torch.load" for _, tree in SOURCES for c in _calls(tree))


@pytest.mark.parametrize("path, tree", SOURCES, ids=[p for p, _ in SOURCES])
def test_torch_load_is_weights_only_and_no_remote_code(path, tree):
    for call in _calls(tree):
        if _name(call.func) == "torch.load":
            flag = _keyword(call, "weights_only")
            assert isinstance(flag, ast.Constant) and flag.value is True, f"{path}:{call.lineno}: torch.load without weights_only=True"
        remote = _keyword(call, "trust_remote_code")
        assert not (isinstance(remote, ast.Constant) and remote.value), f"{path}:{call.lineno}: trust_remote_code"
