"""The table of metafor functions in docs/meta_analysis.md names only mscsim code that exists,
and says "held against R" only for functions that tests/test_meta_against_R.py exercises."""

from __future__ import annotations

import re
from pathlib import Path

import mscsim.evidence as ev
from mscsim.evidence._diagnostics import InfluenceResult
from mscsim.evidence._meta import MetaRegressionResult, MetaResult

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "meta_analysis.md"
R_TESTS = ROOT / "tests" / "test_meta_against_R.py"
HEADING = "## metafor functions a reviewer expects, and what mscsim has"
CLASSES = {"MetaResult": MetaResult, "MetaRegressionResult": MetaRegressionResult,
           "InfluenceResult": InfluenceResult}


def _rows() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    assert HEADING in text
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) >= 30
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)(?:\(\))?", cell)


def test_every_named_mscsim_function_exists() -> None:
    for _metafor, _use, mscsim, _status in _rows():
        for name in _names(mscsim):
            head, _, attr = name.partition(".")
            if head in CLASSES:
                fields = getattr(CLASSES[head], "__dataclass_fields__", {})
                assert hasattr(CLASSES[head], attr) or attr in fields, name
            elif head == "influence":
                assert hasattr(ev, "influence")
            elif not head.startswith("_"):
                assert hasattr(ev, head), f"{name} is not in mscsim.evidence"


def test_held_against_r_only_where_the_R_tests_call_it() -> None:
    """A "held" row names a function the R tests call, or a result field they compare."""
    called = R_TESTS.read_text(encoding="utf-8")
    for _metafor, _use, mscsim, status in _rows():
        if not status.startswith("held against R"):
            continue
        found = False
        for name in _names(mscsim):
            head, _, attr = name.partition(".")
            if head in CLASSES:
                found |= f'"{attr}"' in called or f".{attr}[" in called
            else:
                found |= re.search(rf"\b{re.escape(head)}\(", called) is not None
        assert found, mscsim


def test_missing_functions_are_really_missing() -> None:
    for _metafor, _use, mscsim, _status in _rows():
        if mscsim == "-":
            continue
        assert _names(mscsim), mscsim
    for absent in ("baujat", "labbe", "radial", "fsn", "selmodel", "rma_glmm", "rma_mv",
                   "permutest", "robust", "gosh", "blup"):
        assert not hasattr(ev, absent), f"{absent} now exists: update docs/meta_analysis.md"
