"""Run one virtual trial: screen, enrol, randomise, simulate each patient's assigned arm,
analyse every endpoint, write patient-level data and a summary."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim._io import atomic_folder
from mscsim._provenance import MSCSIM_VERSION
from mscsim._random import seeded_generator
from mscsim.engine import EngineLike, stage_progress
from mscsim.population import Population
from mscsim.trial._analysis import AnalysisOptions, analyse
from mscsim.trial._endpoints import Endpoint, endpoint_of
from mscsim.trial._enrol import (
    COVARIATES,
    TRIAL_STREAM,
    Cohort,
    doses_for,
    draw_trial,
    screened_cohort,
)
from mscsim.trial._simulate import TRAJECTORY, ArmOutcomes, simulate_arm
from mscsim.trial._spec import MORTALITY_DAYS, TrialSpec

PATIENTS_FILE, TRAJECTORIES_FILE, SUMMARY_FILE, SPEC_FILE = (
    "patients.parquet", "trajectories.parquet", "summary.json", "spec.json")


def options_of(spec: TrialSpec) -> AnalysisOptions:
    return AnalysisOptions(level=spec.analysis.level, binary_test=spec.analysis.binary_test)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def analyse_endpoints(spec: TrialSpec, values: pd.DataFrame, arm: np.ndarray,
                      *, quiet: bool = False) -> dict[str, dict[str, Any]]:
    """Every endpoint of ``spec`` analysed on one trial's outcome ``values`` (one row per
    patient, the assigned arm's outcomes) and ``arm`` (1 = MSC, 0 = control)."""
    out: dict[str, dict[str, Any]] = {}
    opt = options_of(spec)
    for name in spec.all_endpoints():
        endpoint = endpoint_of(spec, name)
        res = _analysed(endpoint, values, arm, spec, opt, quiet)
        res["primary"] = name == spec.endpoints.primary
        if endpoint.sensitivity is not None:
            res["sensitivity"] = _analysed(endpoint.sensitivity, values, arm, spec, opt, quiet)
        out[name] = res
    return out


def _analysed(endpoint: Endpoint, values: pd.DataFrame, arm: np.ndarray, spec: TrialSpec,
              opt: AnalysisOptions, quiet: bool) -> dict[str, Any]:
    res = analyse(endpoint.kind, endpoint.data(values, spec.follow_up_days), arm, opt,
                  quiet=quiet)
    res.update(kind=endpoint.kind, definition=endpoint.label,
               favours_msc=endpoint.favours_msc, estimand=endpoint.estimand.to_dict())
    return res


@dataclass
class TrialResult:
    """One simulated trial.

    Attributes:
        patients: one row per randomised patient (arm, covariates, enrolment, outcomes).
        trajectories: daily values after randomisation, long format (``patient, arm, day``
            and :data:`TRAJECTORY` columns).
        endpoints: per endpoint: estimate, limits, p-value, measure, per-arm figures.
        flow: CONSORT-style counts; exclusions: screening exclusions by reason.
    """

    spec: TrialSpec
    seed: int
    patients: pd.DataFrame
    trajectories: pd.DataFrame
    endpoints: dict[str, dict[str, Any]]
    flow: dict[str, Any]
    exclusions: dict[str, int]

    def arms(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        death = self.patients.death_time.to_numpy(float)
        for arm in self.spec.arms:
            sel = (self.patients.arm == arm.name).to_numpy()
            days = [d for d in MORTALITY_DAYS if d <= self.spec.follow_up_days]
            fu = self.spec.follow_up_days
            if fu not in days:
                days.append(fu)  # type: ignore[arg-type]
            deaths = {f"{d:g}": int((sel & (death <= d)).sum()) for d in days}
            out[arm.name] = {"n": int(sel.sum()), "control": arm.control, "deaths": deaths}
        return out

    def summary(self) -> dict[str, Any]:
        return _clean({
            "kind": "mscsim.trial",
            "trial": self.spec.trial.name,
            "seed": self.seed,
            "sample_size": self.spec.sample_size,
            "follow_up_days": self.spec.follow_up_days,
            "primary_endpoint": self.spec.endpoints.primary,
            "arms": self.arms(),
            "endpoints": self.endpoints,
            "flow": self.flow,
            "exclusions": self.exclusions,
            "mscsim_version": MSCSIM_VERSION,
        })


def enrolled_outcomes(cohort: Cohort, treated: ArmOutcomes, idx: np.ndarray,
                      arm: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Outcome rows and daily trajectories of the randomised patients, in enrolment order
    (``treated`` holds the MSC outcomes of ``idx[arm == 1]``, in that order)."""
    values = cohort.control.values.iloc[idx].reset_index(drop=True).copy()
    daily = cohort.control.daily[idx].copy()
    t = np.flatnonzero(arm == 1)
    if len(t):
        for column in values.columns:
            column_values = values[column].to_numpy(copy=True)
            column_values[t] = treated.values[column].to_numpy()
            values[column] = column_values
        daily[t] = treated.daily
    return values, daily


def run_trial(spec: TrialSpec, seed: int | None = None, *,
              population: Population | None = None, cohort: Cohort | None = None,
              engine: EngineLike = "process", workers: int | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> TrialResult:
    """Simulate one trial of ``spec``.

    Arguments:
        seed: overrides ``spec.seed`` (enrolment delays, sampling, allocation).
        population: the screened population (default: from ``spec.population``).
        cohort: an already screened cohort (skips screening; must come from ``spec``).
        progress: called with ``(stage, done, total)``.

    Raises:
        InputError: no eligible patients, sample size above the eligible pool.
    """
    if seed is not None:
        if seed < 0:
            raise InputError(f"seed must be non-negative, got {seed}", field="seed")
        spec = spec.model_copy(update={"seed": int(seed)})

    cohort = screened_cohort(spec, population=population, cohort=cohort, engine=engine,
                             workers=workers, progress=progress)
    idx, arm = draw_trial(cohort.size, spec, seeded_generator(spec.seed, TRIAL_STREAM))
    chosen = cohort.eligible.iloc[idx[arm == 1]].reset_index(drop=True)
    treated = simulate_arm(chosen[list(cohort.parameters().columns)],
                           chosen.death_threshold.to_numpy(float),
                           chosen.enrol_day.to_numpy(float),
                           doses_for(spec, chosen, spec.treated.name),
                           follow_up=spec.follow_up_days, engine=engine, workers=workers,
                           progress=stage_progress(progress, "treatment"))
    values, daily = enrolled_outcomes(cohort, treated, idx, arm)
    endpoints = analyse_endpoints(spec, values, arm, quiet=True)  # recorded in "warnings"
    rows = cohort.eligible.iloc[idx].reset_index(drop=True)
    names = np.where(arm == 1, spec.treated.name, spec.control.name)
    patients = pd.concat([pd.DataFrame({"enrolment_order": np.arange(len(idx)), "arm": names}),
                          rows[["patient", *dict.fromkeys(COVARIATES), "admission_day",
                                "enrol_day"]], values.drop(columns=["ok"])], axis=1)
    days = daily.shape[1]
    trajectories = pd.DataFrame({
        "patient": np.repeat(rows.patient.to_numpy(), days),
        "arm": np.repeat(names, days),
        "day": np.tile(np.arange(days), len(idx)),
        **{c: daily[:, :, k].reshape(-1) for k, c in enumerate(TRAJECTORY)}})
    flow = dict(cohort.flow)
    flow["randomised"] = int(len(idx))
    allocated = {a.name: int((names == a.name).sum()) for a in spec.arms}
    death = values.death_time.to_numpy(float)
    died = {a.name: int(((names == a.name) & np.isfinite(death)).sum()) for a in spec.arms}
    flow_out: dict[str, Any] = {**flow, "allocated": allocated,
                                "died during follow-up": died,
                                "analysed": allocated, "lost to follow-up": 0}
    return TrialResult(spec=spec, seed=spec.seed, patients=patients, trajectories=trajectories,
                       endpoints=endpoints, flow=flow_out, exclusions=cohort.exclusions)


def write_trial(result: TrialResult, folder: str | Path, *, overwrite: bool = False,
                contents_at_start: set[Path] | None = None) -> Path:
    """Write ``patients.parquet``, ``trajectories.parquet``, ``summary.json`` and
    ``spec.json`` to ``folder`` (built under a temporary name, then renamed into place; see
    :func:`mscsim._io.atomic_folder` for ``contents_at_start`` and what is never deleted)."""
    with atomic_folder(folder, overwrite=overwrite, contents_at_start=contents_at_start) as tmp:
        result.patients.to_parquet(tmp / PATIENTS_FILE, index=False)
        result.trajectories.to_parquet(tmp / TRAJECTORIES_FILE, index=False)
        (tmp / SUMMARY_FILE).write_text(json.dumps(result.summary(), indent=2),
                                        encoding="utf-8")
        (tmp / SPEC_FILE).write_text(result.spec.model_dump_json(indent=2), encoding="utf-8")
    return Path(folder)
