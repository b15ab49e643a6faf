"""``mscsim cache list|clear``: the populations kept in the population store."""

from __future__ import annotations

import typer

app = typer.Typer(help="Generated populations kept for reuse (the population store: "
                       "$MSCSIM_POPULATION_STORE, default ~/.cache/mscsim/populations).",
                  no_args_is_help=True)


@app.command("list")
def list_populations() -> None:
    """Where the store is, then one line per stored population: folder, size, state."""
    from mscsim.population import list_stored, population_store

    entries = list_stored()
    typer.echo(f"population store: {population_store()} ({len(entries)} populations)")
    for entry in entries:
        state = "complete" if entry.complete else "incomplete (resumed when next used)"
        typer.echo(f"{entry.folder.name}  {entry.bytes / 2**20:,.1f} MiB  {state}")


@app.command("clear")
def clear() -> None:
    """Delete every stored population (they are generated again when next needed)."""
    from mscsim.population import clear_stored, population_store

    removed = clear_stored()
    typer.echo(f"deleted {len(removed)} stored populations from {population_store()}",
               err=True)
