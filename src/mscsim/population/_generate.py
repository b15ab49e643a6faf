"""Generate a virtual population: sample, simulate, filter for plausibility, derive courses."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim._provenance import MSCSIM_VERSION
from mscsim.engine import EngineLike, chunk_ranges, get_engine
from mscsim.model import PathwayRules, load_model, therapy_parameters
from mscsim.population._course import COURSE_OUTPUTS, clinical_course
from mscsim.population._sampling import death_threshold, draw_covariates, draw_parameters
from mscsim.population._tables import Calibration
from mscsim.simulate import DEFAULT_BACKEND, get_backend, output_times, simulate_batch

#: Jenner-style plausibility filter: a patient whose untreated course leaves these ranges is
#: redrawn (new random effects, same covariates). Ranges are assumptions around the
#: calibration targets: peak loads 1e4-1e10 copies/mL bracket the observed 1e8-1e9.4
#: (Wolfel 2020); IL-6 above 1000 pg/mL is beyond the ventilated range 27-277 (Herold 2020);
#: an immunocompetent patient who survives clears the virus within 60 days.
PLAUSIBLE = {
    "peak_viral_load_log10": (4.0, 10.0),
    "peak_il6_pg_ml": (0.0, 1000.0),
    "min_lymphocytes_1e9_l": (0.1, 10.0),
}
PARAMETER_COLUMNS = ("p_ifn", "k_cd8_kill", "p_il6_mac", "hazard_multiplier", "body_weight_kg",
                     "imv_available", "dexamethasone", "tocilizumab",
                     "lymphocyte_baseline_factor", "k_ab_neut")


@dataclass(frozen=True)
class GenerationOptions:
    """How a population is generated.

    Arguments:
        days: simulated horizon after infection.
        points_per_day: output resolution used to derive event times.
        max_attempts: redraws allowed per patient before it is marked implausible.
        backend: simulation back end (``roadrunner``, the reference; ``compiled``, about 2.7x
            faster per core and within 1e-4 of it at daily points; docs/performance.md).
        standard_of_care: background therapies every patient receives when eligible
            (``none``, ``dexamethasone``, ``dexamethasone+tocilizumab``; see
            :mod:`mscsim.model._standard_of_care`). The calibration targets (France,
            March-May 2020) predate both, so the calibration uses ``none``.
    """

    days: float = 60.0
    points_per_day: int = 4
    max_attempts: int = 20
    backend: str = DEFAULT_BACKEND
    standard_of_care: str = "none"

    def __post_init__(self) -> None:
        if self.days < 30:
            raise InputError("days must be at least 30 to observe the clinical course",
                             field="days")
        if self.points_per_day < 1 or self.max_attempts < 1:
            raise InputError("points_per_day and max_attempts must be at least 1",
                             field="points_per_day")
        get_backend(self.backend)  # an unknown name fails here, naming the choices
        therapy_parameters(self.standard_of_care)


@dataclass
class Population:
    """A population: one row per patient, plus the manifest (seed, options, versions)."""

    patients: pd.DataFrame
    manifest: dict[str, object]

    @property
    def ok(self) -> pd.DataFrame:
        """Patients that simulated and passed the plausibility filter."""
        return self.patients[self.patients.status == "ok"]


def _plausible_rows(course: list[dict[str, object]], ok: np.ndarray) -> np.ndarray:
    keep = ok.copy()
    for j, row in enumerate(course):
        for column, (low, high) in PLAUSIBLE.items():
            value = float(row[column])  # type: ignore[arg-type]
            keep[j] &= bool(low <= value <= high)
    return keep


def _chunk(task: tuple[np.ndarray, int, dict[str, object], GenerationOptions]) -> pd.DataFrame:
    ids, seed, calibration_values, options = task
    model = load_model()
    rules = PathwayRules.from_parameters(model.parameter_defaults)
    therapies = (therapy_parameters(options.standard_of_care)
                 if "dexamethasone" in model.parameter_defaults else {})
    calibration = Calibration(**calibration_values)  # type: ignore[arg-type]
    covariates = [draw_covariates(seed, int(i), calibration) for i in ids]
    thresholds = np.array([death_threshold(seed, int(i)) for i in ids])
    times = output_times(options.days, options.points_per_day)
    rows: list[dict[str, object]] = [{} for _ in ids]
    attempts = np.zeros(len(ids), dtype=int)
    pending = np.arange(len(ids))
    for attempt in range(options.max_attempts):
        if len(pending) == 0:
            break
        params = [{**draw_parameters(model, seed, int(ids[k]), covariates[k], calibration,
                                     attempt), **therapies} for k in pending]
        batch = simulate_batch(model, params, times=times, outputs=COURSE_OUTPUTS,
                               backend=options.backend)
        course: list[dict[str, object]] = [
            {str(k): v for k, v in row.items()}
            for row in clinical_course(batch, thresholds[pending],
                                       np.array([p["imv_available"] for p in params]),
                                       rules).to_dict("records")]
        accepted = _plausible_rows(course, batch.ok)
        attempts[pending] = attempt + 1
        for j, k in enumerate(pending):
            if accepted[j] or attempt == options.max_attempts - 1:
                rows[k] = {"patient": int(ids[k]),
                           "status": "ok" if accepted[j] else "implausible",
                           "attempts": int(attempts[k]), **covariates[k].as_dict(),
                           **{c: params[j][c] for c in PARAMETER_COLUMNS},
                           "death_threshold": float(thresholds[k]), **course[j]}
        pending = np.array([k for j, k in enumerate(pending) if not accepted[j]], dtype=int)
    return pd.DataFrame(rows)


def population_manifest(n: int, seed: int, options: GenerationOptions,
                        calibration: Calibration) -> dict[str, object]:
    """What made a population: size, seed, options, calibration, model and versions."""
    model = load_model()
    return {
        "kind": "mscsim.population",
        "n": int(n),
        "seed": int(seed),
        "options": asdict(options),
        "calibration": dict(asdict(calibration)),
        "model": model.name,
        "model_sha256": model.hash,
        "mscsim_version": MSCSIM_VERSION,
        "parameter_columns": list(PARAMETER_COLUMNS),
        "plausible_ranges": {k: list(v) for k, v in PLAUSIBLE.items()},
        "represents": "infections (not confirmed cases): every patient is infected at day 0",
    }


def check_size_and_seed(n: object, seed: object) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise InputError(f"n must be a positive integer, got {n!r}", field="n")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}", field="seed")


def population_chunks(n: int, seed: int, *, options: GenerationOptions | None = None,
                      calibration: Calibration | None = None, engine: EngineLike = "process",
                      workers: int | None = None, chunk_size: int = 1000,
                      scheduler: str | None = None, skip: Collection[int] = ()
                      ) -> Iterator[tuple[int, pd.DataFrame]]:
    """Generate a population chunk by chunk: yield ``(chunk index, patients)`` as chunks
    finish (in any order), leaving out the chunk indices in ``skip``.

    Chunk ``k`` holds patients ``k * chunk_size`` to ``(k + 1) * chunk_size - 1`` (an
    :class:`~mscsim.engine.Engine` with its own ``chunk_size`` overrides ``chunk_size``).

    Raises:
        InputError: ``n <= 0``, a negative seed, a bad chunk size or engine.
    """
    check_size_and_seed(n, seed)
    executor = get_engine(engine, workers, scheduler)
    size = executor.chunk_size or chunk_size
    options = options or GenerationOptions()
    calibration = calibration or Calibration.load()
    values = dict(asdict(calibration))
    ranges, skipped = chunk_ranges(int(n), size), set(skip)
    chunks = [k for k in range(len(ranges)) if k not in skipped]
    tasks = [(np.arange(*ranges[k]), int(seed), values, options) for k in chunks]
    for position, part in executor.imap_unordered(_chunk, tasks):
        yield chunks[position], part


def simulate_patients(ids: np.ndarray, seed: int, *, options: GenerationOptions,
                      calibration: Calibration, engine: EngineLike = "process",
                      workers: int | None = None, chunk_size: int = 1000) -> pd.DataFrame:
    """The rows that :func:`generate_population` gives patients ``ids`` (any subset, in
    order of ``ids``): a calibration re-simulates only the patients a value changes."""
    check_size_and_seed(max(len(ids), 1), seed)
    executor = get_engine(engine, workers)
    values = dict(asdict(calibration))
    ids = np.asarray(ids, dtype=np.int64)
    tasks = [(ids[i:i + chunk_size], int(seed), values, options)
             for i in range(0, len(ids), chunk_size)]
    parts = list(executor.map(_chunk, tasks))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def generate_population(n: int, seed: int, *, options: GenerationOptions | None = None,
                        calibration: Calibration | None = None, engine: EngineLike = "process",
                        workers: int | None = None, chunk_size: int = 1000,
                        scheduler: str | None = None,
                        progress: Callable[[int, int], None] | None = None) -> Population:
    """Generate ``n`` virtual infected patients, in memory (for a population too large to
    hold, stream it to a folder with :func:`mscsim.population.generate_population_folder`).

    Each patient's covariates, random effects and death threshold are drawn from
    ``SeedSequence(seed, spawn_key=(patient, stream, attempt))``, so the result is identical
    for any engine, worker count or chunk size.

    Arguments:
        n: number of patients (infections).
        seed: the one seed all randomness flows from.
        progress: called with ``(patients_done, n)`` after each chunk.

    Raises:
        InputError: ``n <= 0``, a negative seed, a bad chunk size or engine.
    """
    check_size_and_seed(n, seed)
    options = options or GenerationOptions()
    calibration = calibration or Calibration.load()
    parts: dict[int, pd.DataFrame] = {}
    done = 0
    for index, part in population_chunks(n, seed, options=options, calibration=calibration,
                                         engine=engine, workers=workers,
                                         chunk_size=chunk_size, scheduler=scheduler):
        parts[index] = part
        done += len(part)
        if progress:
            progress(done, int(n))
    patients = pd.concat([parts[k] for k in sorted(parts)], ignore_index=True)
    return Population(patients=patients,
                      manifest=population_manifest(n, seed, options, calibration))
