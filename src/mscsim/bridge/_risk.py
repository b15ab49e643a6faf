"""Each patient's probability of death during follow-up, smooth in the model parameters.

A virtual patient dies when the cumulative hazard under support ``H`` (the ODE's hazard, each
increment on invasive ventilation scaled: :func:`mscsim.model.pathway_and_death`) reaches a
unit-exponential threshold (``mscsim.population``). Given that the patient is alive at
randomisation ``t0`` (the threshold exceeds ``H(t0)``), memorylessness gives the probability
of death by ``t0 + T``: ``1 - exp(-(H(t0 + T) - H(t0)))``. Unlike a sampled death, it
changes smoothly with the parameters, so the arm mortality built from it gives a smooth
likelihood surface; with the same patients at every parameter value (common random numbers)
the surface has no Monte Carlo jitter between neighbouring values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mscsim.engine import EngineLike, chunk_ranges, get_engine
from mscsim.model import PATHWAY_INPUTS, PathwayRules, hazard_under_support, load_model
from mscsim.trial import POINTS_PER_DAY, horizon_for, simulate_from_infection


@dataclass(frozen=True)
class RiskTask:
    """Patients of one arm under one set of parameter overrides (one engine task)."""

    key: tuple[int, int]  # (arm index, parameter-set index): where the result goes
    parameters: list[dict[str, float]]
    enrol_days: np.ndarray
    doses: list[list[tuple[float, float]]]  # per patient: (day after infection, cells/kg)
    follow_up: float
    horizon: float


def run_risk_task(task: RiskTask) -> tuple[tuple[int, int], np.ndarray]:
    """Death probability of each patient of ``task`` (NaN where the simulation failed)."""
    outputs = (*PATHWAY_INPUTS, "cum_hazard")
    times, batch = simulate_from_infection(task.parameters, task.doses, task.horizon, outputs)
    get = {name: batch.values[:, :, k] for k, name in enumerate(outputs)}
    rules = PathwayRules.from_parameters(load_model().parameter_defaults)
    imv_available = np.array([p.get("imv_available", 1.0) for p in task.parameters])
    with np.errstate(all="ignore"):
        hazard = hazard_under_support({name: get[name] for name in PATHWAY_INPUTS},
                                      get["cum_hazard"], times, imv_available, rules)
    start = np.rint(task.enrol_days * POINTS_PER_DAY).astype(int)
    stop = start + int(round(task.follow_up * POINTS_PER_DAY))
    rows = np.arange(len(start))
    gained = hazard[rows, stop] - hazard[rows, start]
    prob = -np.expm1(-np.maximum(gained, 0.0))
    prob[~batch.ok] = np.nan
    return task.key, prob


def risk_tasks(key: tuple[int, int], parameters: pd.DataFrame, enrol_days: np.ndarray,
               doses: Sequence[Sequence[tuple[float, float]]], follow_up: float,
               overrides: Mapping[str, float], chunk_size: int) -> list[RiskTask]:
    """Engine tasks of one arm under one parameter set (``overrides`` apply to everyone)."""
    enrol_days = np.asarray(enrol_days, dtype=float)
    horizon = horizon_for(enrol_days, follow_up)
    records = [{**{str(k): float(v) for k, v in r.items()}, **overrides}
               for r in parameters.to_dict("records")]
    return [RiskTask(key, records[a:b], enrol_days[a:b], [list(d) for d in doses[a:b]],
                     follow_up, horizon)
            for a, b in chunk_ranges(len(records), chunk_size)]


def run_risks(tasks: list[RiskTask], *, engine: EngineLike = "process",
              workers: int | None = None,
              progress: Callable[[int, int], None] | None = None
              ) -> dict[tuple[int, int], np.ndarray]:
    """Run ``tasks`` and join each key's chunks in order: key -> death probabilities."""
    total = sum(len(t.parameters) for t in tasks)
    parts: dict[tuple[int, int], list[np.ndarray]] = {}
    done = 0
    for key, prob in get_engine(engine, workers).map(run_risk_task, tasks):
        parts.setdefault(key, []).append(prob)
        done += len(prob)
        if progress:
            progress(done, total)
    return {k: np.concatenate(v) for k, v in parts.items()}
