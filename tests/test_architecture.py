"""Structural rules of the code base that reviews keep finding broken (issue #16)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import mscsim

SRC = Path(mscsim.__file__).parent
ROOT = SRC.parent.parent


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted(SRC.rglob("*.py"))]


def test_versions_are_recorded_in_one_place() -> None:
    """Package versions come from mscsim._provenance only: no module asks importlib.metadata
    for a version or imports __version__ from the package top."""
    offenders = []
    for path, tree in _modules():
        if path.name == "_provenance.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "version" and \
                    isinstance(node.value, ast.Name) and node.value.id == "metadata":
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} metadata.version")
            if isinstance(node, ast.ImportFrom) and node.module == "mscsim" and \
                    any(alias.name == "__version__" for alias in node.names):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} __version__")
            if isinstance(node, ast.ImportFrom) and node.module == "importlib.metadata" and \
                    any(alias.name == "version" for alias in node.names):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} importlib.metadata")
    assert not offenders, offenders


def test_the_version_has_one_source() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert mscsim.__version__ == pyproject["project"]["version"]
