"""Screening, eligibility, enrolment time and randomisation.

All randomness comes from ``numpy.random.SeedSequence(spec.seed, spawn_key=(stream, ...))``:

- the enrolment delay of population patient ``i``: ``(ENROL_STREAM, i)``;
- the patients sampled and their allocation in ``run_trial``: ``(TRIAL_STREAM,)``;
- replicate ``r`` of a power analysis: ``(REPLICATE_STREAM, r)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim._random import seeded_generator
from mscsim.engine import EngineLike, stage_progress
from mscsim.model import IMV, load_model
from mscsim.population import (
    PARAMETER_COLUMNS,
    Calibration,
    GenerationOptions,
    Population,
    read_population,
    stored_population,
)
from mscsim.trial._simulate import POINTS_PER_DAY, ArmOutcomes, ArmStore, on_grid, simulate_arm
from mscsim.trial._spec import TrialSpec

ENROL_STREAM, TRIAL_STREAM, REPLICATE_STREAM = 10, 11, 12
COVARIATES = ("age", "male", "hypertension", "diabetes", "obesity", "body_weight_kg")
#: chunk sub-folder of a pool store holding the screening simulation (the control outcomes)
SCREENING_STAGE = "screening"
ARDS_BANDS = {"none": (300.0, np.inf), "mild": (200.0, 300.0), "moderate": (100.0, 200.0),
              "severe": (-np.inf, 100.0)}


def load_cohort_population(spec: TrialSpec, *, engine: EngineLike = "process",
                           workers: int | None = None,
                           progress: Callable[[int, int], None] | None = None) -> Population:
    """The screened population named by ``spec.population``: a population folder, or the
    population the spec generates, kept in the population store so that other designs and
    re-runs reuse it (:mod:`mscsim.population._cache`)."""
    pop = spec.population
    if pop.source == "folder":
        if pop.path is None:
            raise InputError("source = 'folder' needs path", field="population.path")
        return read_population(pop.path)
    if pop.n_infections is None:
        raise InputError("source = 'generate' needs n_infections",
                         field="population.n_infections")
    return stored_population(pop.n_infections, pop.seed,
                             options=GenerationOptions(
                                 days=pop.days, backend=pop.backend,
                                 standard_of_care=spec.trial.standard_of_care),
                             calibration=Calibration.load(pop.calibration), engine=engine,
                             workers=workers, progress=progress)


def enrolment_delays(seed: int, patients: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Delay from the enrolment anchor (admission or intubation) to randomisation per
    patient, on the 6-hour grid of ``window``."""
    lo, hi = on_grid(np.array([window[0]]))[0], float(window[1])
    steps = int(np.floor((hi - lo) * POINTS_PER_DAY + 1e-9))
    return np.array([lo + seeded_generator(seed, ENROL_STREAM, int(p)).integers(0, steps + 1)
                     / POINTS_PER_DAY for p in patients])


@dataclass
class Cohort:
    """The eligible pool: one row per eligible patient, its untreated (control) outcomes
    and the CONSORT-style screening flow."""

    eligible: pd.DataFrame
    control: ArmOutcomes
    flow: dict[str, int]
    exclusions: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.eligible)

    def parameters(self) -> pd.DataFrame:
        return self.eligible[list(PARAMETER_COLUMNS)].reset_index(drop=True)


def _criteria(spec: TrialSpec, base: pd.DataFrame) -> dict[str, np.ndarray]:
    """Exclusion reasons (True = excluded), in the order they are applied."""
    el = spec.eligibility
    pf, spo2 = base.pf0.to_numpy(float), base.spo2_0.to_numpy(float)
    reasons: dict[str, np.ndarray] = {
        "simulation failed": ~base.ok.to_numpy(bool),
        "died before enrolment": ~base.alive_at_enrolment.to_numpy(bool),
    }
    if el.hypoxaemia:
        reasons["not hypoxaemic at enrolment (SpO2 >= 94% and P/F >= 300)"] = \
            ~((spo2 < 94) | (pf < 300))
    if el.pf_max is not None:
        reasons[f"P/F >= {el.pf_max:g} at enrolment"] = ~(pf < el.pf_max)
    if el.pf_min is not None:
        reasons[f"P/F < {el.pf_min:g} at enrolment"] = ~(pf >= el.pf_min)
    if el.ards is not None:
        inside = np.zeros(len(pf), bool)
        for band in el.ards:
            lo, hi = ARDS_BANDS[band]
            inside |= (pf >= lo) & (pf < hi)
        reasons[f"ARDS band not {'/'.join(el.ards)} at enrolment"] = ~inside
    if el.ventilated is not None:
        vent = base.support0.to_numpy(float) == IMV
        reasons["not ventilated at enrolment" if el.ventilated
                else "ventilated at enrolment"] = vent != el.ventilated
    return reasons


def screen(spec: TrialSpec, population: Population, *, engine: EngineLike = "process",
           workers: int | None = None,
           progress: Callable[[int, int], None] | None = None,
           store: Path | None = None) -> Cohort:
    """Screen ``population``: admitted patients in the age range are followed untreated to
    their enrolment time (admission + delay) and kept if they meet the criteria there.

    Arguments:
        store: a pool store folder (see :mod:`mscsim.trial._power`): the screening
            simulation is streamed to its ``screening`` chunks and resumed from them.

    Raises:
        InputError: the population lacks a needed column, or nobody is eligible.
    """
    table = population.patients
    anchor_column = f"{spec.enrolment.anchor}_day"
    need = ("patient", "status", "admission_day", anchor_column, "death_threshold", *COVARIATES,
            *PARAMETER_COLUMNS)
    missing = [c for c in dict.fromkeys(need) if c not in table.columns]
    if missing:
        raise InputError(f"population table lacks columns: {', '.join(missing)}",
                         field="population")
    stored_hash = population.manifest.get("model_sha256")
    if stored_hash is not None and stored_hash != load_model().hash:
        raise InputError("the population was generated with another version of the model "
                         "(model_sha256 differs): its admission days and parameters no longer "
                         "match", field="population", hint="regenerate the population")
    el = spec.eligibility
    flow: dict[str, int] = {"infections screened": len(table)}
    ok = table[table.status == "ok"]
    flow["plausible virtual patients"] = len(ok)
    admitted = ok[np.isfinite(ok.admission_day.to_numpy(float))]
    flow["admitted to hospital (care pathway)"] = len(admitted)
    age = admitted.age.to_numpy(float)
    in_age = admitted[(age >= el.age_min) & (age <= el.age_max)]
    exclusions = {f"age outside {el.age_min:g}-{el.age_max:g}": len(admitted) - len(in_age)}
    anchored = in_age[np.isfinite(in_age[anchor_column].to_numpy(float))]
    if spec.enrolment.anchor != "admission":
        exclusions[f"never reached the anchor ({spec.enrolment.anchor})"] = \
            len(in_age) - len(anchored)
    candidates = anchored.reset_index(drop=True)
    flow["assessed at enrolment"] = len(candidates)
    patients = candidates.patient.to_numpy(int)
    delays = enrolment_delays(spec.seed, patients, spec.enrolment.window_days)
    enrol = on_grid(candidates[anchor_column].to_numpy(float)) + delays
    base = simulate_arm(candidates[list(PARAMETER_COLUMNS)], candidates.death_threshold
                        .to_numpy(float), enrol, [[] for _ in range(len(candidates))],
                        follow_up=spec.follow_up_days, engine=engine, workers=workers,
                        progress=progress,
                        store=None if store is None else ArmStore(store, SCREENING_STAGE))
    keep = np.ones(len(candidates), bool)
    for reason, excluded in _criteria(spec, base.values).items():
        hit = excluded & keep
        exclusions[reason] = int(hit.sum())
        keep &= ~excluded
    flow["eligible"] = int(keep.sum())
    if not keep.any():
        raise InputError(f"no eligible patients among {len(table)} screened infections "
                         f"({len(admitted)} admitted)", field="eligibility",
                         hint="relax the criteria or screen more infections "
                              "(population.n_infections)")
    eligible = candidates.loc[keep, ["patient", *dict.fromkeys((*COVARIATES,
                                                                *PARAMETER_COLUMNS)),
                                     "death_threshold", "admission_day"]].copy()
    eligible["enrol_day"] = enrol[keep]
    eligible = eligible.reset_index(drop=True)
    return Cohort(eligible=eligible, control=base.rows(keep), flow=flow, exclusions=exclusions)



def screened_cohort(spec: TrialSpec, *, population: Population | None = None,
                    cohort: Cohort | None = None, engine: EngineLike = "process",
                    workers: int | None = None,
                    progress: Callable[[str, int, int], None] | None = None,
                    store: Path | None = None) -> Cohort:
    """The screened cohort of ``spec``: ``cohort`` if given, else ``population`` (loaded, or
    generated from the spec through the population store, when absent) screened; progress
    is reported per stage.

    Arguments:
        store: stream the screening simulation to this pool store folder (resumable).
    """
    if cohort is not None:
        return cohort
    if population is None:
        population = load_cohort_population(spec, engine=engine, workers=workers,
                                            progress=stage_progress(progress, "population"))
    return screen(spec, population, engine=engine, workers=workers,
                  progress=stage_progress(progress, "screening"), store=store)


def doses_for(spec: TrialSpec, eligible: pd.DataFrame, arm_name: str) -> list[list[tuple[
        float, float]]]:
    """Per patient, ``(day after infection, cells/kg)`` infusions of ``arm_name``."""
    arm = next(a for a in spec.arms if a.name == arm_name)
    out = []
    for enrol, weight in zip(eligible.enrol_day.to_numpy(float),
                             eligible.body_weight_kg.to_numpy(float), strict=True):
        out.append([(float(enrol + o), arm.cells_per_kg(weight)) for o in arm.offsets()])
    return out


def allocate(n: int, spec: TrialSpec, generator: np.random.Generator) -> np.ndarray:
    """Arm of each of ``n`` patients in enrolment order: 1 = treated (MSC), 0 = control."""
    alloc = spec.allocation
    treated = spec.treated.name
    if alloc.method == "simple":
        return (generator.random(n) < spec.treated_fraction()).astype(np.int8)
    ratio = {k: int(round(v)) for k, v in alloc.ratio.items()}
    total = sum(ratio.values())
    size = alloc.block_size or total
    per_block = np.zeros(size, np.int8)
    per_block[: ratio[treated] * size // total] = 1
    blocks = -(-n // size)
    arms = np.concatenate([generator.permutation(per_block) for _ in range(blocks)])
    return arms[:n]


def check_pool_size(pool_size: int, n: int, field: str = "sample_size") -> None:
    """Refuse a trial of ``n`` patients from an eligible pool of ``pool_size`` (checked right
    after screening, before any arm is simulated).

    Raises:
        InputError: ``n`` is larger than the pool.
    """
    if n > pool_size:
        raise InputError(f"sample size {n} is larger than the eligible pool of {pool_size} "
                         "patients", field=field,
                         hint="screen more infections (population.n_infections) or relax "
                              "the eligibility criteria")


def draw_trial(pool_size: int, spec: TrialSpec, generator: np.random.Generator,
               n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n`` (default: the spec's sample size) pool indices without replacement, in
    enrolment order, and allocate them."""
    n = spec.sample_size if n is None else n
    check_pool_size(pool_size, n)
    idx = generator.choice(pool_size, size=n, replace=False)
    return idx, allocate(n, spec, generator)
