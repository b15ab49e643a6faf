"""``calibrate``: replicas -> one population -> one cohort per study -> arm risks on the
parameter grid -> likelihood on the studies up to the cut-off -> sensitivity; and the
bridge folder (written atomically) that ``predict`` and ``report`` read.

Randomness: the population from ``SeedSequence(population_seed)``
(:func:`mscsim.population.generate_population`); each replica's enrolment delays from its
trial seed (:func:`mscsim.bridge._replicas.study_seed`); the cohort subset of study ``s``
from ``SeedSequence(trial seed, spawn_key=(COHORT_STREAM,))``; Sobol sampling from
``SeedSequence(seed, spawn_key=(SOBOL_STREAM,))``. Nothing depends on worker count or
chunk size.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim._io import atomic_folder
from mscsim._provenance import package_versions
from mscsim._random import seeded_generator
from mscsim.bridge._calibrate import (
    EMAX_PARAMETERS,
    GRID_PARAMETERS,
    LIKELIHOODS,
    fit_table,
    goodness_of_fit,
    grid_loglik,
    profile,
    reproduction,
)
from mscsim.bridge._replicas import Replica, build_replicas, parse_cutoff, split_by_cutoff
from mscsim.bridge._risk import RiskTask, risk_tasks, run_risks
from mscsim.bridge._sensitivity import benefit_model, default_factors, sobol_indices
from mscsim.engine import EngineLike, stage_progress
from mscsim.model import load_model
from mscsim.population import GenerationOptions, Population, stored_population
from mscsim.trial import TrialSpec, doses_for, screened_cohort

COHORT_STREAM, SOBOL_STREAM, PREDICT_STREAM = 20, 21, 22
DEFAULT_CUTOFF = "2021-12-31"
CONTROL_GRID = -1  # grid index of the control arm's risks (independent of the grid)


@dataclass(frozen=True)
class BridgeOptions:
    """Sizes and grids of a bridge run.

    Arguments:
        cutoff: studies published on or before this date calibrate; later ones are predicted.
        seed: the bridge seed (replica trial seeds, cohort subsets, Sobol, prediction draws).
        n_infections: infections in the one shared virtual population.
        population_seed: its seed (default: ``seed``).
        max_cohort: eligible patients simulated per study (a seeded subset when more).
        min_cohort: a study with fewer eligible virtual patients is not replicated.
        emax_scales: grid of the common multiplier of ``EMAX_PARAMETERS``.
        ec50_values: grid of ``msc_ec50`` (secretome units).
        likelihood: ``absolute`` (the model's arm risks) or ``relative`` (its risk ratio,
            with a free control risk per study).
        sobol_n: Saltelli base sample of the sensitivity analysis (0: skip it).
        sobol_cohort: patients of the reference trial used by the sensitivity analysis.
        reference: study id of the reference trial (default: the largest replica).
        chunk_size: patients per engine task.
    """

    cutoff: str = DEFAULT_CUTOFF
    seed: int = 1
    n_infections: int = 20000
    population_seed: int | None = None
    max_cohort: int = 40
    min_cohort: int = 10
    emax_scales: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    ec50_values: tuple[float, ...] = (3.0, 10.0, 30.0)
    likelihood: str = "absolute"
    sobol_n: int = 16
    sobol_cohort: int = 16
    reference: str | None = None
    chunk_size: int = 50

    def __post_init__(self) -> None:
        parse_cutoff(self.cutoff)
        for name in ("seed", "n_infections", "max_cohort", "min_cohort", "sobol_n",
                     "sobol_cohort", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{name} must be a non-negative integer, got {value!r}",
                                 field=name)
        if self.n_infections < 1 or self.max_cohort < 1 or self.chunk_size < 1:
            raise InputError("n_infections, max_cohort and chunk_size must be positive",
                             field="n_infections")
        if not self.emax_scales or min(self.emax_scales) < 0:
            raise InputError("emax_scales must be non-negative numbers", field="emax_scales")
        if self.likelihood not in LIKELIHOODS:
            raise InputError(f"unknown likelihood {self.likelihood!r}", field="likelihood",
                             hint="choose one of: " + ", ".join(LIKELIHOODS))
        if not self.ec50_values or min(self.ec50_values) <= 0:
            raise InputError("ec50_values must be positive numbers", field="ec50_values")

    @property
    def pop_seed(self) -> int:
        return self.seed if self.population_seed is None else self.population_seed

    def grid(self) -> pd.DataFrame:
        """The parameter grid: ``grid`` index, ``emax_scale``, ``msc_ec50``."""
        pairs = [(s, e) for s in sorted(set(self.emax_scales))
                 for e in sorted(set(self.ec50_values))]
        return pd.DataFrame({"grid": np.arange(len(pairs)),
                             "emax_scale": [float(p[0]) for p in pairs],
                             "msc_ec50": [float(p[1]) for p in pairs]})


def grid_overrides(emax_scale: float, ec50: float) -> dict[str, float]:
    """Model parameter overrides of one grid point."""
    table = load_model().required_parameter_table()
    out = {n: float(table[n].value) * emax_scale for n in EMAX_PARAMETERS}
    out["msc_ec50"] = float(ec50)
    return out


@dataclass
class StudyCohort:
    """The simulated cohort of one replica."""

    replica: Replica
    spec: TrialSpec  # the replica's trial spec (a replica without one has no cohort)
    eligible: pd.DataFrame  # the simulated subset, with enrol_day and parameters
    pool: int  # eligible patients before the subset
    flow: dict[str, int]


@dataclass
class BridgeResult:
    """What ``calibrate`` found; :func:`write_bridge` stores it, :func:`read_bridge` reads it."""

    options: BridgeOptions
    replicas: pd.DataFrame  # one row per study (replicable or not, with the reason)
    specs: dict[str, Any]  # study id -> trial spec (JSON-able)
    risks: pd.DataFrame  # study_id, grid, emax_scale, msc_ec50, p_treated, p_control, ...
    likelihood: pd.DataFrame  # one row per grid point
    calibration: dict[str, Any]
    fit: pd.DataFrame  # calibration studies: observed vs fitted arm mortality
    sensitivity: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)




def _cohorts(replicas: list[Replica], population: Population, options: BridgeOptions, *,
             engine: EngineLike, workers: int | None,
             progress: Callable[[str, int, int], None] | None
             ) -> tuple[list[StudyCohort], dict[str, str]]:
    out, refused = [], {}
    for rep in replicas:
        spec = rep.spec
        if spec is None:
            raise ValueError(f"{rep.study_id} is not replicable ({rep.reason}): it has no "
                             "cohort to screen")
        try:
            cohort = screened_cohort(spec, population=population, engine=engine,
                                     workers=workers,
                                     progress=_named(progress, f"screening {rep.study_id}"))
        except InputError as err:
            refused[rep.study_id] = f"no eligible virtual patients ({err})"
            continue
        el = cohort.eligible
        if len(el) < max(options.min_cohort, 1):
            refused[rep.study_id] = (f"only {len(el)} eligible virtual patients (fewer than "
                                     f"{options.min_cohort}); screen more infections")
            continue
        if len(el) > options.max_cohort:
            pick = seeded_generator(spec.seed, COHORT_STREAM).choice(
                len(el), options.max_cohort, replace=False)
            el = el.iloc[np.sort(pick)].reset_index(drop=True)
        out.append(StudyCohort(rep, spec, el, cohort.size, dict(cohort.flow)))
    return out, refused


def check_reference(reference: str | None, study_ids: list[str], why: str) -> None:
    """Refuse a sensitivity reference study that is not among ``study_ids``.

    Raises:
        InputError: naming the study, ``why`` it is unusable and the usable ones.
    """
    if reference is not None and reference not in study_ids:
        raise InputError(f"reference study {reference!r} {why}", field="reference",
                         hint="choose one of: " + ", ".join(sorted(study_ids)))


def _named(progress: Callable[[str, int, int], None] | None,
           stage: str) -> Callable[[str, int, int], None] | None:
    if progress is None:
        return None
    return lambda _stage, done, total: progress(f"{stage} ({_stage})", done, total)


def simulate_risks(cohorts: list[StudyCohort], grid: pd.DataFrame, *, chunk_size: int,
                   engine: EngineLike, workers: int | None,
                   progress: Callable[[int, int], None] | None) -> pd.DataFrame:
    """Expected arm mortality of every study at every grid point (treated) and untreated."""
    points = list(zip(grid.grid.astype(int).tolist(), grid.emax_scale.astype(float).tolist(),
                      grid.msc_ec50.astype(float).tolist(), strict=True))
    tasks: list[RiskTask] = []
    for s, c in enumerate(cohorts):
        spec = c.spec
        params = c.eligible[["p_ifn", "k_cd8_kill", "p_il6_mac", "hazard_multiplier",
                             "body_weight_kg"]]
        enrol = c.eligible.enrol_day.to_numpy(float)
        doses = doses_for(spec, c.eligible, spec.treated.name)
        none: list[list[tuple[float, float]]] = [[] for _ in doses]
        tasks += risk_tasks((s, CONTROL_GRID), params, enrol, none, spec.follow_up_days, {},
                            chunk_size)
        for g, scale, ec50 in points:
            tasks += risk_tasks((s, g), params, enrol, doses, spec.follow_up_days,
                                grid_overrides(scale, ec50), chunk_size)
    probs = run_risks(tasks, engine=engine, workers=workers, progress=progress)
    rows = []
    for s, c in enumerate(cohorts):
        control = probs[(s, CONTROL_GRID)]
        for g, scale, ec50 in points:
            treated = probs[(s, g)]
            ok = np.isfinite(treated) & np.isfinite(control)
            rows.append({"study_id": c.replica.study_id, "grid": g,
                         "emax_scale": scale, "msc_ec50": ec50,
                         "p_treated": float(np.mean(treated[ok])) if ok.any() else np.nan,
                         "p_control": float(np.mean(control[ok])) if ok.any() else np.nan,
                         "patients": int(ok.sum())})
    return pd.DataFrame(rows)


def observed_table(replicas: list[Replica]) -> pd.DataFrame:
    """Published counts of ``replicas``: ``study_id, ai, n1, ci, n2``."""
    return pd.DataFrame([{"study_id": r.study_id, **r.observed} for r in replicas],
                        columns=["study_id", "ai", "n1", "ci", "n2"])


def calibrate(options: BridgeOptions | None = None, *, studies: pd.DataFrame | None = None,
              outcomes: pd.DataFrame | None = None, population: Population | None = None,
              engine: EngineLike = "process", workers: int | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> BridgeResult:
    """Build the replicas, simulate them on the parameter grid and calibrate on the studies
    published up to ``options.cutoff``.

    Arguments:
        options: sizes, grids, cut-off and seed.
        studies, outcomes: evidence frames (default: the shipped dataset).
        population: a population to screen instead of generating one.

    Raises:
        InputError: a malformed cut-off, no replicable study up to the cut-off, no eligible
            virtual patients for any calibration study, bad options.
    """
    options = options or BridgeOptions()
    cutoff = parse_cutoff(options.cutoff)
    clock = {"start": time.perf_counter()}
    replicas = build_replicas(seed=options.seed, n_infections=options.n_infections,
                              population_seed=options.pop_seed, studies=studies,
                              outcomes=outcomes)
    split_by_cutoff(replicas, cutoff)  # fail early, before any simulation
    usable = [r for r in replicas if r.replicable]
    if options.sobol_n:
        check_reference(options.reference, [r.study_id for r in usable],
                        "is not a replicable study of the evidence dataset")
    if population is None:
        population = stored_population(
            options.n_infections, options.pop_seed, options=GenerationOptions(), engine=engine,
            workers=workers, progress=stage_progress(progress, "population"))
    clock["population"] = time.perf_counter()
    cohorts, refused = _cohorts(usable, population, options, engine=engine, workers=workers,
                                progress=progress)
    clock["screening"] = time.perf_counter()
    if options.sobol_n:  # before the grid is simulated: the screening may have refused it
        check_reference(options.reference, [c.replica.study_id for c in cohorts],
                        "has too few eligible virtual patients to be replicated")
    kept = {c.replica.study_id for c in cohorts}
    before, after = split_by_cutoff([r for r in usable if r.study_id in kept], cutoff)
    grid = options.grid()
    risks = simulate_risks(cohorts, grid, chunk_size=options.chunk_size, engine=engine,
                           workers=workers, progress=stage_progress(progress, "arm risks"))
    clock["risks"] = time.perf_counter()
    observed = observed_table(before)
    lik = grid_loglik(risks, observed, options.likelihood)
    profiles = {p: profile(lik, p) for p in GRID_PARAMETERS}
    best = int(lik.grid[int(np.argmax(lik.loglik.to_numpy()))])
    fit = fit_table(risks, observed, best, options.likelihood)
    # the reproduction check always compares the model's own arm risks with the evidence
    own = fit if options.likelihood == "absolute" else fit_table(risks, observed, best)
    calibration = {
        "cutoff": cutoff.isoformat(),
        "likelihood": options.likelihood,
        "calibration_studies": [r.study_id for r in before],
        "prediction_studies": [r.study_id for r in after],
        "mle": {k: float(v) for k, v in
                lik.loc[lik.grid == best, list(GRID_PARAMETERS)].iloc[0].items()},
        "mle_grid": best,
        "max_loglik": float(lik.loglik.max()),
        "profiles": {k: p.to_dict() for k, p in profiles.items()},
        "goodness_of_fit": goodness_of_fit(fit, len(GRID_PARAMETERS)),
        "reproduction": reproduction(own),
        "uncertainty": "profile likelihood on the grid (95% LR intervals); prediction draws "
                       "grid points with weights proportional to the likelihood (flat prior "
                       "on the grid)",
    }
    sens = pd.DataFrame()
    cohort_by_id = {c.replica.study_id: c for c in cohorts}
    if options.sobol_n:
        ref_id = options.reference or max(
            cohorts, key=lambda c: (c.spec.sample_size, c.replica.study_id)).replica.study_id
        ref = cohort_by_id[ref_id]
        spec = ref.spec
        el = ref.eligible.iloc[: options.sobol_cohort].reset_index(drop=True)
        factors = default_factors()
        evaluate = benefit_model(
            el[["p_ifn", "k_cd8_kill", "p_il6_mac", "hazard_multiplier", "body_weight_kg"]],
            el.enrol_day.to_numpy(float), doses_for(spec, el, spec.treated.name),
            spec.follow_up_days, factors, engine=engine, workers=workers,
            chunk_size=options.chunk_size, progress=stage_progress(progress, "sensitivity"))
        seed = int(np.random.SeedSequence(options.seed, spawn_key=(SOBOL_STREAM,))
                   .generate_state(1)[0])
        sens = sobol_indices(evaluate, factors, options.sobol_n, seed)
        sens.insert(0, "reference", ref_id)
        calibration["sensitivity_reference"] = {"study_id": ref_id, "patients": len(el)}
    clock["sensitivity"] = time.perf_counter()
    table = pd.DataFrame([r.row() for r in replicas])
    table["role"] = ["calibration" if r.study_id in {b.study_id for b in before} else
                     "prediction" if r.study_id in {a.study_id for a in after} else "none"
                     for r in replicas]
    for sid, reason in refused.items():
        table.loc[table.study_id == sid, "replicable"] = False
        table.loc[table.study_id == sid, "reason"] = reason
    table["eligible_pool"] = [cohort_by_id[s].pool if s in cohort_by_id else None
                              for s in table.study_id]
    table["simulated_patients"] = [len(cohort_by_id[s].eligible) if s in cohort_by_id
                                   else None for s in table.study_id]
    model = load_model()
    manifest = {
        "kind": "mscsim.bridge", "cutoff": cutoff.isoformat(), "seed": options.seed,
        "options": {k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in asdict(options).items()},
        "model": model.name, "model_sha256": model.hash, "versions": package_versions(),
        "population": {"n_infections": options.n_infections, "seed": options.pop_seed,
                       "manifest_seed": population.manifest.get("seed")},
        "timings_s": {k: round(v - clock["start"], 2) for k, v in clock.items()
                      if k != "start"},
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    specs = {c.replica.study_id: c.spec.model_dump(mode="json") for c in cohorts}
    return BridgeResult(options, table, specs, risks, lik, calibration, fit, sens, manifest)


FILES = ("manifest.json", "replicas.csv", "specs.json", "risks.csv", "likelihood.csv",
         "calibration.json", "fit.csv", "sensitivity.csv")


def write_bridge(result: BridgeResult, folder: str | Path, *, overwrite: bool = False,
                 contents_at_start: set[Path] | None = None) -> Path:
    """Write the bridge folder atomically (see ``docs/bridge.md`` for its files, and
    :func:`mscsim._io.atomic_folder` for ``contents_at_start``)."""
    with atomic_folder(folder, overwrite=overwrite, contents_at_start=contents_at_start) as tmp:
        (tmp / "manifest.json").write_text(json.dumps(result.manifest, indent=2) + "\n")
        result.replicas.to_csv(tmp / "replicas.csv", index=False)
        (tmp / "specs.json").write_text(json.dumps(result.specs, indent=2) + "\n")
        result.risks.to_csv(tmp / "risks.csv", index=False)
        result.likelihood.to_csv(tmp / "likelihood.csv", index=False)
        (tmp / "calibration.json").write_text(json.dumps(result.calibration, indent=2) + "\n")
        result.fit.to_csv(tmp / "fit.csv", index=False)
        result.sensitivity.to_csv(tmp / "sensitivity.csv", index=False)
    return Path(folder)


def read_bridge(folder: str | Path) -> BridgeResult:
    """Read a bridge folder written by :func:`write_bridge`.

    Raises:
        InputError: not a bridge folder, or a file is missing.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError("bridge folder not found", file=root,
                         hint="run `mscsim bridge calibrate -o DIR` first")
    for name in FILES:
        if not (root / name).is_file():
            raise InputError(f"not a bridge folder: {name} is missing", file=root)
    manifest = json.loads((root / "manifest.json").read_text())
    if manifest.get("kind") != "mscsim.bridge":
        raise InputError("not a bridge folder (manifest kind)", file=root / "manifest.json")
    opts: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                            for k, v in manifest["options"].items()}

    def csv(name: str) -> pd.DataFrame:
        path = root / name
        return pd.read_csv(path) if path.stat().st_size > 1 else pd.DataFrame()

    return BridgeResult(BridgeOptions(**opts), csv("replicas.csv"),
                        json.loads((root / "specs.json").read_text()), csv("risks.csv"),
                        csv("likelihood.csv"), json.loads((root / "calibration.json")
                                                          .read_text()),
                        csv("fit.csv"), csv("sensitivity.csv"), manifest)
