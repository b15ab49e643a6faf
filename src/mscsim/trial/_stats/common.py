"""Shared pieces of the trial statistics: the warning class, input checks, numeric helpers.

Conventions used throughout ``mscsim.trial``:

* two arms, coded ``1`` = treated (MSC) and ``0`` = control; every contrast is
  treated versus control (ratio treated/control, difference treated - control);
* a statistic that cannot be computed from the data (empty arm, no events, one category)
  gives a *defined* result: NaN estimate and confidence limits, p-value 1 ("no evidence
  against the null"), and a :class:`StatisticsWarning`;
* invalid input (negative counts, events > n, mismatched lengths, NaN times) raises
  :class:`mscsim.InputError` naming the argument.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from mscsim._errors import InputError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class StatisticsWarning(UserWarning):
    """A statistic met degenerate data and returned a defined but limited result."""


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside ``mscsim.trial`` (the user's call)."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            _PACKAGE_DIR):
        level += 1
        frame = frame.f_back  # type: ignore[assignment]
    return level


def warn(message: str) -> None:
    """Emit ``message`` as a :class:`StatisticsWarning` attributed to the user's call."""
    warnings.warn(message, StatisticsWarning, stacklevel=_caller_stacklevel())


def emit(messages: Iterable[str]) -> tuple[str, ...]:
    """Warn once per message and return them as a tuple for the result's ``warnings``."""
    out = tuple(m for m in messages if m)
    for message in out:
        warn(message)
    return out


def batch_summary(what: str, total: int, counts: dict[str, int]) -> list[str]:
    """One message per non-zero count: ``"<what>: k of n <reason>"``."""
    return [f"{what}: {k} of {total} {reason}" for reason, k in counts.items() if k > 0]


def check_level(level: float) -> float:
    """Validate a confidence level in (0, 1)."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value < 1.0:
        raise InputError(f"confidence level must be in (0, 1), got {level!r}", field="level")
    return value


def z_quantile(level: float) -> float:
    """Two-sided standard normal quantile for a confidence level."""
    return float(special.ndtri(0.5 + level / 2.0))


def two_sided_p(z: ArrayLike) -> FloatArray:
    """Two-sided normal p-value ``2 * (1 - Phi(|z|))``."""
    return np.asarray(2.0 * special.ndtr(-np.abs(np.asarray(z, dtype=float))), dtype=float)


def chi2_1_sf(statistic: ArrayLike) -> FloatArray:
    """Upper tail of the chi-square distribution with one degree of freedom."""
    return np.asarray(special.chdtrc(1.0, np.asarray(statistic, dtype=float)), dtype=float)


def as_float(x: ArrayLike, name: str, *, ndim: tuple[int, ...] = (1,)) -> FloatArray:
    """Finite float array with one of the allowed dimensions.

    Raises:
        InputError: non-numeric, NaN/infinite values or a wrong number of dimensions.
    """
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"must be numeric ({exc})", field=name) from None
    if arr.ndim == 0 and 0 not in ndim:
        arr = arr.reshape(1)
    if arr.ndim not in ndim:
        raise InputError(f"must have {' or '.join(map(str, ndim))} dimension(s), "
                         f"got shape {arr.shape}", field=name)
    if not np.all(np.isfinite(arr)):
        raise InputError("contains NaN or infinite values", field=name)
    return arr


def as_counts(x: ArrayLike, name: str) -> FloatArray:
    """Non-negative whole numbers (as floats), any shape.

    Raises:
        InputError: negative, fractional or non-finite values.
    """
    arr = as_float(x, name, ndim=(0, 1, 2, 3))
    if np.any(arr < 0):
        raise InputError("counts must be >= 0", field=name)
    if np.any(arr != np.round(arr)):
        raise InputError("counts must be whole numbers", field=name)
    return arr


def as_binary(x: ArrayLike, name: str, *, ndim: tuple[int, ...] = (1,)) -> FloatArray:
    """A 0/1 (or boolean) indicator array as floats.

    Raises:
        InputError: any value other than 0, 1, True or False.
    """
    arr = as_float(x, name, ndim=ndim)
    if not np.all((arr == 0) | (arr == 1)):
        raise InputError("must contain only 0/1 (or False/True)", field=name,
                         hint="arm: 1 = treated, 0 = control; event: 1 = event, 0 = censored")
    return arr


def covariate_matrix(covariates: Mapping[str, ArrayLike] | pd.DataFrame | None,
                     n: int) -> tuple[FloatArray, list[str]]:
    """Covariates as an ``(n, p)`` matrix and their names.

    Raises:
        InputError: not a mapping/DataFrame, NaN values, wrong length (naming the column).
    """
    if covariates is None:
        return np.zeros((n, 0)), []
    items = (covariates.items() if isinstance(covariates, pd.DataFrame | Mapping)
             else None)
    if items is None:
        raise InputError("must be a mapping of name -> values or a DataFrame",
                         field="covariates")
    names, cols = [], []
    for name, values in items:
        col = as_float(values, f"covariates[{name!r}]")
        if col.shape != (n,):
            raise InputError(f"has {col.shape[0]} values, expected {n}",
                             field=f"covariates[{name!r}]")
        names.append(str(name))
        cols.append(col)
    return (np.column_stack(cols) if cols else np.zeros((n, 0))), names
