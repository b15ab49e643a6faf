"""``mscsim population ...``: generate, summarise and report virtual populations."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer

from mscsim._io import check_output_folder
from mscsim.cli._progress import progress_printer
from mscsim.engine import DEFAULT_ENGINE

app = typer.Typer(help="Virtual patients: generate a population of infections, summarise it.",
                  no_args_is_help=True)


def _progress(quiet: bool) -> Callable[[int, int], None] | None:
    show = progress_printer(quiet)
    return None if show is None else (lambda done, total: show("patients", done, total))


@app.command("generate")
def generate(
    n: int = typer.Option(..., "--n", help="number of infected patients"),
    seed: int = typer.Option(..., "--seed", help="the one seed all randomness flows from"),
    output: Path = typer.Option(..., "-o", "--output", help="population folder to write"),
    days: float = typer.Option(60.0, "--days", help="simulated horizon after infection"),
    engine: str = typer.Option(DEFAULT_ENGINE, "--engine", help="serial, process or dask"),
    scheduler: str | None = typer.Option(None, "--scheduler",
                                         help="address of an existing Dask scheduler"),
    workers: int | None = typer.Option(None, "--workers", help="worker processes"),
    chunk_size: int = typer.Option(1000, "--chunk-size", help="patients per task"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing folder"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
) -> None:
    """Generate N infected patients: covariates, parameters and clinical course."""
    from mscsim.population import GenerationOptions, generate_population, write_population

    check_output_folder(output, overwrite=overwrite)
    population = generate_population(n, seed, options=GenerationOptions(days=days),
                                     engine=engine, workers=workers, chunk_size=chunk_size,
                                     scheduler=scheduler,
                                     progress=_progress(quiet))
    write_population(population, output, overwrite=overwrite)
    typer.echo(f"wrote {output} ({len(population.ok)} of {n} patients plausible)", err=True)


@app.command("summary")
def summary(
    folder: Path = typer.Argument(..., help="population folder"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Key figures: hospitalised fraction, IFR (overall and by age), timings, biomarkers."""
    from mscsim.population import read_population, summarise

    figures = summarise(read_population(folder))
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
    from mscsim.population import population_report, read_population

    path = population_report(read_population(folder), output or folder / "report.html")
    typer.echo(f"wrote {path}", err=True)
