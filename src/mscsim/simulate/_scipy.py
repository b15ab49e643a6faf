"""scipy ``solve_ivp`` back end: the oracle.

It integrates the model's own SBML mathematics, interpreted by :mod:`mscsim.model` from
libsbml's parse trees, so it shares no code with libroadrunner. Slow; used to check the
default back end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.integrate import solve_ivp

from mscsim._errors import SimulationError
from mscsim.model import Model
from mscsim.simulate._backends import Backend, register_backend
from mscsim.simulate._options import SolverOptions


@register_backend("scipy")
class ScipyBackend(Backend):
    method = "LSODA"

    def __init__(self, model: Model, outputs: Sequence[str], options: SolverOptions) -> None:
        super().__init__(model, outputs, options)
        self._compiled = model.compiled
        states = self._compiled.state_ids
        self._state_index = {s: i for i, s in enumerate(states)}
        self._params: dict[str, float] = {}
        self._y = np.empty(0)

    def start(self, parameters: Mapping[str, float]) -> None:
        self._params = dict(parameters)
        self._y = self._compiled.initial_state(self._params)

    def _outputs_at(self, t: float, y: np.ndarray) -> np.ndarray:
        values = self._compiled.rules(t, y, self._params)
        return np.array([y[self._state_index[o]] if o in self._state_index else values[o]
                         for o in self.outputs])

    def advance(self, t0: float, t1: float, record: np.ndarray) -> np.ndarray:
        if t1 == t0:
            return np.array([self._outputs_at(t0, self._y) for _ in record])
        sol = solve_ivp(lambda t, y: self._compiled.rhs(t, y, self._params), (t0, t1), self._y,
                        method=self.method, t_eval=np.unique(np.concatenate([record, [t1]])),
                        rtol=self.options.rtol, atol=self.options.atol)
        if not sol.success:
            raise SimulationError(f"solve_ivp failed at t={sol.t[-1] if len(sol.t) else t0:g}: "
                                  f"{sol.message}")
        self._y = sol.y[:, -1].copy()
        keep = np.isin(sol.t, record)
        return np.array([self._outputs_at(t, sol.y[:, i]) for i, t in enumerate(sol.t) if keep[i]])

    def add_bolus(self, amount: float) -> None:
        self._y[self._state_index[self.model.dosing.state]] += amount  # type: ignore[union-attr]
