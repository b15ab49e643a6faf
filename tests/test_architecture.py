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


#: imports that still reach into another part's private modules, to be removed (none left:
#: issue #16 gave the bridge public names and moved the HTML helpers to ``mscsim._html``)
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()


def test_parts_talk_through_public_surfaces() -> None:
    """No module imports another part's private module (``mscsim.<part>._x``), except the
    listed ones; a fixed one must leave the list."""
    found = set()
    for path, tree in _modules():
        part = path.relative_to(SRC).parts[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("mscsim."):
                names = node.module.split(".")
                if len(names) >= 3 and names[1] != part and names[2].startswith("_"):
                    found.add((path.relative_to(SRC).as_posix(), node.module))
    assert found - KNOWN_PRIVATE_IMPORTS == set(), "new private imports across parts"
    assert KNOWN_PRIVATE_IMPORTS - found == set(), "fixed: remove from KNOWN_PRIVATE_IMPORTS"


def test_the_store_sits_below_population_and_trial() -> None:
    """``mscsim.store`` imports no part above it (population and trial use it, not the
    reverse)."""
    above = {"population", "trial", "bridge", "evidence", "model", "simulate", "report", "cli"}
    offenders = []
    for path, tree in _modules():
        if path.relative_to(SRC).parts[0] != "store":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.split(".")[:2][-1] in above and node.module.startswith("mscsim."):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {node.module}")
    assert not offenders, offenders


def test_no_assert_for_control_flow() -> None:
    """The package raises errors where a check can fail; ``assert`` (gone under ``python -O``)
    is for tests only."""
    offenders = [f"{path.relative_to(SRC)}:{node.lineno}" for path, tree in _modules()
                 for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert not offenders, offenders


def test_no_private_attributes_of_the_process_pool() -> None:
    """The process engine ends its workers through public APIs, not through the executor's
    private ``_processes``."""
    offenders = [f"{path.relative_to(SRC)}:{node.lineno}" for path, tree in _modules()
                 for node in ast.walk(tree)
                 if isinstance(node, ast.Attribute) and node.attr == "_processes"
                 or isinstance(node, ast.Constant) and node.value == "_processes"]
    assert not offenders, offenders
