"""``mscsim evidence ...``: the published MSC-COVID-19 studies and their meta-analysis.

A thin layer: every command calls public functions of :mod:`mscsim.evidence`; bad input
raises :class:`mscsim.InputError`, which ``mscsim.cli.main`` prints as one line.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from mscsim.cli._evidence_options import (
    FilterOpt,
    OutcomeOpt,
    TimepointOpt,
    with_analysis_options,
)
from mscsim.evidence import (
    SUBGROUP_KEYS,
    MetaAnalysisOptions,
    MetaResult,
    SubgroupResult,
    analyse_outcome,
    analyse_subgroups,
    check_plot_path,
    cumulative_by_date,
    cumulative_plot,
    egger_test,
    export_comparisons,
    forest_plot,
    funnel_plot,
    heterogeneity_text,
    list_studies,
    rank_test,
    trim_and_fill,
)

app = typer.Typer(help="Published controlled MSC-COVID-19 studies and meta-analysis.",
                  no_args_is_help=True)

# ------------------------------------------------------------------ shared options

SubgroupOpt = Annotated[str | None, typer.Option(
    help="Subgroup analysis by: " + ", ".join(SUBGROUP_KEYS) + ".")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PlotOpt = Annotated[Path, typer.Option("--output", "-o", help="Plot file (.png/.svg/.pdf).")]
TitleOpt = Annotated[str | None, typer.Option(help="Plot title.")]


def _warn(messages: Any) -> None:
    for msg in messages:
        typer.echo(f"mscsim: warning: {msg}", err=True)


def _quiet(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` with Python warnings silenced (they are in the result instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _analysis(subgroup: str | None, outcome: str,
              options: MetaAnalysisOptions) -> MetaResult | SubgroupResult:
    if subgroup:
        return _quiet(analyse_subgroups, subgroup, outcome, options)
    return _quiet(analyse_outcome, outcome, options)


def _fmt(x: float, digits: int = 3) -> str:
    return "NA" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _describe(res: MetaResult) -> str:
    nat = res.natural()
    lv = f"{res.level:.0%}"
    lines = [
        f"{res.method} meta-analysis ({'Hartung-Knapp' if res.test == 'knha' else 'z'} test) "
        f"of {res.source.get('outcome', 'the data')}: {res.measure}, k = {res.k}",
        f"Pooled {res.measure} = {_fmt(nat['estimate'])} [{lv} CI {_fmt(nat['ci_low'])}, "
        f"{_fmt(nat['ci_high'])}], p = {_fmt(res.pval)}"
        + (f"; {lv} PI {_fmt(nat['pi_low'])}, {_fmt(nat['pi_high'])}"
           if res.method not in ("FE", "EE", "MH", "PETO") and math.isfinite(res.pi_low)
           else ""),
        heterogeneity_text(res),
        "Zero cells: " + res.zero_cell.describe(),
    ]
    if res.filters:
        lines.append("Filters: " + ", ".join(f"{k}={'|'.join(v)}" for k, v in
                                             res.filters.items()))
    st = res.studies.copy()
    tab = st[["study_id", "ai", "n1", "ci", "n2", "yi", "vi", "weight"]]
    lines.append("")
    lines.append(tab.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return "\n".join(lines)


def _print_result(res: MetaResult | SubgroupResult, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(res.to_dict(), indent=2, allow_nan=False))
    elif isinstance(res, SubgroupResult):
        typer.echo(f"Subgroups by {res.variable}")
        typer.echo(res.summary().to_string(float_format=lambda v: f"{v:.4g}"))
        typer.echo(f"Test for subgroup differences: Q = {_fmt(res.q_between)}, "
                   f"df = {res.q_between_df}, p = {_fmt(res.q_between_pval)}")
    else:
        typer.echo(_describe(res))
    _warn(res.warnings)


# ------------------------------------------------------------------ commands


@app.command("list")
def list_(filter: FilterOpt = None, as_json: JsonOpt = False) -> None:  # noqa: A002
    """List the studies of the evidence dataset."""
    table = list_studies(filter)
    cols = [c for c in ("study_id", "first_author", "year", "design", "severity", "product",
                        "msc_source", "n_treated", "n_control", "country") if c in table]
    table = table[cols]
    if as_json:
        typer.echo(json.dumps(json.loads(table.to_json(orient="records", date_format="iso")),
                              indent=2))
    else:
        typer.echo(table.to_string(index=False) if len(table) else "no studies match")


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write.")],
    outcome: OutcomeOpt = "mortality",
    timepoint: TimepointOpt = None,
    filter: FilterOpt = None,  # noqa: A002
) -> None:
    """Export the 2x2 comparison table of an outcome (one row per study) to CSV."""
    path = export_comparisons(output, outcome, timepoint=timepoint, filters=filter)
    typer.echo(f"wrote {path}")


@app.command("meta")
@with_analysis_options
def meta(
    *,
    outcome: OutcomeOpt = "mortality",
    options: MetaAnalysisOptions,
    subgroup: SubgroupOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Meta-analysis of an outcome (ratio measures reported exponentiated)."""
    res = _analysis(subgroup, outcome, options)
    _print_result(res, as_json)


@app.command("forest")
@with_analysis_options
def forest(
    *,
    output: PlotOpt,
    outcome: OutcomeOpt = "mortality",
    options: MetaAnalysisOptions,
    subgroup: SubgroupOpt = None,
    title: TitleOpt = None,
) -> None:
    """Forest plot: studies, subgroup and overall diamonds, prediction interval."""
    check_plot_path(output)
    res = _analysis(subgroup, outcome, options)
    forest_plot(res, output, title=title)
    _warn(res.warnings)
    typer.echo(f"wrote {output}")


@app.command("funnel")
@with_analysis_options
def funnel(
    *,
    output: PlotOpt,
    outcome: OutcomeOpt = "mortality",
    options: MetaAnalysisOptions,
    trimfill: Annotated[bool, typer.Option("--trimfill/--no-trimfill",
                                           help="Show trim-and-fill studies.")] = True,
    title: TitleOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Funnel plot with Egger's test, Begg and Mazumdar's rank test and (by default) trim
    and fill."""
    check_plot_path(output)
    res: MetaResult = _quiet(analyse_outcome, outcome, options)
    notes = list(res.warnings)
    can_test = res.k >= 3 and res.method not in ("MH", "PETO")
    tf = _quiet(trim_and_fill, res) if trimfill and can_test else None
    eg = _quiet(egger_test, res) if can_test else None
    rank = _quiet(rank_test, res) if can_test else None
    if not can_test:
        notes.append("Egger's test, the rank test and trim and fill need k >= 3 and an "
                     "inverse-variance method; not shown")
    funnel_plot(res, output, trimfill=tf, egger=eg, rank=rank, title=title)
    if as_json:
        typer.echo(json.dumps({"egger": eg.to_dict() if eg else None,
                               "rank_test": rank.to_dict() if rank else None,
                               "trimfill": ({k: v for k, v in tf.to_dict().items()
                                             if k != "original"} if tf else None)},
                              indent=2, allow_nan=False))
    _warn(notes)
    typer.echo(f"wrote {output}", err=as_json)


@app.command("cumulative")
@with_analysis_options
def cumulative_(
    *,
    outcome: OutcomeOpt = "mortality",
    options: MetaAnalysisOptions,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Also write a plot (.png/.svg/.pdf) or the table (.csv).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Cumulative meta-analysis by publication date."""
    if output is not None and output.suffix.lower() != ".csv":
        check_plot_path(output)
    tab = _quiet(cumulative_by_date, outcome, options)
    if output is not None:
        if output.suffix.lower() == ".csv":
            from mscsim._io import atomic_path

            with atomic_path(output) as tmp:
                tab.summary(natural=True).to_csv(tmp, index=False, lineterminator="\n")
        else:
            cumulative_plot(tab, output)
    if as_json:
        typer.echo(json.dumps(tab.to_dict(), indent=2, allow_nan=False))
    else:
        cols = ["study_id", "order_value", "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]
        typer.echo(tab.summary(natural=True)[cols].to_string(
            index=False, float_format=lambda v: f"{v:.4g}"))
    if output is not None:
        typer.echo(f"wrote {output}", err=as_json)
