"""``mscsim results ...``: query results folders (Parquet datasets) with DuckDB SQL."""

from __future__ import annotations

from pathlib import Path

import typer

from mscsim._errors import InputError

app = typer.Typer(help="Results folders: query their Parquet data with SQL (DuckDB).",
                  no_args_is_help=True)


@app.command("query")
def query(
    folder: Path = typer.Argument(..., metavar="DIR", help="population, trial or power folder"),
    sql: str = typer.Argument(..., metavar="SQL",
                              help="DuckDB SQL; a population's rows are the view 'patients'"),
    as_json: bool = typer.Option(False, "--json", help="print JSON records"),
    as_csv: bool = typer.Option(False, "--csv", help="print CSV"),
    unrestricted: bool = typer.Option(
        False, "--unrestricted", help="allow several statements and any DuckDB statement or "
        "file (COPY, ATTACH, other files); by default one SELECT reading only DIR's data"),
) -> None:
    """Run one SELECT over DIR's Parquet data without loading it: 'patients' (a population's
    chunk files, or a trial's patients.parquet) and one view per other NAME.parquet file.
    The query can read nothing else and write nothing, unless --unrestricted."""
    from mscsim.store import query_results

    if as_json and as_csv:
        raise InputError("choose one of --json and --csv", field="format")
    table = query_results(folder, sql, unrestricted=unrestricted)
    if as_json:
        typer.echo(table.to_json(orient="records", indent=2))
    elif as_csv:
        typer.echo(table.to_csv(index=False), nl=False)
    else:
        typer.echo(table.to_string(index=False))
