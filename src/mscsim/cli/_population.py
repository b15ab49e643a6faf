"""``mscsim population ...``: generate, summarise and report virtual populations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from mscsim.cli._progress import progress_bars
from mscsim.engine import DEFAULT_ENGINE

app = typer.Typer(help="Virtual patients: generate a population of infections, summarise it.",
                  no_args_is_help=True)

EXIT_INTERRUPTED = 130


@app.command("generate")
def generate(
    n: int = typer.Option(..., "--n", help="number of infected patients"),
    seed: int = typer.Option(..., "--seed", help="the one seed all randomness flows from"),
    output: Path = typer.Option(..., "-o", "--output", help="population folder to write"),
    days: float = typer.Option(60.0, "--days", help="simulated horizon after infection"),
    calibration: str = typer.Option(
        "salje", "--calibration", help="calibration profile of the death hazard: salje "
        "(France, community infections) or levin (Levin 2020 IFR by age); docs/population.md"),
    backend: str = typer.Option("roadrunner", "--backend", help="simulation back end: "
                                "roadrunner (reference) or compiled (faster; within 1e-4)"),
    engine: str = typer.Option(DEFAULT_ENGINE, "--engine", help="serial, process or dask"),
    scheduler: str | None = typer.Option(None, "--scheduler",
                                         help="address of an existing Dask scheduler"),
    workers: int | None = typer.Option(None, "--workers", help="worker processes"),
    chunk_size: int = typer.Option(1000, "--chunk-size", help="patients per task (and file)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing folder"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
) -> None:
    """Generate N infected patients: covariates, parameters and clinical course.

    Each chunk is written to OUTPUT/chunks/ as soon as it is done; the same command run
    again after an interruption resumes where it stopped.
    """
    from mscsim.population import Calibration, GenerationOptions, generate_population_folder
    from mscsim.store import chunk_files

    values = Calibration.load(calibration)

    def started(resumed: int, total: int) -> None:
        if resumed == total:
            typer.echo(f"{output} is already complete ({n} patients); nothing to do", err=True)
        elif resumed:
            typer.echo(f"resuming {output}: {resumed} of {total} chunks already written",
                       err=True)

    with progress_bars(quiet) as bars:
        try:
            run = generate_population_folder(
                output, n, seed, options=GenerationOptions(days=days, backend=backend),
                calibration=values,
                engine=engine,
                workers=workers, chunk_size=chunk_size, scheduler=scheduler,
                overwrite=overwrite, on_start=started,
                progress=None if bars is None else (
                    lambda done, total: bars("patients", done, total)))
        except KeyboardInterrupt:
            written = len(chunk_files(output))
            typer.echo(f"mscsim: interrupted: {written} chunks written in {output}; run the "
                       "same command again to resume", err=True)
            sys.exit(EXIT_INTERRUPTED)  # typer.Exit would be returned, not exited, by main
    if run.written:
        typer.echo(f"wrote {output} ({n} patients in {run.n_chunks} chunks)", err=True)


@app.command("summary")
def summary(
    folder: Path = typer.Argument(..., help="population folder"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Key figures: hospitalised fraction, IFR (overall and by age), timings, biomarkers."""
    from mscsim.population import SUMMARY_COLUMNS as COLUMNS
    from mscsim.population import read_population, summarise

    figures = summarise(read_population(folder, columns=COLUMNS))
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        typer.echo(f"{key}: {value}")


@app.command("report")
def report(
    folder: Path = typer.Argument(..., help="population folder"),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="HTML file (default: FOLDER/report.html)"),
) -> None:
    """Write an HTML report with plots of the population."""
    from mscsim.population import SUMMARY_COLUMNS as COLUMNS
    from mscsim.population import population_report, read_population

    path = population_report(read_population(folder, columns=COLUMNS),
                             output or folder / "report.html")
    typer.echo(f"wrote {path}", err=True)
