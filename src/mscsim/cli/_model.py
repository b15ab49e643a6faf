"""``mscsim model ...``: export the model and show its parameter table."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from mscsim._io import write_text_atomic
from mscsim.model import load_model

app = typer.Typer(help="The mechanistic model: export it, list its parameters.",
                  no_args_is_help=True)


class ExportFormat(StrEnum):
    sbml = "sbml"
    antimony = "antimony"


@app.command("export")
def export(
    format: ExportFormat = typer.Option(ExportFormat.sbml, "--format", help="sbml or antimony"),
    output: Path = typer.Option(..., "-o", "--output", help="file to write"),
    patient: str | None = typer.Option(None, "--patient",
                                       help="write this reference patient's values as defaults"),
) -> None:
    """Write the flagship model as SBML (Level 3) or Antimony."""
    model = load_model()
    if patient is not None:
        model = model.with_defaults(model.patient(patient).parameters)
    text = model.sbml if format is ExportFormat.sbml else model.antimony
    write_text_atomic(output, text)
    typer.echo(f"wrote {output} ({format.value}, model {model.name})", err=True)


@app.command("params")
def params(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Print the parameter table: name, value, unit, bounds, variability, source."""
    table = load_model().required_parameter_table()
    records = table.to_records()
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    width = max(len(str(r["name"])) for r in records)
    for r in records:
        typer.echo(f"{r['name']:<{width}}  {r['value']:<10g} {r['unit']:<28} "
                   f"[{r['lower']:g}, {r['upper']:g}]  {r['variability']:<24} {r['source']}")
