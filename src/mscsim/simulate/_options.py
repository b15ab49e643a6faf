"""Solver options shared by every back end."""

from __future__ import annotations

from dataclasses import dataclass

from mscsim._errors import InputError


@dataclass(frozen=True)
class SolverOptions:
    """Integration tolerances.

    States of the flagship model are scaled (log virus and infected cells, Mcells for MSC),
    so one relative and one absolute tolerance fit every state.

    Arguments:
        rtol: relative tolerance.
        atol: absolute tolerance.
        max_steps: maximum internal steps per integration segment.
    """

    rtol: float = 1e-8
    atol: float = 1e-10
    max_steps: int = 100_000

    def __post_init__(self) -> None:
        if not (0 < self.rtol < 1):
            raise InputError(f"rtol must be in (0, 1), got {self.rtol}", field="rtol")
        if not self.atol > 0:
            raise InputError(f"atol must be positive, got {self.atol}", field="atol")
        if self.max_steps < 1:
            raise InputError("max_steps must be at least 1", field="max_steps")
