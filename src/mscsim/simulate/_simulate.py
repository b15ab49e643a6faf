"""Simulate a model for one patient (raises on failure) or a batch (a status per patient)."""

from __future__ import annotations

import collections
import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mscsim._errors import InputError, MscsimError, SimulationError
from mscsim._limits import check_limit
from mscsim.model import (
    PATHWAY_INPUTS,
    Model,
    PathwayRules,
    care_pathway,
    has_pathway,
    load_model,
    supported_hazard,
)
from mscsim.simulate._backends import DEFAULT_BACKEND, Backend, get_backend
from mscsim.simulate._options import SolverOptions
from mscsim.simulate._regimen import Regimen

TIME_COLUMN = "time_days"


class Status(enum.StrEnum):
    """Outcome of one patient's simulation."""

    OK = "ok"
    SOLVER_FAILURE = "solver_failure"
    INVALID_PARAMETERS = "invalid_parameters"


@dataclass
class SimulationResult:
    """One patient's trajectory: ``table`` has ``time_days`` and one column per output."""

    table: pd.DataFrame
    parameters: dict[str, float]
    regimen: Regimen
    backend: str
    model_hash: str

    def tidy(self) -> pd.DataFrame:
        """Long format: ``time_days``, ``variable``, ``value``."""
        return self.table.melt(id_vars=TIME_COLUMN, var_name="variable", value_name="value")


@dataclass
class BatchResult:
    """Many patients: ``status`` (one row per patient), ``values`` (array of shape
    ``(patients, times, outputs)``, NaN for patients that did not simulate) and, built from
    it on demand, ``table`` (rows of patients that simulated: ``patient``, ``time_days`` and
    one column per output)."""

    status: pd.DataFrame
    times: np.ndarray
    values: np.ndarray
    outputs: tuple[str, ...]
    backend: str
    model_hash: str

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of patients whose simulation succeeded."""
        return (self.status["status"] == Status.OK.value).to_numpy()

    def output(self, name: str) -> np.ndarray:
        """One output for every patient: shape ``(patients, times)``."""
        return self.values[:, :, self.outputs.index(name)]

    @functools.cached_property
    def table(self) -> pd.DataFrame:
        ok = np.flatnonzero(self.ok)
        n_times = len(self.times)
        frame = pd.DataFrame(self.values[ok].reshape(len(ok) * n_times, len(self.outputs)),
                             columns=list(self.outputs))
        frame.insert(0, TIME_COLUMN, np.tile(self.times, len(ok)))
        frame.insert(0, "patient", np.repeat(ok, n_times))
        return frame

    def tidy(self) -> pd.DataFrame:
        """Long format: ``patient``, ``time_days``, ``variable``, ``value``."""
        return self.table.melt(id_vars=["patient", TIME_COLUMN], var_name="variable",
                               value_name="value")


def output_times(days: float, points_per_day: int = 1) -> np.ndarray:
    """Sorted output grid from 0 to ``days`` with ``points_per_day`` points per day.

    Raises:
        InputError: non-positive horizon or resolution, or more points than
            ``MSCSIM_MAX_POINTS_PER_DAY`` per day or ``MSCSIM_MAX_OUTPUT_POINTS`` in all.
    """
    if not np.isfinite(days) or days <= 0:
        raise InputError(f"days must be a positive number, got {days}", field="days")
    if isinstance(points_per_day, bool) or points_per_day < 1:
        raise InputError("points_per_day must be at least 1", field="points_per_day")
    check_limit(points_per_day, "points_per_day", field="points_per_day")
    check_limit(days * points_per_day + 1, "output_points", field="days",
                what="the number of output time points (days x points per day)")
    n = int(round(days * points_per_day))
    grid = np.linspace(0.0, n / points_per_day, n + 1)
    if grid[-1] < days:
        grid = np.append(grid, days)
    return grid


def _check_times(times: np.ndarray) -> np.ndarray:
    times = np.asarray(times, dtype=float)
    check_limit(times.size, "output_points", field="times",
                what="the number of output time points")
    if times.ndim != 1 or len(times) == 0 or not np.all(np.isfinite(times)):
        raise InputError("times must be a non-empty 1-D array of finite numbers", field="times")
    if times[0] < 0 or np.any(np.diff(times) <= 0):
        raise InputError("times must be strictly increasing and start at 0 or later",
                         field="times")
    return times


_ENGINES: collections.OrderedDict[tuple[object, ...], Backend] = collections.OrderedDict()
_ENGINE_CACHE_SIZE = 8


def _engine(model: Model, names: tuple[str, ...], options: SolverOptions,
            backend: str) -> Backend:
    """A back end for this model, reused across calls (building one compiles the model)."""
    key = (model.hash, model.dosing, names, options, backend)
    if key in _ENGINES:
        _ENGINES.move_to_end(key)
        return _ENGINES[key]
    engine = get_backend(backend)(model, names, options)
    _ENGINES[key] = engine
    if len(_ENGINES) > _ENGINE_CACHE_SIZE:
        _ENGINES.popitem(last=False)
    return engine


def _outputs(model: Model, outputs: Sequence[str] | None) -> tuple[str, ...]:
    names = tuple(outputs) if outputs is not None else model.default_outputs
    known = set(model.rule_ids) | set(model.state_ids)
    for name in names:
        if name not in known:
            raise InputError(f"model '{model.name}' has no output '{name}'", field="outputs")
    return names


def simulate(model: Model | None = None, *, parameters: Mapping[str, float] | None = None,
             patient: str | None = None, regimen: Regimen | None = None, days: float = 28,
             times: np.ndarray | None = None, outputs: Sequence[str] | None = None,
             backend: str = DEFAULT_BACKEND,
             options: SolverOptions | None = None) -> SimulationResult:
    """Simulate one patient.

    Arguments:
        model: the model (default: the flagship ``covid_msc``).
        parameters: parameter values overriding the defaults (and the patient's).
        patient: a named reference patient of the model, e.g. ``reference-severe``.
        regimen: IV doses (default: none).
        days: horizon in days, used when ``times`` is not given (daily output).
        times: output times in days.
        outputs: observables or states to report (default: every canonical observable and,
            for a model with a care pathway, ``support_level`` (-1 outside hospital, 0 none,
            1 oxygen, 2 HFNC/NIV, 3 invasive ventilation) and ``who_scale`` (WHO clinical
            progression scale, conditional on survival) from the pathway's rules, and
            ``cum_hazard_supported``, the cumulative death hazard under that support, which
            decides death: :func:`mscsim.model.pathway_and_death`).
        backend: a registered back end (``roadrunner``, ``scipy`` or ``compiled``).
        options: solver tolerances.

    Returns:
        A :class:`SimulationResult`.

    Raises:
        InputError: bad parameters, regimen or times. SimulationError: the solver failed.
    """
    model = model or load_model()
    overrides: dict[str, float] = {}
    if patient is not None:
        overrides.update(model.patient(patient).parameters)
    overrides.update(parameters or {})
    values = model.resolve_parameters(overrides)
    grid = _check_times(output_times(days) if times is None else times)
    regimen = regimen or Regimen.none()
    regimen.check_horizon(float(grid[-1]))
    names = _outputs(model, outputs)
    with_pathway = outputs is None and has_pathway(values)
    simulated = tuple(dict.fromkeys((*names, *PATHWAY_INPUTS))) if with_pathway else names
    engine = _engine(model, simulated, options or SolverOptions(), backend)
    try:
        data = engine.run(values, regimen, grid)
    except MscsimError:
        raise
    except Exception as err:  # the solver's own error type varies by back end
        raise SimulationError(f"{backend} failed: {' '.join(str(err).split())}") from err
    bad = ~np.isfinite(data)
    if bad.any():  # as simulate_batch: a result with inf or NaN in it is not a result
        row, column = (int(k[0]) for k in np.nonzero(bad))
        raise SimulationError(f"{backend}: {simulated[column]} is {data[row, column]} at day "
                              f"{grid[row]:g}; the model or its parameters do not give finite "
                              "values")
    table = pd.DataFrame(data, columns=list(simulated))
    if with_pathway:
        rules = PathwayRules.from_parameters(values)
        path = care_pathway({k: table[k].to_numpy()[None, :] for k in PATHWAY_INPUTS}, grid,
                            np.array([values["imv_available"]]), rules)
        hazard = supported_hazard(table[["cum_hazard"]].to_numpy().T, path.support,
                                  rules.imv_hazard_factor)[0] if "cum_hazard" in names else None
        table = table[list(names)]
        table["support_level"] = path.support[0].astype(int)
        table["who_scale"] = path.who[0].astype(int)
        if hazard is not None:
            table["cum_hazard_supported"] = hazard
    table.insert(0, TIME_COLUMN, grid)
    return SimulationResult(table=table, parameters=values, regimen=regimen, backend=backend,
                            model_hash=model.hash)


def simulate_batch(model: Model | None, parameter_sets: Sequence[Mapping[str, float]]
                   | pd.DataFrame, *, regimens: Regimen | Sequence[Regimen] | None = None,
                   days: float = 28, times: np.ndarray | None = None,
                   outputs: Sequence[str] | None = None, backend: str = DEFAULT_BACKEND,
                   options: SolverOptions | None = None) -> BatchResult:
    """Simulate many patients; a failed patient gets a status, never an exception.

    Arguments:
        model: the model (default: the flagship).
        parameter_sets: one mapping of parameter overrides per patient, or a DataFrame with
            one row per patient and one column per overridden parameter.
        regimens: one regimen for all, or one per patient.

    Returns:
        A :class:`BatchResult`; patients are numbered 0..n-1 in input order.

    Raises:
        InputError: bad arguments shared by all patients (times, outputs, back end, an
            unknown parameter name).
    """
    model = model or load_model()
    records = parameter_sets.to_dict("records") if isinstance(parameter_sets, pd.DataFrame) \
        else parameter_sets
    sets: list[dict[str, float]] = [{str(k): v for k, v in p.items()} for p in records]
    n = len(sets)
    if isinstance(regimens, Regimen) or regimens is None:
        per_patient = [regimens or Regimen.none()] * n
    else:
        per_patient = list(regimens)
        if len(per_patient) != n:
            raise InputError(f"{len(per_patient)} regimens for {n} patients", field="regimens")
    grid = _check_times(output_times(days) if times is None else times)
    names = _outputs(model, outputs)
    known = set(model.parameter_defaults)
    for name in {k for s in sets for k in s}:
        if name not in known:
            model.resolve_parameters({name: 0.0}, where="parameter_sets")  # raises with hint
    engine = _engine(model, names, options or SolverOptions(), backend)
    values = np.full((n, len(grid), len(names)), np.nan)
    statuses, messages = [], []
    for i, (overrides, regimen) in enumerate(zip(sets, per_patient, strict=True)):
        try:
            resolved = model.resolve_parameters(overrides, where=f"patient {i}")
            regimen.check_horizon(float(grid[-1]))
        except InputError as err:
            statuses.append(Status.INVALID_PARAMETERS.value)
            messages.append(str(err))
            continue
        try:
            data = engine.run(resolved, regimen, grid)
            if not np.all(np.isfinite(data)):
                raise SimulationError("non-finite values in the solution")
        except Exception as err:  # one patient's failure must not stop the batch
            statuses.append(Status.SOLVER_FAILURE.value)
            messages.append(" ".join(str(err).split()) or type(err).__name__)
            continue
        statuses.append(Status.OK.value)
        messages.append("")
        values[i] = data
    status = pd.DataFrame({"patient": np.arange(n), "status": statuses, "message": messages})
    return BatchResult(status=status, times=grid, values=values, outputs=names,
                       backend=backend, model_hash=model.hash)
