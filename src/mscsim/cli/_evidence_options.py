"""The options of ``mscsim evidence`` commands, declared once.

The data selection options (:data:`OutcomeOpt`, :data:`TimepointOpt`, :data:`FilterOpt`)
are typer aliases; the analysis options are added to a command by
:func:`with_analysis_options`, which builds the :class:`~mscsim.evidence.MetaAnalysisOptions`
(so checks them) before the command runs.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from mscsim.evidence import MetaAnalysisOptions

FilterOpt = Annotated[list[str] | None, typer.Option(
    "--filter", "-f", metavar="KEY=VALUE",
    help="Keep studies with KEY=VALUE (repeatable; a repeated key matches any of its "
         "values). Keys: design, blinding, product, msc_source, severity, ventilated, "
         "control, country, year.")]
OutcomeOpt = Annotated[str, typer.Option(help="Outcome, e.g. mortality.")]
TimepointOpt = Annotated[int | None, typer.Option(
    help="Target day (+-3 d); default: each study's longest timepoint up to 90 days.")]

#: command-line parameter -> (MetaAnalysisOptions field, typer annotation), in --help order
_ANALYSIS_OPTIONS: dict[str, tuple[str, Any]] = {
    "measure": ("measure", Annotated[str | None, typer.Option(
        help="Effect measure: RR, OR, RD or PETO [default: RR; PETO with --method PETO].")]),
    "method": ("method", Annotated[str, typer.Option(
        help="REML, DL, PM, ML, HE, SJ (random effects); FE/EE (inverse variance), MH "
             "(Mantel-Haenszel) or PETO (fixed effect).")]),
    "knha": ("knha", Annotated[bool, typer.Option("--knha", help="Hartung-Knapp adjustment.")]),
    "filter": ("filters", FilterOpt),
    "timepoint": ("timepoint", TimepointOpt),
    "level": ("level", Annotated[float, typer.Option(help="Confidence level.")]),
    "add": ("add", Annotated[float, typer.Option(
        help="Continuity correction added to zero cells.")]),
    "to": ("to", Annotated[str, typer.Option(
        help="Which studies get it: only0, all, if0all, none.")]),
    "drop00": ("drop00", Annotated[bool | None, typer.Option(
        "--drop00/--keep00", help="Drop double-zero studies (default as metafor: keep for "
                                  "inverse-variance methods, drop for MH/PETO).")]),
    "correction": ("correction", Annotated[str, typer.Option(
        help="constant (add to every cell) or tacc (treatment-arm correction).")]),
}


def _parameters() -> list[inspect.Parameter]:
    defaults = {f.name: f.default for f in dataclasses.fields(MetaAnalysisOptions)}
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[field],
                              annotation=annotation)
            for name, (field, annotation) in _ANALYSIS_OPTIONS.items()]


def with_analysis_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give the typer command ``command`` the analysis options in place of its keyword-only
    parameter ``options``; it is called with ``options`` an :class:`MetaAnalysisOptions`
    made from them."""
    signature = inspect.signature(command, eval_str=True)
    parameters = [q for p in signature.parameters.values()
                  for q in (_parameters() if p.name == "options" else [p])]

    @functools.wraps(command)
    def run(**kwargs: Any) -> None:
        values = {field: kwargs.pop(name) for name, (field, _) in _ANALYSIS_OPTIONS.items()}
        command(**kwargs, options=MetaAnalysisOptions(**values))

    # typer reads the parameters from the signature
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run
