"""Potential outcomes: one simulation of each patient under one arm, reduced to the values
the endpoints need.

Times are days after infection on a common grid of ``POINTS_PER_DAY`` points a day;
randomisation ("day 0" of the trial) is a grid time per patient. A patient dies when the
cumulative hazard under support (:func:`mscsim.model.pathway_and_death`, as in
``mscsim.population``) reaches the patient's unit-exponential threshold from the population
table: the threshold is the same in every
arm, so a treatment changes a patient's fate only through the hazard.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mscsim._errors import InputError
from mscsim.engine import EngineLike, chunk_ranges, get_engine
from mscsim.model import IMV, PATHWAY_INPUTS, PathwayRules, load_model, pathway_and_death
from mscsim.simulate import BatchResult, Regimen, output_times, simulate_batch
from mscsim.store import read_chunk, resumable_chunks, write_chunk

POINTS_PER_DAY = 4
#: MSC potency parameters set to zero in the null model (cells still distribute, no effect)
NULL_POTENCY = {"msc_emax_tnf": 0.0, "msc_emax_il6": 0.0, "msc_emax_il10": 0.0,
                "msc_emax_repair": 0.0, "k_treg_msc": 0.0}
OUTPUTS = tuple(dict.fromkeys(("il6_pg_ml", "tnf_pg_ml", "il10_pg_ml", "lymphocytes_1e9_l",
                               "pf_ratio_mmhg", "spo2_pct", *PATHWAY_INPUTS, "cum_hazard")))
#: daily trajectory columns kept for reports (NaN after death; who 10 after death)
TRAJECTORY = ("il6", "tnf", "il10", "lymphocytes", "pf", "who")
_TRAJ_SOURCE = ("il6_pg_ml", "tnf_pg_ml", "il10_pg_ml", "lymphocytes_1e9_l", "pf_ratio_mmhg")
BIOMARKER_SOURCE = {"il6": "il6_pg_ml", "tnf": "tnf_pg_ml", "il10": "il10_pg_ml",
                    "lymphocytes": "lymphocytes_1e9_l"}
DISCHARGE_WHO = 3  # WHO 0-3: ambulatory (discharged)
#: an improvement counts once it has held this long (or until the end of follow-up); a
#: patient who improves and then worsens or dies within it has not improved (assumption:
#: two days, the usual "sustained for at least 48 hours")
SUSTAINED_IMPROVEMENT_DAYS = 2.0
#: version of the outcome definitions above; part of a power pool's identity, so a pool
#: simulated under other definitions is not resumed
OUTCOME_DEFINITIONS = 4
#: days alive and out of hospital of a patient who dies by day 28: below every survivor (a
#: survivor in hospital throughout scores 0), the organ-support-free-days convention of
#: REMAP-CAP (Angus et al. 2020, JAMA 324:1317, doi:10.1001/jama.2020.17022)
DAOH_DEATH_SCORE = -1.0
#: patients per task (and per stored chunk) of a simulated arm, unless the engine sets one
ARM_CHUNK_SIZE = 250


def on_grid(day: np.ndarray) -> np.ndarray:
    """Round days up to the simulation grid."""
    return np.ceil(np.asarray(day, dtype=float) * POINTS_PER_DAY - 1e-9) / POINTS_PER_DAY


@dataclass
class ArmOutcomes:
    """Per-patient outcome values under one arm (rows in the order simulated).

    ``values`` columns (days after randomisation): ``ok``, ``alive_at_enrolment``,
    ``pf0``, ``spo2_0``, ``who0``, ``support0`` (care-pathway support level at
    randomisation, -1 outside hospital), ``death_time`` (NaN: alive at the end of follow-up),
    ``improve_time`` (NaN: not improved), ``vfd_d28`` (days alive and free of invasive
    ventilation to day 28, 0 for deaths), ``daoh_d28`` (days alive and out of hospital in
    days 0-28, :data:`DAOH_DEATH_SCORE` for deaths), ``who_d{D}``, ``pf_d{D}``,
    ``{biomarker}_d{D}`` (NaN when dead), ``pf_last_d{D}``, ``{biomarker}_last_d{D}`` (the
    value at the last grid point alive on or before day D). ``daily`` has shape
    ``(patients, days + 1, len(TRAJECTORY))``.
    """

    values: pd.DataFrame
    daily: np.ndarray

    def rows(self, keep: np.ndarray) -> ArmOutcomes:
        """The patients selected by the boolean mask ``keep``, in order."""
        return ArmOutcomes(values=self.values[keep].reset_index(drop=True),
                           daily=self.daily[keep])


def sustained_from(condition: np.ndarray, points: int) -> np.ndarray:
    """Where ``condition`` (patients, grid points) holds from that point on for ``points``
    further grid points, or without a break to the end of the grid."""
    n_t = condition.shape[1]
    run = np.zeros(condition.shape, dtype=int)  # consecutive true points from here on
    following = np.zeros(condition.shape[0], dtype=int)
    for j in range(n_t - 1, -1, -1):
        following = np.where(condition[:, j], following + 1, 0)
        run[:, j] = following
    to_end = run == (n_t - np.arange(n_t))[None, :]
    return condition & ((run >= points + 1) | to_end)


def reduce_course(values: np.ndarray, times: np.ndarray, thresholds: np.ndarray,
                  enrol_days: np.ndarray, follow_up: float, ok: np.ndarray,
                  imv_available: np.ndarray, rules: PathwayRules) -> ArmOutcomes:
    """Reduce simulated trajectories ``values`` (patients, times, OUTPUTS) from infection to
    outcomes; the care pathway (support, WHO level) runs over the whole course."""
    n = values.shape[0]
    get = {name: values[:, :, k] for k, name in enumerate(OUTPUTS)}
    start = np.rint(enrol_days * POINTS_PER_DAY).astype(int)
    steps = int(round(follow_up * POINTS_PER_DAY))
    days = int(math.floor(follow_up))
    rows = np.arange(n)
    window = start[:, None] + np.arange(steps + 1)[None, :]  # grid indices of follow-up
    window = np.minimum(window, len(times) - 1)
    rel = np.arange(steps + 1) / POINTS_PER_DAY

    fate = pathway_and_death({name: get[name] for name in PATHWAY_INPUTS}, get["cum_hazard"],
                             times, imv_available, rules, thresholds)
    death_abs, path = fate.death_day, fate.pathway
    get["who_scale"] = path.who.astype(float)
    get["support"] = path.support.astype(float)
    death = death_abs - enrol_days
    alive_at_enrol = ~(death <= 0)
    death_fu = np.where(death <= follow_up, death, np.nan)
    alive = ~(rel[None, :] >= np.where(np.isfinite(death_fu), death_fu, np.inf)[:, None])

    def at(name: str) -> np.ndarray:
        return get[name][rows[:, None], window]

    who, pf = at("who_scale"), at("pf_ratio_mmhg")
    out: dict[str, np.ndarray] = {
        "ok": ok.astype(bool),
        "alive_at_enrolment": alive_at_enrol,
        "pf0": pf[:, 0], "spo2_0": at("spo2_pct")[:, 0], "who0": who[:, 0],
        "support0": at("support")[:, 0],
        "death_time": death_fu,
    }
    target = np.maximum(who[:, :1] - 2, DISCHARGE_WHO)  # 2 better, or discharged
    improved = (who <= target) & alive
    improved[:, 0] = False
    sustained = sustained_from(improved, int(round(SUSTAINED_IMPROVEMENT_DAYS * POINTS_PER_DAY)))
    hit = sustained.any(axis=1)
    out["improve_time"] = np.where(hit, rel[sustained.argmax(axis=1)], np.nan)
    if follow_up >= 28:
        upto = rel <= 28
        free = alive & (at("support") != IMV) & upto[None, :]
        vfd = free[:, 1:].sum(axis=1) / POINTS_PER_DAY
        died28 = np.isfinite(death_fu) & (death_fu <= 28)
        out["vfd_d28"] = np.where(died28, 0.0, vfd)
        # each quarter-day [t, t + 1/4) counts by the state at its start, so a discharge at
        # day r (support -1 from r on: no readmission in the pathway) gives exactly 28 - r
        home = alive & (at("support") < 0) & (rel < 28)[None, :]
        out["daoh_d28"] = np.where(died28, DAOH_DEATH_SCORE,
                                   home.sum(axis=1) / POINTS_PER_DAY)
    last_alive = np.maximum(alive.sum(axis=1) - 1, 0)  # alive holds from 0 until death
    for d in (3, 6, 7, 14, 28):
        if d > follow_up:
            continue
        k = d * POINTS_PER_DAY
        dead = ~alive[:, k]
        out[f"who_d{d}"] = np.where(dead, 10.0, who[:, k])
        out[f"pf_d{d}"] = np.where(dead, np.nan, pf[:, k])
        last = np.minimum(k, last_alive)
        out[f"pf_last_d{d}"] = pf[rows, last]
        for short, source in BIOMARKER_SOURCE.items():
            value = at(source)
            out[f"{short}_d{d}"] = np.where(dead, np.nan, value[:, k])
            out[f"{short}_last_d{d}"] = value[rows, last]
    for short, source in BIOMARKER_SOURCE.items():
        out[f"{short}_d0"] = at(source)[:, 0]
    daily_index = np.arange(days + 1) * POINTS_PER_DAY
    daily = np.stack([at(src)[:, daily_index] for src in (*_TRAJ_SOURCE, "who_scale")], axis=2)
    dead_daily = ~alive[:, daily_index]
    daily[:, :, :5][dead_daily] = np.nan
    daily[:, :, 5][dead_daily] = 10.0
    bad = ~ok.astype(bool)
    frame = pd.DataFrame(out)
    if bad.any():
        numeric = [c for c in frame.columns if c not in ("ok",)]
        # a failed simulation has no outcome: flags become float so that they can hold NaN
        flags = [c for c in numeric if frame[c].dtype == bool]
        frame[flags] = frame[flags].astype(float)
        frame.loc[bad, numeric] = np.nan
        daily[bad] = np.nan
    return ArmOutcomes(values=frame, daily=daily)


@dataclass(frozen=True)
class ArmStore:
    """Finished chunks of one simulated arm on disk: ``folder/stage/chunk-NNNNNN.parquet``,
    chunk ``k`` holding the outcomes of patients ``k * chunk_size`` onwards (the layout and
    atomic writes of :mod:`mscsim.store`; the folder's manifest is opened by the
    caller). Each file holds the ``values`` columns and the flattened ``daily`` array."""

    folder: Path
    stage: str

    def finished(self) -> dict[int, Path]:
        """Chunks already written whose checksums match (a damaged one is recomputed)."""
        return resumable_chunks(self.folder, self.stage)

    def write(self, index: int, outcomes: ArmOutcomes) -> None:
        table = pa.Table.from_pandas(outcomes.values, preserve_index=False)
        n = len(outcomes.values)
        flat = np.ascontiguousarray(outcomes.daily, dtype=float).reshape(-1)
        daily = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float64()),
                                                  flat.size // n if n else 1)
        write_chunk(self.folder, index, table.append_column(_DAILY, daily), self.stage)

    def read(self, index: int, rows: int, path: Path | None = None) -> ArmOutcomes:
        """Chunk ``index`` (at ``path``, when known), which must hold ``rows`` patients."""
        path = path or self.finished()[index]
        table = read_chunk(path)
        if table.num_rows != rows or _DAILY not in table.column_names:
            raise InputError(f"chunk {index} has {table.num_rows} rows, expected {rows}",
                             file=path, hint="delete the file and run the same command "
                                             "again, or pass --overwrite")
        daily = table.column(_DAILY).combine_chunks().flatten().to_numpy(zero_copy_only=False)
        values = table.drop_columns([_DAILY]).to_pandas()
        return ArmOutcomes(values=values,
                           daily=daily.astype(float).reshape(rows, -1, len(TRAJECTORY)))


_DAILY = "daily"


@dataclass(frozen=True)
class _Task:
    parameters: list[dict[str, float]]
    thresholds: np.ndarray
    enrol_days: np.ndarray
    doses: list[list[tuple[float, float]]]  # per patient: (day after infection, cells/kg)
    horizon: float
    follow_up: float


def simulate_from_infection(parameters: Sequence[Mapping[str, float]],
                            doses: Sequence[Sequence[tuple[float, float]]], horizon: float,
                            outputs: Sequence[str]) -> tuple[np.ndarray, BatchResult]:
    """Simulate patients from infection to ``horizon`` on the trial grid, each with its own
    doses (days after infection, cells/kg); returns the output times and the batch."""
    times = output_times(horizon, POINTS_PER_DAY)
    regimens = [Regimen.of(d) for d in doses]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return times, simulate_batch(load_model(), parameters, regimens=regimens,
                                     times=times, outputs=outputs)


def _run_chunk(task: _Task) -> ArmOutcomes:
    times, batch = simulate_from_infection(task.parameters, task.doses, task.horizon, OUTPUTS)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return reduce_course(batch.values, times, task.thresholds, task.enrol_days,
                             task.follow_up, batch.ok,
                             np.array([p.get("imv_available", 1.0) for p in task.parameters]),
                             PathwayRules.from_parameters(load_model().parameter_defaults))


def horizon_for(enrol_days: np.ndarray, follow_up: float) -> float:
    """Simulated horizon (days after infection) covering every patient's follow-up."""
    latest = float(np.max(enrol_days)) if len(enrol_days) else 0.0
    return float(math.ceil(latest + follow_up + 1))


def simulate_arm(parameters: pd.DataFrame, thresholds: np.ndarray, enrol_days: np.ndarray,
                 doses: Sequence[Sequence[tuple[float, float]]], *, follow_up: float,
                 horizon: float | None = None, null: bool = False, engine: EngineLike = "process",
                 workers: int | None = None, chunk_size: int = ARM_CHUNK_SIZE,
                 progress: Callable[[int, int], None] | None = None,
                 store: ArmStore | None = None) -> ArmOutcomes:
    """Simulate patients under one arm and reduce each course to its outcomes.

    Arguments:
        parameters: one row per patient, one column per model parameter override.
        thresholds: each patient's death threshold on the cumulative hazard.
        enrol_days: randomisation time of each patient (days after infection, on the grid).
        doses: per patient, ``(day after infection, cells/kg)`` infusions (empty: placebo).
        follow_up: days after randomisation.
        null: zero MSC potency (:data:`NULL_POTENCY`).
        store: write each chunk's outcomes there as soon as it is simulated, and read the
            chunks already there instead of simulating them again (a resumed run). Results
            do not depend on the chunk size: every patient is simulated on its own.

    Raises:
        InputError: a stored chunk is damaged or does not fit; a chunk cannot be written.
    """
    n = len(parameters)
    executor = get_engine(engine, workers)
    enrol_days = np.asarray(enrol_days, dtype=float)
    thresholds = np.asarray(thresholds, dtype=float)
    horizon = horizon if horizon is not None else horizon_for(enrol_days, follow_up)
    records: list[dict[str, float]] = [{str(k): float(v) for k, v in r.items()}
                                       for r in parameters.to_dict("records")]
    if null:
        records = [{**r, **NULL_POTENCY} for r in records]
    ranges = chunk_ranges(n, executor.chunk_size or chunk_size)
    parts: dict[int, ArmOutcomes] = {}
    if store is not None:
        stored = store.finished()
        extra = [k for k in stored if k >= len(ranges)]
        if extra:
            raise InputError(f"chunk {extra[0]} is beyond the {len(ranges)} chunks of this "
                             "arm", file=stored[extra[0]], hint="pass --overwrite")
        for k, path in stored.items():
            parts[k] = store.read(k, ranges[k][1] - ranges[k][0], path)
    done = sum(len(p.values) for p in parts.values())
    if progress and done:
        progress(done, n)
    todo = [k for k in range(len(ranges)) if k not in parts]
    tasks = [_Task(records[a:b], thresholds[a:b], enrol_days[a:b],
                   [list(d) for d in doses[a:b]], horizon, follow_up)
             for a, b in (ranges[k] for k in todo)]
    for position, part in executor.imap_unordered(_run_chunk, tasks):
        if store is not None:
            store.write(todo[position], part)
        parts[todo[position]] = part
        done += len(part.values)
        if progress:
            progress(done, n)
    if not parts:
        empty = reduce_course(np.zeros((0, 2, len(OUTPUTS))), np.array([0.0, horizon]),
                              np.zeros(0), np.zeros(0), follow_up, np.zeros(0, bool),
                              np.zeros(0), PathwayRules.from_parameters(
                                  load_model().parameter_defaults))
        return empty
    ordered = [parts[k] for k in range(len(ranges))]
    return ArmOutcomes(values=pd.concat([p.values for p in ordered], ignore_index=True),
                       daily=np.concatenate([p.daily for p in ordered], axis=0))
