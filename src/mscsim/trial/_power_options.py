"""What a replicated-trial analysis computes, checked when it is made (before any
screening or simulation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mscsim._errors import InputError

POWER_METHODS: tuple[str, ...] = ("pool", "resimulate")
"""``pool``: potential outcomes (see :mod:`mscsim.trial._power`); ``resimulate``: every
replicate's patients simulated afresh in their assigned arm (slow, for checks)."""


def _is_whole(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


@dataclass(frozen=True)
class PowerOptions:
    """The options of :func:`mscsim.trial.power_analysis`.

    Attributes:
        replicates: independent trials.
        method: one of :data:`POWER_METHODS` (``"pool"`` default).
        target_power: also search the smallest total sample size reaching it (pool method).
        sample_sizes: also the power curve at these total sample sizes (pool method); kept
            sorted and without repeats.
        max_n: upper limit of the sample-size search (default: the pool size).

    Raises:
        InputError: naming the field: replicates below 1, a target power outside (0, 1),
            an unknown method, a sample size or ``max_n`` that is not a whole number of at
            least 2, a search or curve without the pool method.
    """

    replicates: int
    method: str = "pool"
    target_power: float | None = None
    sample_sizes: Sequence[int] = ()
    max_n: int | None = None

    def __post_init__(self) -> None:
        if not _is_whole(self.replicates) or self.replicates < 1:
            raise InputError(f"replicates must be at least 1, got {self.replicates}",
                             field="replicates")
        if self.target_power is not None and (
                isinstance(self.target_power, bool)
                or not isinstance(self.target_power, int | float | np.floating)
                or not 0 < self.target_power < 1):
            raise InputError(f"target power must be in (0, 1), got {self.target_power}",
                             field="target_power")
        if self.method not in POWER_METHODS:
            raise InputError(f"unknown method '{self.method}' (pool or resimulate)",
                             field="method")
        for n in self.sample_sizes:
            if not _is_whole(n) or n < 2:
                raise InputError(f"sample sizes must be whole numbers of at least 2, got {n!r}",
                                 field="sample_sizes")
        object.__setattr__(self, "sample_sizes", tuple(sorted({int(n) for n in
                                                               self.sample_sizes})))
        if self.max_n is not None and (not _is_whole(self.max_n) or self.max_n < 2):
            raise InputError(f"max_n must be a whole number of at least 2, got {self.max_n!r}",
                             field="max_n")
        if self.method != "pool" and (self.target_power is not None or self.sample_sizes):
            raise InputError("the sample-size search and the power curve need the pool method",
                             field="method", hint="drop --method resimulate, or --target-power "
                                                  "and --sample-sizes")
