"""Meta-analyses of the shipped evidence dataset: the API behind ``mscsim evidence``.

These functions join the dataset loader (:func:`mscsim.evidence.comparisons`) and the
engine (:mod:`._meta`, :mod:`._diagnostics`); each records the outcome, timepoint and
filters in the result it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from mscsim._errors import InputError
from mscsim._io import atomic_path
from mscsim.evidence._diagnostics import DiagnosticTable, cumulative
from mscsim.evidence._meta import (
    FitControl,
    MetaResult,
    SubgroupResult,
    default_drop00,
    meta_analysis,
    normalize_method,
    subgroup_analysis,
)

SUBGROUP_KEYS: tuple[str, ...] = ("design", "product", "msc_source", "severity", "blinding",
                                  "ventilated", "control", "country")
"""Study covariates that can define subgroups."""

Filters = Mapping[str, str | Iterable[str]]


def _dataset() -> Any:
    from mscsim.evidence import _dataset

    return _dataset


def parse_filters(items: Sequence[str] | Filters | None) -> dict[str, list[str]]:
    """``["design=RCT", "severity=critical", "severity=severe"]`` ->
    ``{"design": ["RCT"], "severity": ["critical", "severe"]}`` (a repeated key matches any
    of its values). Keys are checked against ``FILTER_KEYS``; values by the loader."""
    if items is None:
        return {}
    keys = _dataset().FILTER_KEYS
    out: dict[str, list[str]] = {}
    if isinstance(items, Mapping):
        pairs = [(k, v) for k, vals in items.items()
                 for v in ([vals] if isinstance(vals, str | int) else list(vals))]
    else:
        pairs = []
        for item in items:
            if "=" not in item:
                raise InputError(f"bad filter '{item}': expected KEY=VALUE", field="--filter",
                                 hint="e.g. --filter design=RCT; keys: " + ", ".join(keys))
            key, _, value = item.partition("=")
            pairs.append((key.strip(), value.strip()))
    for key, value in pairs:
        if key not in keys:
            raise InputError(f"unknown filter key '{key}'", field="--filter",
                             hint="allowed keys: " + ", ".join(keys))
        if str(value) == "":
            raise InputError(f"empty value for filter '{key}'", field="--filter")
        out.setdefault(key, []).append(str(value))
    return out


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


def analyse_outcome(
    outcome: str = "mortality",
    *,
    measure: str | None = None,
    method: str = "REML",
    knha: bool = False,
    timepoint: int | None = None,
    filters: Sequence[str] | Filters | None = None,
    level: float = 0.95,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool | None = None,
    correction: str = "constant",
    control: FitControl | None = None,
) -> MetaResult:
    """Meta-analysis of one outcome of the evidence dataset.

    Arguments:
        outcome: e.g. ``"mortality"``.
        measure: ``RR`` (default; ``PETO`` with ``method="PETO"``), ``OR``, ``RD``,
            ``PETO``.
        method: a tau^2 method (``REML`` default, ``DL``, ``PM``, ``ML``, ``HE``, ``SJ``),
            ``FE``/``EE`` (inverse variance), ``MH`` or ``PETO``.
        knha: Hartung-Knapp adjustment (random-effects methods).
        timepoint: target day (``None``: each study's longest timepoint up to 90 days).
        filters: ``["design=RCT", ...]`` or ``{"design": "RCT"}``.
        level, add, to, drop00, correction: see :func:`mscsim.evidence.meta_analysis`.
    """
    flt = parse_filters(filters)
    meth = normalize_method(method)
    table = _table_or_raise(outcome, timepoint, flt)
    res = meta_analysis(table, measure=measure, method=meth, test="knha" if knha else "z",
                        level=level, add=add, to=to, drop00=drop00, correction=correction,
                        filters=flt, control=control)
    return replace(res, source=_source(outcome, timepoint))


def analyse_subgroups(
    by: str,
    outcome: str = "mortality",
    *,
    measure: str | None = None,
    method: str = "REML",
    knha: bool = False,
    timepoint: int | None = None,
    filters: Sequence[str] | Filters | None = None,
    level: float = 0.95,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool | None = None,
    correction: str = "constant",
    control: FitControl | None = None,
) -> SubgroupResult:
    """Subgroup analysis of one outcome by a study covariate (``by``: design, product,
    msc_source, severity, ...), with the test for subgroup differences."""
    if by not in SUBGROUP_KEYS:
        raise InputError(f"cannot form subgroups by '{by}'", field="--subgroup",
                         hint="use one of " + ", ".join(SUBGROUP_KEYS))
    flt = parse_filters(filters)
    meth = normalize_method(method)
    table = _table_or_raise(outcome, timepoint, flt)
    from mscsim.evidence._effects import escalc_frame, normalize_measure

    if meth == "PETO" and measure not in (None, "PETO", "peto", "OR", "or"):
        raise InputError(f"Peto's method estimates an odds ratio, not a {measure}",
                         field="measure", hint="use --measure PETO (or OR)")
    meas = "PETO" if meth == "PETO" else normalize_measure(measure or "RR")
    d00 = default_drop00(meth) if drop00 is None else drop00
    eff = escalc_frame(table, meas, add=add, to=to, drop00=d00, correction=correction)
    res = subgroup_analysis(eff, table[by].tolist(), variable=by, method=meth,
                            test="knha" if knha else "z", level=level, control=control,
                            filters=flt)
    src = _source(outcome, timepoint)
    results = {g: replace(r, source=src) for g, r in res.results.items()}
    return replace(res, results=results, overall=replace(res.overall, source=src))


def cumulative_by_date(
    outcome: str = "mortality",
    *,
    measure: str | None = None,
    method: str = "REML",
    knha: bool = False,
    timepoint: int | None = None,
    filters: Sequence[str] | Filters | None = None,
    level: float = 0.95,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool | None = None,
    correction: str = "constant",
) -> DiagnosticTable:
    """Cumulative meta-analysis with studies added by publication date (``pub_date``)."""
    res = analyse_outcome(outcome, measure=measure, method=method, knha=knha,
                          timepoint=timepoint, filters=filters, level=level, add=add, to=to,
                          drop00=drop00, correction=correction)
    table = comparison_table(outcome, timepoint=timepoint, filters=res.filters)
    dates = pd.to_datetime(table["pub_date"]).dt.strftime("%Y-%m-%d").tolist()
    return cumulative(res, order=dates, order_by="pub_date")
