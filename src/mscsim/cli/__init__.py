"""The ``mscsim`` command line: a thin typer layer over the Python API.

Each sub-command lives in its own private module and calls public API functions; errors
raised on purpose (:class:`mscsim.MscsimError`) are printed as one line on stderr with a
non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import sys

import typer

from mscsim._errors import EnvironmentFault, MscsimError
from mscsim.cli import (
    _bridge,
    _cache,
    _evidence,
    _model,
    _population,
    _results,
    _simulate,
    _trial,
    _validate,
)

app = typer.Typer(
    name="mscsim",
    help="In silico research on MSC therapy in severe COVID-19.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(_model.app, name="model")
app.command("simulate")(_simulate.simulate)
app.command("flagship")(_simulate.flagship)
app.add_typer(_population.app, name="population")
app.add_typer(_evidence.app, name="evidence")
app.add_typer(_trial.app, name="trial")
app.add_typer(_results.app, name="results")
app.command("report")(_trial.report)
app.add_typer(_bridge.app, name="bridge")
app.command("validate")(_validate.validate)
app.add_typer(_cache.app, name="cache")

EXIT_INPUT_ERROR = 2
#: the input was fine but the machine was not: disk, permissions, a lost worker, a lock
EXIT_ENVIRONMENT = 3


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mscsim`` console script."""
    try:
        app(args=argv, standalone_mode=False)
    except MscsimError as err:
        typer.echo(f"mscsim: error: {err}", err=True)
        sys.exit(EXIT_ENVIRONMENT if isinstance(err, EnvironmentFault) else EXIT_INPUT_ERROR)
    except OSError as err:  # not raised on purpose: still one line, still not "bad input"
        where = f"{err.filename}: " if err.filename else ""
        typer.echo(f"mscsim: error: {where}{err.strerror or err}", err=True)
        sys.exit(EXIT_ENVIRONMENT)
    except typer.Abort:
        typer.echo("mscsim: aborted", err=True)
        sys.exit(130)
    except Exception as err:
        # click's usage errors (an unknown option, a missing argument) carry their own exit
        # code and message; recognised by that, because typer >= 0.2x raises its vendored
        # copy of click's classes, not click's own
        show, code = getattr(err, "show", None), getattr(err, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
