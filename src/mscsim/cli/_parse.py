"""Option values the command line parses itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from mscsim._errors import InputError

Number = TypeVar("Number", int, float)


def comma_separated(text: str | None, field: str,
                    convert: Callable[[str], Number]) -> tuple[Number, ...] | None:
    """``"20,40,80"`` as numbers of type ``convert`` (None when the option is not given).

    Raises:
        InputError: an item is not such a number, or there is none.
    """
    if text is None:
        return None
    kind = "whole numbers" if convert is int else "numbers"
    try:
        values = tuple(convert(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"expected comma-separated {kind}, got {text!r}", field=field) \
            from None
    if not values:
        raise InputError(f"expected at least one of the comma-separated {kind}", field=field)
    return values
