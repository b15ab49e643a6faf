"""What the trial statistics return: frozen dataclasses with ``to_dict``, ``summary`` and a
short ``repr``, and one type per statistic that holds one trial or a batch of trials.

A statistic computed on many replicate trials at once (a ``*_batch`` function) returns the
same class as on one trial (:class:`BatchableResult`): its per-trial fields are numbers for
one trial and arrays with one entry per trial for a batch, so the array shape says which,
and ``batch[i]`` is the result of trial ``i``.
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

PerTrial = NDArray[Any]
"""A field of a batch: one entry per trial."""

Value = TypeVar("Value", float, PerTrial)
"""A per-trial field: a number for one trial (an int where it counts, a bool where it
flags), a :data:`PerTrial` array for a batch."""

HEADLINE = ("estimate", "ci_low", "ci_high", "p_value")
"""The fields a ``repr`` shows, where the result has them."""

SPREAD = {"median": 50.0, "2.5%": 2.5, "97.5%": 97.5}
"""Percentiles of a batch field over the trials that ``summary`` shows (the nearest order
statistic: an infinite estimate stays infinite, where interpolation would give NaN)."""


def plain(value: Any) -> Any:
    """Convert numpy / pandas values into plain Python objects for ``to_dict``."""
    if isinstance(value, pd.DataFrame):
        return {str(c): [plain(v) for v in value[c].tolist()] for c in value.columns}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _number(value: Any) -> str:
    if isinstance(value, tuple):
        return f"[{', '.join(map(_number, value))}]"
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return str(value)
    return f"{value:.6g}"


def _aligned(items: list[tuple[str, str]]) -> list[str]:
    width = max((len(name) for name, _ in items), default=0)
    return [f"{name:<{width}}  {text}" for name, text in items]


class ResultMixin:
    """``to_dict``, ``summary`` and ``repr`` for the frozen result dataclasses (each has a
    ``method`` and a ``warnings`` field)."""

    method: str
    warnings: tuple[str, ...]

    def _items(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name))
                for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain Python objects (lists, floats, dicts of columns)."""
        return {name: plain(value) for name, value in self._items()}

    def _title(self) -> str:
        return type(self).__name__

    def _figures(self) -> list[str]:
        """The figures of one trial: one line per number, then the tables."""
        figures: list[tuple[str, str]] = []
        tables: list[str] = []
        for name, value in self._items():
            if name in ("method", "warnings", "notes"):
                continue
            if isinstance(value, pd.DataFrame):
                tables += [f"{name}:", textwrap.indent(value.to_string(max_rows=20), "  ")]
            else:
                figures.append((name, value if isinstance(value, str) else _number(value)))
        return _aligned(figures) + tables

    def summary(self) -> str:
        """A readable report: what was computed, the figures, and what was warned."""
        text = [self._title(), *textwrap.wrap(self.method, 88), "", *self._figures()]
        if self.warnings:
            text += ["", "warnings:", *(f"  {w}" for w in self.warnings)]
        return "\n".join(text)

    def _headline(self) -> list[str]:
        items = dict(self._items())
        shown = [n for n in HEADLINE if n in items] or [
            n for n, v in items.items()
            if isinstance(v, float | int | tuple) and n not in ("warnings", "notes")][:4]
        return [f"{n}={_number(items[n])}" for n in shown]

    def __repr__(self) -> str:
        parts = self._headline()
        if self.warnings:
            parts.append(f"{len(self.warnings)} warning{'s' * (len(self.warnings) > 1)}")
        return f"{type(self).__name__}({', '.join(parts)})"


class BatchableResult(ResultMixin, Generic[Value]):
    """The result of a statistic on one trial, or on a batch of trials (see the module).

    Subclasses are frozen dataclasses whose per-trial fields are typed :data:`Value`, with
    ``notes`` (each trial's warning text, ``''`` when none; one entry for one trial) and
    ``warnings`` (what was warned: a trial's note, or a batch's summary counts).
    ``whole_numbers`` names the per-trial fields that count (ints for one trial).
    """

    notes: tuple[str, ...]
    whole_numbers: ClassVar[tuple[str, ...]] = ()

    def _per_trial(self) -> list[tuple[str, PerTrial]]:
        return [(n, v) for n, v in self._items() if isinstance(v, np.ndarray)]

    @property
    def is_batch(self) -> bool:
        """Whether the fields hold a batch of trials (arrays) rather than one (numbers)."""
        return bool(self._per_trial())

    def __len__(self) -> int:
        per_trial = self._per_trial()
        if not per_trial:
            raise TypeError(f"a {type(self).__name__} of one trial has no length")
        return int(per_trial[0][1].shape[0])

    def __eq__(self, other: object) -> bool:
        """Field by field, a batch's arrays element by element (NaN unequal, as floats)."""
        if not isinstance(other, BatchableResult) or type(other) is not type(self):
            return NotImplemented
        return all(
            np.array_equal(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray)
            else a == b for (_, a), (_, b) in zip(self._items(), other._items(), strict=True))

    def __hash__(self) -> int:
        return hash(tuple(v for _, v in self._items() if not isinstance(v, np.ndarray)))

    def __getitem__(self, i: int) -> Any:
        """The result of trial ``i`` of a batch (numbers, its note as its warning)."""
        if not self.is_batch:
            raise TypeError(f"a {type(self).__name__} of one trial cannot be indexed")
        one: dict[str, Any] = dict(self._items())
        for name, values in self._per_trial():
            value = values[i]
            one[name] = (bool(value) if values.dtype == np.bool_ else
                         int(value) if name in self.whole_numbers else float(value))
        note = self.notes[i]
        one.update(notes=(note,), warnings=(note,) if note else ())
        return type(self)(**one)

    def _title(self) -> str:
        if not self.is_batch:
            return f"{type(self).__name__}, one trial"
        defined = dict(self._items()).get("defined")
        counted = "" if defined is None else f", {int(np.sum(defined))} defined"
        return f"{type(self).__name__}, {len(self)} trials{counted}"

    def _figures(self) -> list[str]:
        if not self.is_batch:
            return super()._figures()
        figures: list[tuple[str, str]] = [
            (n, str(v)) for n, v in self._items()
            if isinstance(v, str | float | int) and n != "method"]
        rows: dict[str, list[float]] = {}
        for name, values in self._per_trial():
            if values.dtype == np.bool_:
                if name != "defined":
                    figures.append((name, f"{int(values.sum())} of {len(self)} trials"))
                continue
            present = values[~np.isnan(values)]
            spread: list[float] = (
                np.percentile(present, list(SPREAD.values()), method="nearest").tolist()
                if present.size else [np.nan] * len(SPREAD))
            rows[name] = [*spread, int(values.size - present.size)]
        table = pd.DataFrame.from_dict(rows, orient="index", columns=[*SPREAD, "NaN"])
        return [*_aligned(figures), "over the trials:", textwrap.indent(
            table.to_string(float_format=_number), "  ")]

    def _headline(self) -> list[str]:
        if not self.is_batch:
            return super()._headline()
        items: dict[str, Any] = dict(self._items())
        return [f"trials={len(self)}", *(
            f"{n}={np.array2string(items[n], precision=4, threshold=4, edgeitems=2)}"
            for n in HEADLINE if n in items)]
