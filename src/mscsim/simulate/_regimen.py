"""Dosing regimens: intravenous MSC boluses in cells/kg at given days."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from mscsim._errors import InputError


@dataclass(frozen=True)
class Dose:
    """One intravenous bolus.

    Arguments:
        day: time of the infusion, days after infection.
        cells_per_kg: MSC dose in cells per kg of body weight.
    """

    day: float
    cells_per_kg: float

    def __post_init__(self) -> None:
        for name, value in (("day", self.day), ("cells_per_kg", self.cells_per_kg)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"dose {name} must be a number, got {value!r}", field=name)
            if not math.isfinite(value):
                raise InputError(f"dose {name} must be finite, got {value}", field=name)
        if self.cells_per_kg < 0:
            raise InputError(f"dose must not be negative, got {self.cells_per_kg:g} cells/kg",
                             field="cells_per_kg")
        if self.day < 0:
            raise InputError(f"dose day must not be negative, got {self.day:g}", field="day")


@dataclass(frozen=True)
class Regimen:
    """A set of IV doses. Zero doses are dropped, so a zero dose is exactly no dose."""

    doses: tuple[Dose, ...] = ()

    def __post_init__(self) -> None:
        kept = tuple(sorted((d for d in self.doses if d.cells_per_kg > 0), key=lambda d: d.day))
        object.__setattr__(self, "doses", kept)

    @classmethod
    def of(cls, doses: Iterable[tuple[float, float]]) -> Regimen:
        """Build from ``(day, cells_per_kg)`` pairs."""
        return cls(tuple(Dose(float(day), float(amount)) for day, amount in doses))

    @classmethod
    def none(cls) -> Regimen:
        return cls(())

    @property
    def total_cells_per_kg(self) -> float:
        return sum(d.cells_per_kg for d in self.doses)

    def check_horizon(self, days: float) -> None:
        """Raise if a dose falls after the end of the simulation.

        Raises:
            InputError: a dose day greater than ``days``.
        """
        for dose in self.doses:
            if dose.day > days:
                raise InputError(f"dose day {dose.day:g} is outside the simulated horizon "
                                 f"0-{days:g} days", field="dose_day",
                                 hint="increase --days or move the dose")

    def boluses(self) -> list[tuple[float, float]]:
        """``(day, cells_per_kg)`` with doses on the same day summed, in time order."""
        merged: dict[float, float] = {}
        for dose in self.doses:
            merged[dose.day] = merged.get(dose.day, 0.0) + dose.cells_per_kg
        return sorted(merged.items())
