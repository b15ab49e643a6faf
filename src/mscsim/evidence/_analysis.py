"""Meta-analyses of the shipped evidence dataset: the API behind ``mscsim evidence``.

These functions join the dataset loader (:func:`mscsim.evidence.comparisons`) and the
engine (:mod:`._meta`, :mod:`._diagnostics`); each records the outcome, timepoint and
filters in the result it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from mscsim._errors import InputError
from mscsim._io import atomic_path
from mscsim.evidence._diagnostics import DiagnosticTable, cumulative
from mscsim.evidence._meta import MetaResult, SubgroupResult, meta_analysis, subgroup_analysis
from mscsim.evidence._options import Filters, MetaAnalysisOptions, parse_filters

SUBGROUP_KEYS: tuple[str, ...] = ("design", "product", "msc_source", "severity", "blinding",
                                  "ventilated", "control", "country")
"""Study covariates that can define subgroups."""


def _dataset() -> Any:
    from mscsim.evidence import _dataset

    return _dataset


def list_studies(filters: Sequence[str] | Filters | None = None) -> pd.DataFrame:
    """The studies of the dataset matching ``filters`` (one row per study)."""
    ds = _dataset()
    return ds.filter_studies(ds.load_studies(), parse_filters(filters)).reset_index(drop=True)


def comparison_table(outcome: str = "mortality", *, timepoint: int | None = None,
                     filters: Sequence[str] | Filters | None = None) -> pd.DataFrame:
    """One row per study with the 2x2 counts (``comparisons()`` of the dataset loader)."""
    return _dataset().comparisons(outcome, timepoint, parse_filters(filters) or None)


def export_comparisons(path: str | Path, outcome: str = "mortality", *,
                       timepoint: int | None = None,
                       filters: Sequence[str] | Filters | None = None) -> Path:
    """Write :func:`comparison_table` to a CSV file (atomically); returns the path."""
    target = Path(path)
    if target.suffix.lower() != ".csv":
        raise InputError(f"cannot export to '{target.name}'", field="output",
                         hint="use a file name ending in .csv")
    table = comparison_table(outcome, timepoint=timepoint, filters=filters)
    with atomic_path(target) as tmp:
        table.to_csv(tmp, index=False, lineterminator="\n")
    return target


def _source(outcome: str, timepoint: int | None) -> dict[str, Any]:
    return {"dataset": "mscsim evidence", "outcome": outcome, "timepoint": timepoint}


def _table_or_raise(outcome: str, timepoint: int | None,
                    flt: dict[str, list[str]]) -> pd.DataFrame:
    table = comparison_table(outcome, timepoint=timepoint, filters=flt)
    if len(table) == 0:
        what = [f"outcome {outcome}"]
        if timepoint is not None:
            what.append(f"timepoint {timepoint} d")
        what.extend(f"{k}={'|'.join(v)}" for k, v in flt.items())
        raise InputError("no studies left after filtering (" + ", ".join(what) + ")",
                         field="k", hint="relax the filters or choose another outcome/"
                                         "timepoint (see `mscsim evidence list`)")
    return table


def analyse_outcome(outcome: str = "mortality",
                    options: MetaAnalysisOptions | None = None) -> MetaResult:
    """Meta-analysis of one outcome (e.g. ``"mortality"``) of the evidence dataset, as
    ``options`` say (default: :class:`MetaAnalysisOptions`)."""
    options = options or MetaAnalysisOptions()
    flt = options.selection
    table = _table_or_raise(outcome, options.timepoint, flt)
    zero_cell = options.zero_cell
    res = meta_analysis(table, measure=options.measure, method=options.method,
                        test=options.test, level=options.level, add=zero_cell.add,
                        to=zero_cell.to, drop00=zero_cell.drop00,
                        correction=zero_cell.correction, filters=flt, control=options.control)
    return replace(res, source=_source(outcome, options.timepoint))


def analyse_subgroups(by: str, outcome: str = "mortality",
                      options: MetaAnalysisOptions | None = None) -> SubgroupResult:
    """Subgroup analysis of one outcome by a study covariate (``by``: design, product,
    msc_source, severity, ...), with the test for subgroup differences."""
    if by not in SUBGROUP_KEYS:
        raise InputError(f"cannot form subgroups by '{by}'", field="--subgroup",
                         hint="use one of " + ", ".join(SUBGROUP_KEYS))
    options = options or MetaAnalysisOptions()
    flt = options.selection
    table = _table_or_raise(outcome, options.timepoint, flt)
    from mscsim.evidence._effects import escalc_frame

    zero_cell = options.zero_cell
    eff = escalc_frame(table, options.effect_measure, add=zero_cell.add, to=zero_cell.to,
                       drop00=zero_cell.drop00, correction=zero_cell.correction)
    res = subgroup_analysis(eff, table[by].tolist(), variable=by, method=options.method,
                            test=options.test, level=options.level, control=options.control,
                            filters=flt)
    src = _source(outcome, options.timepoint)
    results = {g: replace(r, source=src) for g, r in res.results.items()}
    return replace(res, results=results, overall=replace(res.overall, source=src))


def cumulative_by_date(outcome: str = "mortality",
                       options: MetaAnalysisOptions | None = None) -> DiagnosticTable:
    """Cumulative meta-analysis with studies added by publication date (``pub_date``)."""
    options = options or MetaAnalysisOptions()
    res = analyse_outcome(outcome, options)
    table = comparison_table(outcome, timepoint=options.timepoint, filters=res.filters)
    dates = pd.to_datetime(table["pub_date"]).dt.strftime("%Y-%m-%d").tolist()
    return cumulative(res, order=dates, order_by="pub_date")
