"""``mscsim bridge ...``: replicas of the published trials, calibration on the studies up to
a cut-off date, prediction of the later ones, report."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mscsim.cli._parse import comma_separated
from mscsim.cli._progress import progress_bars
from mscsim.engine import DEFAULT_ENGINE, get_engine

app = typer.Typer(help="Model versus published trials: calibrate on earlier studies, predict "
                       "later ones.", no_args_is_help=True)


@app.command("calibrate")
def calibrate(
    output: Path = typer.Option(..., "-o", "--output", help="bridge folder to write"),
    cutoff: str = typer.Option("2021-12-31", "--cutoff", help="publication date cut-off "
                               "(YYYY-MM-DD): studies up to it calibrate, later ones are "
                               "predicted"),
    seed: int = typer.Option(1, "--seed", help="bridge seed"),
    n_infections: int = typer.Option(20000, "--infections", help="infections in the shared "
                                     "virtual population (about 2-3% are admitted)"),
    population_seed: int | None = typer.Option(None, "--population-seed",
                                               help="population seed (default: --seed)"),
    max_cohort: int = typer.Option(40, "--max-cohort", help="eligible patients simulated "
                                   "per study"),
    min_cohort: int = typer.Option(10, "--min-cohort", help="fewest eligible virtual "
                                   "patients for a study to be replicated"),
    emax_scales: str | None = typer.Option(None, "--emax-scales", help="grid of the Emax "
                                           "multiplier, e.g. 0,0.5,1,1.5,2"),
    ec50_values: str | None = typer.Option(None, "--ec50", help="grid of msc_ec50, e.g. "
                                           "3,10,30"),
    likelihood: str = typer.Option("absolute", "--likelihood", help="absolute (the model's "
                                   "arm risks) or relative (its risk ratio, with a free "
                                   "control risk per study)"),
    sobol_n: int = typer.Option(16, "--sobol-n", help="Sobol base sample (power of two; 0 "
                                "skips the sensitivity analysis)"),
    sobol_cohort: int = typer.Option(16, "--sobol-cohort", help="patients of the reference "
                                     "trial in the sensitivity analysis"),
    reference: str | None = typer.Option(None, "--reference", help="study id of the "
                                         "sensitivity reference trial (default: largest)"),
    engine: str = typer.Option(DEFAULT_ENGINE, "--engine", help="serial, process or dask"),
    workers: int | None = typer.Option(None, "--workers", help="worker processes"),
    scheduler: str | None = typer.Option(None, "--scheduler",
                                         help="address of an existing Dask scheduler"),
    chunk_size: int = typer.Option(50, "--chunk-size", help="patients per task"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing folder"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
) -> None:
    """Simulate the replicas on the parameter grid and calibrate on the earlier studies."""
    from mscsim._io import check_output_folder, folder_contents
    from mscsim.bridge import BridgeOptions, calibrate, write_bridge

    at_start = folder_contents(check_output_folder(output, overwrite=overwrite))
    extra: dict[str, object] = {}
    scales = comma_separated(emax_scales, "emax_scales", float)
    if scales is not None:
        extra["emax_scales"] = scales
    ec50 = comma_separated(ec50_values, "ec50", float)
    if ec50 is not None:
        extra["ec50_values"] = ec50
    options = BridgeOptions(cutoff=cutoff, seed=seed, n_infections=n_infections,
                            population_seed=population_seed, max_cohort=max_cohort,
                            min_cohort=min_cohort, likelihood=likelihood,
                            sobol_n=sobol_n, sobol_cohort=sobol_cohort, reference=reference,
                            chunk_size=chunk_size, **extra)  # type: ignore[arg-type]
    executor = get_engine(engine, workers, scheduler)
    with executor, progress_bars(quiet) as bars:
        result = calibrate(options, engine=executor, progress=bars)
    write_bridge(result, output, overwrite=overwrite, contents_at_start=at_start)
    if not quiet:
        mle = ", ".join(f"{k} = {v:g}" for k, v in result.calibration["mle"].items())
        typer.echo(f"calibrated on {len(result.calibration['calibration_studies'])} studies "
                   f"({mle}); wrote {output}", err=True)


@app.command("predict")
def predict(
    folder: Path = typer.Argument(..., metavar="DIR", help="bridge folder"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    draws: int = typer.Option(2000, "--draws", help="predictive draws per study"),
    level: float = typer.Option(0.95, "--level", help="predictive interval level"),
) -> None:
    """Predict the studies published after the cut-off and compare with what was observed."""
    from mscsim.bridge import predict as run_predict

    pred = run_predict(folder, draws=draws, level=level)
    if as_json:
        typer.echo(json.dumps(pred.to_dict(), indent=2))
        return
    typer.echo(f"cut-off {pred.cutoff}: coverage {pred.coverage:.2f} "
               f"({int(pred.studies['covered'].sum()) if len(pred.studies) else 0}"
               f"/{len(pred.studies)})")
    for r in pred.studies.itertuples():
        typer.echo(f"  {r.study_id:<20} observed RR {r.observed_rr:.2f}  predicted "
                   f"{r.pred_rr_median:.2f} [{r.pred_lo:.2f}, {r.pred_hi:.2f}]  "
                   f"{'covered' if r.covered else 'NOT covered'}")


@app.command("report")
def report(
    folder: Path = typer.Argument(..., metavar="DIR", help="bridge folder"),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="HTML file (default: DIR/report.html)"),
) -> None:
    """Write an HTML report of a bridge folder."""
    from mscsim.bridge import bridge_report

    path = bridge_report(folder, output)
    typer.echo(f"wrote {path}", err=True)
