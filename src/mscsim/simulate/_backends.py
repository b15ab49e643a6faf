"""Simulation back ends behind one interface, listed in one registry.

A back end integrates one model for one parameter vector and regimen, restarting the
integration at each dose. Convention for a time point that coincides with a dose: the value
reported is the one *after* the bolus.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from mscsim._errors import InputError
from mscsim.model import Model
from mscsim.simulate._options import SolverOptions
from mscsim.simulate._regimen import Regimen

BACKENDS: dict[str, type[Backend]] = {}
DEFAULT_BACKEND = "roadrunner"


def register_backend(name: str) -> Callable[[type[Backend]], type[Backend]]:
    """Class decorator adding a back end to the registry under ``name``."""
    def add(cls: type[Backend]) -> type[Backend]:
        cls.name = name
        BACKENDS[name] = cls
        return cls
    return add


def get_backend(name: str) -> type[Backend]:
    """The back-end class registered as ``name``, checked to be able to run here.

    Raises:
        InputError: unknown back end (the message lists the registered ones); a back end
            whose optional dependency is not installed (the message says what to install).
    """
    if name not in BACKENDS:
        raise InputError(f"unknown back end '{name}' (available: {', '.join(sorted(BACKENDS))})",
                         field="backend")
    BACKENDS[name].check_available()
    return BACKENDS[name]


class Backend(ABC):
    """Integrates one model. Create once per model and reuse for many patients."""

    name: str = ""

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`InputError` naming what to install when this back end cannot run
        in this environment (an optional dependency is missing); cheap, imports nothing.
        Every back end with no optional dependency can run."""
        return None

    def __init__(self, model: Model, outputs: Sequence[str], options: SolverOptions) -> None:
        self.model = model
        self.outputs = tuple(outputs)
        self.options = options

    def run(self, parameters: Mapping[str, float], regimen: Regimen,
            times: np.ndarray) -> np.ndarray:
        """Simulate and return an array of shape ``(len(times), len(outputs))``.

        ``times`` must be sorted, start at 0 or later and include no dose after its end.
        """
        self.start(parameters)
        rows: list[np.ndarray] = []
        t_now = 0.0
        for day, cells_per_kg in regimen.boluses():
            if day > t_now:
                rows.append(self.advance(t_now, day, times[(times >= t_now) & (times < day)]))
                t_now = day
            self.add_bolus(self.bolus_amount(parameters, cells_per_kg))
        end = float(times[-1])
        if end >= t_now:
            rows.append(self.advance(t_now, end, times[times >= t_now]))
        return np.vstack([r for r in rows if len(r)]) if rows else np.empty((0, len(self.outputs)))

    def bolus_amount(self, parameters: Mapping[str, float], cells_per_kg: float) -> float:
        """Amount added to the dosing state for a dose of ``cells_per_kg``."""
        dosing = self.model.dosing
        if dosing is None:
            raise InputError(f"model '{self.model.name}' declares no dosing state",
                             field="dose")
        return cells_per_kg * parameters[dosing.body_weight_parameter] \
            / dosing.cells_per_state_unit

    @abstractmethod
    def start(self, parameters: Mapping[str, float]) -> None:
        """Set the parameters and the initial state (time 0)."""

    @abstractmethod
    def advance(self, t0: float, t1: float, record: np.ndarray) -> np.ndarray:
        """Integrate from ``t0`` to ``t1``; return the outputs at the ``record`` times."""

    @abstractmethod
    def add_bolus(self, amount: float) -> None:
        """Add ``amount`` to the dosing state at the current time."""
