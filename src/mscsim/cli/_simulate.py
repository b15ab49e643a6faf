"""``mscsim simulate`` and ``mscsim flagship``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mscsim._errors import InputError
from mscsim.cli._progress import progress_bars
from mscsim.cli._trial import CHUNK_HELP, ENGINE_HELP, SCHEDULER_HELP, warn_if_pool_invalid
from mscsim.engine import DEFAULT_ENGINE
from mscsim.model import load_model, load_model_file
from mscsim.simulate import DEFAULT_BACKEND, Regimen, output_times
from mscsim.simulate import simulate as run_simulation


def _parse_assignments(items: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"'{item}' is not PARAM=VALUE", field="--set")
        try:
            values[name.strip()] = float(text)
        except ValueError:
            raise InputError(f"value '{text}' of '{name.strip()}' is not a number",
                             field="--set") from None
    return values


def _parse_number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"'{text}' is not a number", field=option) from None


#: the least resolution a course plot is drawn at (output points per day)
PLOT_POINTS_PER_DAY = 4


def _regimen(doses: list[str], dose_days: list[str]) -> Regimen:
    if len(doses) != len(dose_days):
        raise InputError(f"{len(doses)} --dose but {len(dose_days)} --dose-day; give one "
                         "--dose-day for each --dose", field="--dose-day")
    pairs = [(_parse_number(day, "--dose-day"), _parse_number(dose, "--dose"))
             for dose, day in zip(doses, dose_days, strict=True)]
    return Regimen.of(pairs)


def simulate(
    output: Path = typer.Option(..., "-o", "--output", help="CSV file to write"),
    patient: str | None = typer.Option(None, "--patient", help="reference patient, e.g. "
                                       "reference-severe"),
    set_: list[str] = typer.Option([], "--set", help="PARAM=VALUE (repeatable)"),
    dose: list[str] = typer.Option([], "--dose", help="IV dose in cells/kg (repeatable)"),
    dose_day: list[str] = typer.Option([], "--dose-day", help="day of each --dose, days "
                                       "after infection"),
    days: float = typer.Option(28.0, "--days", help="horizon, days after infection"),
    points_per_day: int = typer.Option(1, "--points-per-day", help="output resolution"),
    backend: str = typer.Option(DEFAULT_BACKEND, "--backend", help="roadrunner, scipy or compiled"),
    plot: Path | None = typer.Option(None, "--plot", help="also write a PNG of the course"),
    model_file: Path | None = typer.Option(None, "--model", help="simulate another model: an "
                                           "SBML (.xml, .sbml) or Antimony (.ant, .txt) file"),
) -> None:
    """Simulate one patient and write every observable to CSV (columns: time_days, ...)."""
    from mscsim._io import atomic_path

    model = load_model() if model_file is None else load_model_file(model_file)
    regimen = _regimen(dose, dose_day)
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"plot file must end in .png, .svg or .pdf, got '{plot.name}'",
                         field="--plot")
    result = run_simulation(model, patient=patient, parameters=_parse_assignments(set_),
                            regimen=regimen, times=output_times(days, points_per_day),
                            backend=backend)
    with atomic_path(output) as tmp:
        result.table.to_csv(tmp, index=False, float_format="%.10g")
    if plot is not None:
        from mscsim._html import format_number
        from mscsim.report import plot_course

        # the plot is drawn at 4 points a day at least, whatever the CSV's resolution: the
        # care pathway's steps and the hours after an infusion are lost on a daily grid
        drawn = result if points_per_day >= PLOT_POINTS_PER_DAY else run_simulation(
            model, patient=patient, parameters=_parse_assignments(set_), regimen=regimen,
            times=output_times(days, PLOT_POINTS_PER_DAY), backend=backend)
        who = patient or "default parameters"
        doses = "; ".join(f"{format_number(d.cells_per_kg)} MSC/kg on day {d.day:g}"
                          for d in regimen.doses)
        plot_course({"MSC" if doses else "untreated": drawn}, plot,
                    title=f"{who}: {doses}" if doses else f"{who}, untreated",
                    dose_days=tuple(d.day for d in regimen.doses))
    typer.echo(f"wrote {output}" + (f" and {plot}" if plot else ""), err=True)


def flagship(
    output: Path = typer.Option(Path("results/flagship"), "-o", "--output",
                                help="folder for the results"),
    dose: float = typer.Option(1e6, "--dose", help="MSC dose in cells/kg"),
    days: float = typer.Option(60.0, "--days", help="horizon, days after infection"),
    trial: str = typer.Option("leng2020", "--trial", help="the flagship virtual trial: a "
                              "spec file or a shipped design's name"),
    replicates: int = typer.Option(2000, "--replicates", help="replicates of the trial"),
    skip_trial: bool = typer.Option(False, "--skip-trial", help="only the reference patient"),
    engine: str = typer.Option(DEFAULT_ENGINE, "--engine", help=ENGINE_HELP),
    workers: int | None = typer.Option(None, "--workers", help="worker processes"),
    chunk_size: int | None = typer.Option(None, "--chunk-size", help=CHUNK_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
) -> None:
    """The main job: the reference severe patient with and without MSC, and the flagship
    virtual trial (Leng 2020: run, power, report)."""
    from mscsim.engine import get_engine
    from mscsim.report import flagship_report, flagship_trial
    from mscsim.trial import PowerOptions, load_spec

    # bad options and a bad spec fail before any work
    power_options = None if skip_trial else PowerOptions(replicates=replicates)
    spec = None if skip_trial else load_spec(trial)
    paths = flagship_report(output, dose_cells_per_kg=dose, days=days)
    if spec is not None:
        with get_engine(engine, workers, scheduler, chunk_size=chunk_size) as pool, \
                progress_bars(quiet) as bars:
            paths += flagship_trial(spec, output / spec.trial.name,
                                    power_options=power_options, engine=pool, progress=bars)
    for path in paths:
        typer.echo(f"wrote {path}", err=True)
    if spec is not None:
        power = json.loads((output / spec.trial.name / "power.json").read_text("utf-8"))
        warn_if_pool_invalid(power)
