"""``mscsim validate``: every calibration target and validation check on a seeded population."""

from __future__ import annotations

from pathlib import Path

import typer

from mscsim.cli._progress import progress_bars
from mscsim.engine import DEFAULT_ENGINE


def validate(
    n: int = typer.Option(10000, "--n", help="number of simulated infections"),
    seed: int = typer.Option(20200511, "--seed", help="the one seed all randomness flows "
                             "from (the default is not the calibration's seed)"),
    calibration: str = typer.Option("salje", "--calibration",
                                    help="calibration profile: salje or levin"),
    output: Path = typer.Option(Path("validation"), "-o", "--output",
                                help="folder for validation.json and validation.html"),
    bootstrap: int = typer.Option(200, "--bootstrap", min=0,
                                  help="bootstrap replicates of each row's 95% interval"),
    backend: str = typer.Option("roadrunner", "--backend", help="simulation back end: "
                                "roadrunner (reference) or compiled (faster; within 1e-4)"),
    engine: str = typer.Option(DEFAULT_ENGINE, "--engine", help="serial, process or dask"),
    workers: int | None = typer.Option(None, "--workers", help="worker processes"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
) -> None:
    """Generate N infections and hold the model against every published target.

    Writes OUTPUT/validation.json and OUTPUT/validation.html: per row the source, the target
    with its band, the simulated value with a bootstrap interval, pass or fail, and whether
    the row was used for fitting. Fitting targets and checks are listed apart.
    """
    from mscsim._io import write_text_atomic
    from mscsim.population import (
        Calibration,
        GenerationOptions,
        generate_population,
        validate_population,
        write_validation,
    )

    values = Calibration.load(calibration)
    with progress_bars(quiet) as bars:
        population = generate_population(
            n, seed, options=GenerationOptions(days=60, backend=backend), calibration=values,
            engine=engine, workers=workers,
            progress=None if bars is None else (
                lambda done, total: bars("patients", done, total)))
    result = validate_population(population, calibration, reps=bootstrap)
    write_validation(output, result, write_text_atomic)
    passed, total = result["passed"], result["total"]
    typer.echo(f"fitting targets: {passed['fitting_targets']} of {total['fitting_targets']} "
               f"inside their band; checks: {passed['checks']} of {total['checks']}")
    for row in [*result["fitting_targets"], *result["checks"]]:
        if not row["passed"]:
            typer.echo(f"  FAIL {row['target']}: simulated {row['simulated']}, band "
                       f"{row['band_low']} to {row['band_high']}")
    typer.echo(f"wrote {output / 'validation.json'} and {output / 'validation.html'}", err=True)
