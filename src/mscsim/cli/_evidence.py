"""``mscsim evidence ...``: the published MSC-COVID-19 studies and their meta-analysis."""

from __future__ import annotations

import typer

app = typer.Typer(help="Published controlled MSC-COVID-19 studies and meta-analysis.",
                  no_args_is_help=True)
