"""``mscsim trial ...`` and ``mscsim report``: run virtual trials, replicate them, report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from mscsim.cli._progress import progress_bars
from mscsim.engine import DEFAULT_ENGINE, get_engine

app = typer.Typer(help="Virtual trials: the shipped designs, run one, replicate it (power), "
                       "export the spec schema.", no_args_is_help=True)

ENGINE_HELP = "serial, process or dask"
SCHEDULER_HELP = "address of an existing Dask scheduler"
CHUNK_HELP = "patients per task (default: 250 per simulated arm, 1000 per generated population)"
SPEC_HELP = "trial spec: a TOML file, or the name of a shipped design (mscsim trial list)"


@app.command("list")
def list_designs() -> None:
    """The shipped example designs, one line each: name and title."""
    from mscsim._errors import InputError
    from mscsim.simulate import get_backend
    from mscsim.trial import design_names, load_spec

    names = design_names()
    width = max(map(len, names))
    for name in names:
        spec = load_spec(name)
        line = f"{name:<{width}}  {spec.trial.title}"
        try:
            get_backend(spec.population.backend)
        except InputError:
            line += f" [its population needs the {spec.population.backend} back end: " \
                    "pip install 'mscsim[fast]']"
        typer.echo(line)


@app.command("show")
def show(
    spec_file: str = typer.Argument(..., metavar="SPEC", help=SPEC_HELP),
) -> None:
    """Print a design's TOML, comments included: a copy to edit (> my.toml)."""
    from mscsim.trial import design_path

    typer.echo(design_path(spec_file).read_text(encoding="utf-8"), nl=False)


@app.command("run")
def run(
    spec_file: str = typer.Argument(..., metavar="SPEC", help=SPEC_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="trial folder to write"),
    seed: int | None = typer.Option(None, "--seed", help="override the spec's trial seed"),
    engine: str = typer.Option(DEFAULT_ENGINE, "--engine", help=ENGINE_HELP),
    workers: int | None = typer.Option(None, "--workers", help="worker processes"),
    chunk_size: int | None = typer.Option(None, "--chunk-size", help=CHUNK_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing folder"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
) -> None:
    """Simulate one trial: patients.parquet, trajectories.parquet, summary.json."""
    from mscsim._io import check_output_folder, folder_contents
    from mscsim.trial import load_spec, run_trial, write_trial

    spec = load_spec(spec_file)
    at_start = folder_contents(check_output_folder(output, overwrite=overwrite))
    executor = get_engine(engine, workers, scheduler, chunk_size=chunk_size)
    with executor, progress_bars(quiet) as bars:
        result = run_trial(spec, seed, engine=executor, progress=bars)
    write_trial(result, output, overwrite=overwrite, contents_at_start=at_start)
    if not quiet:
        typer.echo(f"wrote {output} ({len(result.patients)} patients randomised)", err=True)


@app.command("power")
def power(
    spec_file: str = typer.Argument(..., metavar="SPEC", help=SPEC_HELP),
    replicates: int = typer.Option(1000, "--replicates", help="independent trials"),
    output: Path = typer.Option(..., "-o", "--output", help="folder for power.json"),
    target_power: float | None = typer.Option(None, "--target-power",
                                              help="also search the sample size for this"),
    sample_sizes: str | None = typer.Option(None, "--sample-sizes", metavar="N,N,...",
                                            help="also the power curve at these total "
                                                 "sample sizes, e.g. 20,40,80,160"),
    method: str = typer.Option("pool", "--method", help="pool (potential outcomes) or "
                               "resimulate (slow check)"),
    seed: int | None = typer.Option(None, "--seed", help="override the spec's trial seed"),
    engine: str = typer.Option(DEFAULT_ENGINE, "--engine", help=ENGINE_HELP),
    workers: int | None = typer.Option(None, "--workers", help="worker processes"),
    chunk_size: int | None = typer.Option(None, "--chunk-size", help=CHUNK_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="discard the simulations an "
                                   "analysis with other settings left in the folder"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
) -> None:
    """Replicate the trial: power, type I error, effect distribution, sample size, power
    curve.

    Simulated arms stream to OUTPUT/pool/ chunk by chunk; the same command run again after
    an interruption resumes where it stopped. A pool too small for valid replicates is
    reported on standard error (and at the top of the report).
    """
    from mscsim._errors import InputError
    from mscsim.cli._parse import comma_separated
    from mscsim.cli._population import EXIT_INTERRUPTED
    from mscsim.store import chunk_files
    from mscsim.trial import POOL_DIR, PowerOptions, load_spec, power_analysis, write_power

    options = PowerOptions(replicates=replicates, method=method, target_power=target_power,
                           sample_sizes=comma_separated(sample_sizes, "sample_sizes", int) or ())
    spec = load_spec(spec_file)
    if seed is not None:
        if seed < 0:
            raise InputError(f"seed must be non-negative, got {seed}", field="seed")
        spec = spec.model_copy(update={"seed": seed})
    if output.exists() and not output.is_dir():
        raise InputError("output path exists and is not a folder", file=output)
    executor = get_engine(engine, workers, scheduler, chunk_size=chunk_size)

    def started(store: Path, finished: int) -> None:
        if finished and not quiet:
            typer.echo(f"resuming {output}: {finished} simulated chunks already written in "
                       f"{store}", err=True)

    with executor, progress_bars(quiet) as bars:
        try:
            result = power_analysis(spec, options, engine=executor, progress=bars, folder=output,
                                    overwrite=overwrite, on_start=started)
        except KeyboardInterrupt:
            store = output / POOL_DIR
            written = sum(len(chunk_files(store, d.name)) for d in store.iterdir()
                          if d.is_dir()) if store.is_dir() else 0
            typer.echo(f"mscsim: interrupted: {written} simulated chunks written in {store}; "
                       "run the same command again to resume", err=True)
            sys.exit(EXIT_INTERRUPTED)  # typer.Exit would be returned, not exited, by main
    write_power(result, output, overwrite=overwrite)
    d = result.to_dict()
    if not quiet:
        if d["power_curve"]:
            typer.echo(curve_table(d["power_curve"], d["measure"]), err=True)
        typer.echo(f"power {d['power']:.3f}, type I error {d['type_i_error']:.3f} "
                   f"({replicates} replicates); wrote {output / 'power.json'}", err=True)
    warn_if_pool_invalid(d)


def warn_if_pool_invalid(power: dict[str, object]) -> None:
    """Say on standard error, even with --quiet, when the pool is too small for valid
    replicates at some sample size of a ``power.json`` dictionary."""
    from mscsim.trial import pool_warning

    warning = pool_warning(power)
    if warning:
        typer.echo(f"mscsim: warning: {warning}", err=True)


def curve_table(curve: list[dict[str, Any]], measure: str) -> str:
    """The power curve as a plain-text table."""
    def f(value: float | None, spec: str = ".3f") -> str:
        return "-" if value is None else format(value, spec)

    lines = [f"{'N':>6}  {'power':>13}  {'type I error':>12}  {measure + ' median [95%]':<30}"
             f"  pool/N"]
    for p in curve:
        effect = (f"{f(p['effect_median'], '.3g')} [{f(p['effect_q025'], '.3g')}, "
                  f"{f(p['effect_q975'], '.3g')}]")
        lines.append(f"{p['n']:>6}  {f(p['power'])} ± {f(p['power_mc_se'])}  "
                     f"{f(p['type_i_error']):>12}  {effect:<30}  {p['pool_ratio']:.1f}"
                     + ("" if p["pool_valid"] else " (too small)"))
    return "\n".join(lines)


@app.command("schema")
def schema(
    output: Path | None = typer.Option(None, "-o", "--output", help="file (default: stdout)"),
) -> None:
    """Print or write the JSON schema of trial specs."""
    from mscsim._io import write_text_atomic
    from mscsim.trial import spec_json_schema_text

    text = spec_json_schema_text()
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomic(output, text)


def report(
    folder: Path = typer.Argument(..., metavar="DIR", help="trial folder"),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="HTML file (default: DIR/report.html)"),
) -> None:
    """Write an HTML report of a trial folder (run and/or power output)."""
    from mscsim.trial import trial_report

    path = trial_report(folder, output)
    typer.echo(f"wrote {path}", err=True)
