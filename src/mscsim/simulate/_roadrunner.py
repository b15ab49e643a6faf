"""libroadrunner back end (default): CVODE on LLVM-compiled model code."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

# SUNDIALS' own logger (CVODE's "t + h = t" warnings and error-test failures) writes to the
# terminal past roadrunner's logger; a failure still comes back as the patient's status, so
# the log only repeats it, dozens of lines in a population run. Set before roadrunner makes
# its first SUNDIALS context; a user who wants the log sets the variables to "stderr".
for _stream in ("SUNLOGGER_WARNING_FILENAME", "SUNLOGGER_ERROR_FILENAME"):
    os.environ.setdefault(_stream, os.devnull)

import numpy as np  # noqa: E402
import roadrunner  # noqa: E402

from mscsim.model import Model  # noqa: E402
from mscsim.simulate._backends import Backend, register_backend  # noqa: E402
from mscsim.simulate._options import SolverOptions  # noqa: E402

# solver failures come back as exceptions (one line from the CLI); its log would repeat them
roadrunner.Logger.setLevel(roadrunner.Logger.LOG_FATAL)
# A RoadRunner built from an already-compiled SBML reuses cached machine code whose results
# differ from a fresh compile at the 1e-8 relative level (seen with libroadrunner 2.10), so a
# result would depend on what the process simulated before. Always compile from the SBML.
roadrunner.Config.setValue(roadrunner.Config.LOADSBMLOPTIONS_RECOMPILE, True)


@register_backend("roadrunner")
class RoadRunnerBackend(Backend):
    def __init__(self, model: Model, outputs: Sequence[str], options: SolverOptions) -> None:
        super().__init__(model, outputs, options)
        rr = roadrunner.RoadRunner(model.sbml)
        rr.integrator.relative_tolerance = options.rtol
        rr.integrator.absolute_tolerance = options.atol
        rr.integrator.maximum_num_steps = options.max_steps
        rr.integrator.variable_step_size = False
        rr.timeCourseSelections = ["time", *self.outputs]
        self._rr = rr
        self._defaults = model.parameter_defaults
        self._changed: dict[str, float] = {}

    def start(self, parameters: Mapping[str, float]) -> None:
        # Only parameters that differ from the SBML value are set; those the previous patient
        # changed are put back first. Same state as resetAll() then setting every parameter,
        # for less work per patient (a plain resetAll/setValue loop is the benchmark).
        rr, defaults = self._rr, self._defaults
        changed = dict(parameters.items() - defaults.items())
        restore = self._changed.keys() - changed.keys()
        self._changed = {**self._changed, **changed}  # what may differ, should a call fail
        for name in restore:
            rr.setValue(name, defaults[name])
        for name, value in changed.items():
            rr.setValue(name, value)
        self._changed = changed
        rr.reset()  # time 0; states from initial assignments with the new parameter values

    def advance(self, t0: float, t1: float, record: np.ndarray) -> np.ndarray:
        if len(record) > 1 and record[0] == t0 and record[-1] == t1:
            return np.asarray(self._rr.simulate(times=record))[:, 1:]  # the usual case
        grid = np.unique(np.concatenate([[t0], record, [t1]]))
        if len(grid) == 1:
            out = np.array([[self._rr.getValue(o) for o in self.outputs]])
        else:
            out = np.asarray(self._rr.simulate(times=grid))[:, 1:]
        keep = np.isin(grid, record)
        return out[keep]

    def add_bolus(self, amount: float) -> None:
        state = self.model.dosing.state  # type: ignore[union-attr]
        self._rr.setValue(state, self._rr.getValue(state) + amount)
