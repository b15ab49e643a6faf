"""Limits on work that input can make unbounded, checked before the work starts.

Each limit has a default here, can be changed with the environment variable
``MSCSIM_MAX_<NAME>`` (for example ``MSCSIM_MAX_MATH_DEPTH=500``), and is checked by
:func:`check_limit`, the one place whose error says what the limit is and how to change it.
A spec field that sets the size of the work (``population.n_infections``,
``allocation.block_size``, ...) is also checked here, so a TOML typo of a few extra zeros is
refused in a second instead of running until memory is gone. ``docs/architecture.md`` lists
them.
"""

from __future__ import annotations

import os
from pathlib import Path

from mscsim._errors import InputError

#: name -> (default, what it bounds); every entry is documented in docs/architecture.md
LIMITS: dict[str, tuple[int, str]] = {
    "model_bytes": (50_000_000, "bytes of a model file"),
    "math_depth": (200, "nesting depth of one MathML expression"),
    "math_nodes": (1_000_000, "MathML nodes of a model once its function calls are inlined"),
    "model_rules": (20_000, "rules of a model"),
    "compiled_rules": (1_000, "rules and states of a model for the compiled back end"),
    "integer_digits": (15, "digits of an integer literal for the compiled back end"),
    "spec_bytes": (1_000_000, "bytes of a trial spec"),
    "toml_depth": (20, "nesting depth of arrays and tables in a trial spec"),
    "n_infections": (50_000_000, "infections of one population"),
    "block_size": (100_000, "patients in one permuted block"),
    "points_per_day": (1_440, "output points per day of a simulation"),
    "output_points": (1_000_000, "output time points of one simulation"),
    "csv_bytes": (50_000_000, "bytes of an evidence CSV file"),
    "count": (1_000_000_000, "patients or events in one cell of an evidence CSV file"),
}


def env_name(name: str) -> str:
    return f"MSCSIM_MAX_{name.upper()}"


def limit(name: str) -> int:
    """The current value of limit ``name`` (its environment variable, else the default).

    Raises:
        InputError: the environment variable is not a positive integer.
    """
    default, _ = LIMITS[name]
    text = os.environ.get(env_name(name))
    if text is None or not text.strip():
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise InputError(f"{env_name(name)}={text!r} is not a positive integer",
                         field=env_name(name))
    return value


def over_limit(value: float, name: str, what: str | None = None) -> str | None:
    """The message refusing ``value`` if it exceeds limit ``name``, else None (for validators
    that raise their own error type)."""
    bound = limit(name)
    if not value > bound:
        return None
    noun = what or LIMITS[name][1]
    shown = f"{value:,.0f}" if abs(value) < 1e18 else f"{value:.3g}"
    return (f"{noun} is {shown}, above the limit of {bound:,} (set {env_name(name)} to raise "
            "the limit)")


def check_limit(value: float, name: str, *, field: str | None = None,
                file: str | Path | None = None, line: int | None = None,
                what: str | None = None) -> None:
    """Refuse ``value`` above limit ``name`` with one line naming the limit and its switch.

    Raises:
        InputError: ``value`` exceeds the limit.
    """
    message = over_limit(value, name, what)
    if message is not None:
        raise InputError(message, field=field, file=file, line=line)
