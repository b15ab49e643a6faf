"""Replicated trials: power, type I error, effect distribution, sample-size search.

**Potential-outcomes pool.** Every eligible patient of the screened cohort is simulated once
per arm (the untreated course comes free with screening). Replicate ``r`` samples ``N``
patients from the pool without replacement, randomises them with its own generator
(``SeedSequence(spec.seed, spawn_key=(REPLICATE_STREAM, r))``) and reads each patient's
outcome under the assigned arm. This equals re-simulating the same patients in their
assigned arm (tested), at the cost of one simulation per patient and arm instead of one
per patient and replicate. Replicates are draws from the *pool*, a finite sample of the
super-population; they behave as independent trials from the super-population when the
pool is much larger than the trial (``pool >= 10 N`` is flagged as valid): then two
replicates share few patients and the pool's own sampling error is small next to the
trial's.

**Type I error.** The same design with MSC potency zero: both arms then have the control
potential outcomes (the null model's MSC arm equals placebo; tested), so the null
replicates reuse the untreated pool.

**Streamed and resumable.** Given an output ``folder``, every simulated arm is written
chunk by chunk to ``folder/pool/<stage>/chunk-NNNNNN.parquet`` as it is computed (stages
``screening`` = the control outcomes, ``treated``; with ``method="resimulate"`` also
``resimulated-effect`` and ``resimulated-null``, the potency-zero arm), with the store
helpers of :mod:`mscsim.population._store` (atomic writes, a manifest). The manifest holds
what decides the results: the spec's canonical content (seeds included), the screened
population's identity, replicates, method, chunk size, model hash and package versions. The
same call on a folder holding an interrupted run reads the finished chunks back instead of
simulating them again and gives identical results (each patient is simulated on its own, so
chunk boundaries do not change anything); a folder begun with other settings is refused. A
population the spec generates is kept in the population store
(:mod:`mscsim.population._cache`) and resumed from there.

**Power curve.** ``sample_sizes`` gives power, type I error and the effect distribution at
each of several total sample sizes, from the same pool and the same replicate seeds (common
random numbers, so the curve is smooth in ``n``); each point says whether the pool is valid
for it.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim._io import atomic_path, folder_lock, write_text_atomic
from mscsim._random import seeded_generator
from mscsim.engine import EngineLike, get_engine, stage_progress
from mscsim.model import load_model
from mscsim.population import Population, read_population_manifest
from mscsim.store import open_store, resumable_chunks, store_manifest
from mscsim.trial._analysis import ANALYSERS, BatchEstimates, analyse_batch
from mscsim.trial._endpoints import endpoint_of
from mscsim.trial._enrol import (
    REPLICATE_STREAM,
    SCREENING_STAGE,
    Cohort,
    check_pool_size,
    doses_for,
    draw_trial,
    screened_cohort,
)
from mscsim.trial._power_options import PowerOptions
from mscsim.trial._run import _clean, options_of
from mscsim.trial._simulate import ARM_CHUNK_SIZE, OUTCOME_DEFINITIONS, ArmStore, simulate_arm
from mscsim.trial._spec import TrialSpec

POOL_RATIO_VALID = 10.0
PILOT_PATTERN = "all_treated_recover_and_a_control_dies"
#: sub-folder of a power analysis's output folder holding the pool store
POOL_DIR = "pool"
TREATED_STAGE = "treated"
RESIMULATED_STAGES = ("resimulated-effect", "resimulated-null")
POOL_KIND = "mscsim.trial.pool"
#: manifest entries that decide the results: a pool begun with other values is not resumed
POOL_IDENTITY = ("kind", "spec", "population", "replicates", "method", "chunk_size",
                 "model_sha256", "outcome_definitions", "versions")
_NOT_IDENTITY = ("versions", "layout", "chunk_size", "n_chunks", "manifest_sha256")


def _population_identity(spec: TrialSpec, population: Population | None) -> Any:
    """What identifies the screened population beyond the spec: the manifest of a given or
    stored population (without its layout); None when the spec generates it."""
    manifest: dict[str, Any] | None = None
    if population is not None:
        manifest = population.manifest
    elif spec.population.source == "folder" and spec.population.path is not None:
        try:
            manifest = read_population_manifest(Path(spec.population.path))
        except InputError:
            return None  # reading the population will say what is wrong
    if manifest is None:
        return None
    clean: Any = json.loads(json.dumps({k: v for k, v in manifest.items()
                                        if k not in _NOT_IDENTITY}, default=str))
    return clean


def pool_manifest(spec: TrialSpec, replicates: int, method: str, chunk_size: int,
                  population: Population | None = None) -> dict[str, Any]:
    """The manifest of a power analysis's pool store (see the module docstring)."""
    spec_content = json.loads(spec.model_dump_json())
    manifest = {"kind": POOL_KIND, "spec": spec_content,
                "population": _population_identity(spec, population),
                "replicates": int(replicates), "method": method,
                "model_sha256": load_model().hash,
                "outcome_definitions": OUTCOME_DEFINITIONS,
                "stages": [SCREENING_STAGE, *_stages(method)]}
    # the stages' sizes (so their numbers of chunks) are known only once screening is done
    return store_manifest(manifest, chunk_size=chunk_size, layout=(
        "<stage>/chunk-NNNNNN.parquet: chunk k holds the outcomes of patients "
        "k*chunk_size .. (k+1)*chunk_size-1 of that stage"))


def _stages(method: str) -> tuple[str, ...]:
    return (TREATED_STAGE,) if method == "pool" else RESIMULATED_STAGES


def open_pool_store(folder: str | Path, manifest: dict[str, Any], *,
                    overwrite: bool = False) -> tuple[Path, int]:
    """Prepare ``folder/pool`` for the streamed pool described by ``manifest``; return the
    store folder and the number of chunks already finished (a resumed run).

    Raises:
        InputError: ``folder`` is a file; the store was begun by a different command
            (every difference named) unless ``overwrite``; it cannot be written.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("output path exists and is not a folder", file=folder)
    store = folder / POOL_DIR
    open_store(store, manifest, identity=POOL_IDENTITY, what="power analysis pool",
               chunk_dirs=manifest["stages"], overwrite=overwrite)
    return store, sum(len(resumable_chunks(store, stage)) for stage in manifest["stages"])


@dataclass
class Pool:
    """Potential outcomes of every eligible patient under each arm."""

    cohort: Cohort | None
    control: pd.DataFrame
    treated: pd.DataFrame

    @property
    def size(self) -> int:
        return len(self.control)


def build_pool(spec: TrialSpec, *, population: Population | None = None,
               cohort: Cohort | None = None, engine: EngineLike = "process",
               workers: int | None = None,
               progress: Callable[[str, int, int], None] | None = None,
               store: Path | None = None, sample_sizes: Sequence[int] = ()) -> Pool:
    """Screen the cohort and simulate every eligible patient under the MSC arm.

    Arguments:
        store: an opened pool store folder (:func:`open_pool_store`): the screening and MSC
            arm simulations are streamed to it chunk by chunk and resumed from it.
        sample_sizes: other trial sizes the pool will serve (a power curve).

    Raises:
        InputError: right after screening, before the MSC arm is simulated: the spec's
            sample size or one of ``sample_sizes`` is larger than the eligible pool.
    """
    cohort = screened_cohort(spec, population=population, cohort=cohort, engine=engine,
                             workers=workers, progress=progress, store=store)
    check_pool_size(cohort.size, spec.sample_size)
    if sample_sizes:
        check_pool_size(cohort.size, max(sample_sizes), field="sample_sizes")
    el = cohort.eligible
    treated = simulate_arm(cohort.parameters(), el.death_threshold.to_numpy(float),
                           el.enrol_day.to_numpy(float), doses_for(spec, el, spec.treated.name),
                           follow_up=spec.follow_up_days, engine=engine, workers=workers,
                           progress=stage_progress(progress, "MSC arm"),
                           store=None if store is None else ArmStore(store, TREATED_STAGE))
    failed = ~treated.values.ok.to_numpy(bool)
    if failed.any():
        # a patient whose MSC-arm simulation failed has no potential outcome under that arm:
        # leave it out of the pool, counted as an exclusion, rather than analyse NaN
        cohort = _without(cohort, ~failed)
        check_pool_size(cohort.size, spec.sample_size)
        treated = treated.rows(~failed)
    return Pool(cohort=cohort, control=cohort.control.values, treated=treated.values)


def _without(cohort: Cohort, keep: np.ndarray) -> Cohort:
    """``cohort`` restricted to the patients in ``keep``; the rest counted as failed
    simulations under the MSC arm."""
    flow = dict(cohort.flow, eligible=int(keep.sum()))
    exclusions = dict(cohort.exclusions)
    exclusions["simulation failed under the MSC arm"] = int((~keep).sum())
    return Cohort(eligible=cohort.eligible[keep].reset_index(drop=True),
                  control=cohort.control.rows(keep), flow=flow, exclusions=exclusions)


def draws(spec: TrialSpec, pool_size: int, replicates: int,
          n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pool indices and arms of every replicate: two ``(replicates, n)`` arrays."""
    pairs = [draw_trial(pool_size, spec, seeded_generator(spec.seed, REPLICATE_STREAM, r), n)
             for r in range(replicates)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def replicate_data(spec: TrialSpec, control: pd.DataFrame, treated: pd.DataFrame,
                   endpoint: str, idx: np.ndarray, arm: np.ndarray) -> dict[str, np.ndarray]:
    """Endpoint data of replicate trials: each patient's outcome under the assigned arm."""
    ep = endpoint_of(spec, endpoint)
    c = ep.data(control, spec.follow_up_days)
    t = ep.data(treated, spec.follow_up_days)
    return {k: np.where(arm == 1, t[k][idx], c[k][idx]) for k in c}


def pilot_pattern(spec: TrialSpec, control: pd.DataFrame, treated: pd.DataFrame,
                  idx: np.ndarray, arm: np.ndarray, *, survival_only: bool = False
                  ) -> np.ndarray:
    """Per replicate: every MSC patient recovered (improved and alive at the end of
    follow-up; with ``survival_only``, merely alive) and at least one control patient
    died."""
    def cols(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        died = np.isfinite(frame.death_time.to_numpy(float))
        if survival_only:
            return ~died, died
        return np.isfinite(frame.improve_time.to_numpy(float)) & ~died, died
    rec_c, died_c = cols(control)
    rec_t, died_t = cols(treated)
    recovered = np.where(arm == 1, rec_t[idx], rec_c[idx])
    died = np.where(arm == 1, died_t[idx], died_c[idx])
    return np.all(recovered | (arm == 0), axis=1) & np.any(died & (arm == 0), axis=1)


def _summary(est: BatchEstimates, alpha: float) -> dict[str, Any]:
    p = est.p_value
    sig = p < alpha
    finite = est.estimate[np.isfinite(est.estimate)]
    q = np.quantile(finite, [0.025, 0.5, 0.975]) if finite.size else [np.nan] * 3
    return {"rejections": int(sig.sum()), "rate": float(sig.mean()),
            "mc_se": float(np.sqrt(sig.mean() * (1 - sig.mean()) / len(p))),
            "effect_q025": float(q[0]), "effect_median": float(q[1]),
            "effect_q975": float(q[2]), "finite_estimates": int(finite.size)}


@dataclass
class PowerResult:
    """Outcome of a replicated-trial analysis (see :func:`power_analysis`)."""

    spec: TrialSpec
    replicates: int
    method: str
    pool_size: int
    effect: BatchEstimates
    null: BatchEstimates
    pilot_with_effect: np.ndarray
    pilot_without_effect: np.ndarray
    survival_pattern: tuple[float, float] = (float("nan"), float("nan"))
    search: dict[str, Any] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)
    flow: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        alpha = self.spec.analysis.alpha
        eff, nul = _summary(self.effect, alpha), _summary(self.null, alpha)
        ep = endpoint_of(self.spec, self.spec.endpoints.primary)
        favours = (self.effect.estimate < ANALYSERS[ep.kind].null) if ep.favours_msc == \
            "below" else (self.effect.estimate > ANALYSERS[ep.kind].null)
        n = self.spec.sample_size
        return _clean({
            "kind": "mscsim.trial.power",
            "trial": self.spec.trial.name,
            "replicates": self.replicates,
            "method": self.method,
            "primary_endpoint": ep.name,
            "measure": ANALYSERS[ep.kind].measure,
            "sample_size": n,
            "alpha": alpha,
            "power": eff["rate"],
            "power_mc_se": eff["mc_se"],
            "power_favouring_msc": float(((self.effect.p_value < alpha) & favours).mean()),
            "type_i_error": nul["rate"],
            "type_i_error_mc_se": nul["mc_se"],
            "effect_median": eff["effect_median"],
            "effect_q025": eff["effect_q025"],
            "effect_q975": eff["effect_q975"],
            "null_effect_median": nul["effect_median"],
            "finite_estimates": eff["finite_estimates"],
            "pool_size": self.pool_size,
            "pool_ratio": self.pool_size / n,
            "pool_valid": pool_valid(self.pool_size, n),
            "pilot_pattern": {
                "definition": "every MSC patient recovered (WHO >= 2 points better or "
                              "discharged, and alive at the end of follow-up) and at least "
                              "one control patient died",
                "with_msc_effect": float(self.pilot_with_effect.mean()),
                "without_msc_effect": float(self.pilot_without_effect.mean()),
                "survival_only": {
                    "definition": "every MSC patient alive at the end of follow-up and at "
                                  "least one control patient died",
                    "with_msc_effect": self.survival_pattern[0],
                    "without_msc_effect": self.survival_pattern[1]},
            },
            "sample_size_search": self.search,
            "power_curve": self.curve,
            "flow": self.flow,
            "timings_s": self.timings,
        })

    def replicate_table(self) -> pd.DataFrame:
        return pd.DataFrame({
            "replicate": np.arange(self.replicates),
            **{f"{k}": getattr(self.effect, k) for k in ("estimate", "ci_low", "ci_high",
                                                          "p_value")},
            **{f"null_{k}": getattr(self.null, k) for k in ("estimate", "ci_low", "ci_high",
                                                             "p_value")},
            "pilot_with_effect": self.pilot_with_effect,
            "pilot_without_effect": self.pilot_without_effect})


def _resimulate(spec: TrialSpec, cohort: Cohort, idx: np.ndarray, arm: np.ndarray,
                null: bool, engine: EngineLike, workers: int | None,
                store: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate each sampled patient afresh in its assigned arm; return per-arm frames laid
    out so that :func:`replicate_data` with ``idx = arange`` reads them."""
    flat_idx, flat_arm = idx.reshape(-1), arm.reshape(-1)
    el = cohort.eligible.iloc[flat_idx].reset_index(drop=True)
    doses = doses_for(spec, el, spec.treated.name)
    doses = [d if a == 1 else [] for d, a in zip(doses, flat_arm, strict=True)]
    out = simulate_arm(el[list(cohort.parameters().columns)],
                       el.death_threshold.to_numpy(float), el.enrol_day.to_numpy(float), doses,
                       follow_up=spec.follow_up_days, null=null, engine=engine, workers=workers,
                       store=None if store is None else ArmStore(
                           store, RESIMULATED_STAGES[1 if null else 0]))
    return out.values, out.values


def power_analysis(spec: TrialSpec, options: PowerOptions, *, pool: Pool | None = None,
                   cohort: Cohort | None = None,
                   population: Population | None = None, engine: EngineLike = "process",
                   workers: int | None = None,
                   progress: Callable[[str, int, int], None] | None = None,
                   folder: str | Path | None = None, overwrite: bool = False,
                   on_start: Callable[[Path, int], None] | None = None) -> PowerResult:
    """Power, type I error and effect distribution of ``spec``'s primary endpoint, with the
    replicates, method, sample-size search and power curve of ``options``.

    Arguments:
        pool: potential outcomes already built (:func:`build_pool`), for the pool method;
            nothing is simulated.
        cohort: a screened cohort (:func:`screen`), for re-simulation; nothing is screened.
        folder: stream the simulated arms to ``folder/pool`` chunk by chunk, and resume an
            interrupted run of the same analysis from there (see the module docstring);
            results are identical.
        overwrite: discard what ``folder`` holds from an analysis with other settings.
        on_start: called with ``(store folder, chunks already finished)`` before simulating.

    Raises:
        InputError: before anything is simulated: a ``pool`` given for re-simulation or a
            ``cohort`` for the pool method, ``folder`` holding a pool begun by a different
            command; right
            after screening: no eligible patients, a sample size above the eligible pool.
            (Bad options fail earlier, when :class:`PowerOptions` is made.)
    """
    import time

    replicates, method, sizes = options.replicates, options.method, options.sample_sizes
    # one writer at a time: the folder's lock is held while its pool store is written
    if method == "resimulate" and pool is not None:
        raise InputError("re-simulation draws new arms for every replicate: give the screened "
                         "cohort (cohort=), not a pool", field="pool")
    if method == "pool" and cohort is not None:
        raise InputError("the pool method needs the potential outcomes of every eligible "
                         "patient: give pool= (build_pool), not a cohort", field="cohort")
    prebuilt = pool is not None or cohort is not None
    with folder_lock(folder) if folder is not None and not prebuilt else \
            contextlib.nullcontext():
        timings: dict[str, float] = {}
        start = time.perf_counter()
        store = None
        if folder is not None and not prebuilt:
            size = get_engine(engine, workers).chunk_size or ARM_CHUNK_SIZE
            store, finished = open_pool_store(
                folder, pool_manifest(spec, replicates, method, size, population),
                overwrite=overwrite)
            if on_start:
                on_start(store, finished)
        if method == "pool" and pool is None:
            pool = build_pool(spec, population=population, engine=engine, workers=workers,
                              progress=progress, store=store, sample_sizes=sizes)
        if method == "resimulate" and cohort is None:
            cohort = screened_cohort(spec, population=population, engine=engine,
                                     workers=workers, progress=progress, store=store)
            check_pool_size(cohort.size, spec.sample_size)
        if pool is not None:
            cohort = pool.cohort
        size = pool.size if pool is not None else cohort.size if cohort is not None else 0
        timings["simulation"] = time.perf_counter() - start
        idx, arm = draws(spec, size, replicates)
        endpoint = endpoint_of(spec, spec.endpoints.primary)
        opt = options_of(spec)
        if pool is None and cohort is not None:  # re-simulation
            start = time.perf_counter()
            flat = np.arange(idx.size).reshape(idx.shape)
            eff_c, eff_t = _resimulate(spec, cohort, idx, arm, False, engine, workers, store)
            nul_c, nul_t = _resimulate(spec, cohort, idx, arm, True, engine, workers, store)
            timings["simulation"] += time.perf_counter() - start
            start = time.perf_counter()
            effect = analyse_batch(endpoint.kind, replicate_data(spec, eff_c, eff_t, endpoint.name,
                                                                 flat, arm), arm, opt)
            null = analyse_batch(endpoint.kind, replicate_data(spec, nul_c, nul_t, endpoint.name,
                                                               flat, arm), arm, opt)
            pilot_eff = pilot_pattern(spec, eff_c, eff_t, flat, arm)
            pilot_nul = pilot_pattern(spec, nul_c, nul_t, flat, arm)
            surv = (pilot_pattern(spec, eff_c, eff_t, flat, arm, survival_only=True).mean(),
                    pilot_pattern(spec, nul_c, nul_t, flat, arm, survival_only=True).mean())
        elif pool is not None:
            start = time.perf_counter()
            effect = analyse_batch(endpoint.kind, replicate_data(
                spec, pool.control, pool.treated, endpoint.name, idx, arm), arm, opt)
            null = analyse_batch(endpoint.kind, replicate_data(
                spec, pool.control, pool.control, endpoint.name, idx, arm), arm, opt)
            pilot_eff = pilot_pattern(spec, pool.control, pool.treated, idx, arm)
            pilot_nul = pilot_pattern(spec, pool.control, pool.control, idx, arm)
            surv = (pilot_pattern(spec, pool.control, pool.treated, idx, arm,
                                  survival_only=True).mean(),
                    pilot_pattern(spec, pool.control, pool.control, idx, arm,
                                  survival_only=True).mean())
        else:  # unreachable: the pool method builds a pool, re-simulation screens a cohort
            raise InputError("nothing to analyse: no pool and no screened cohort", field="pool")
        timings["analysis"] = time.perf_counter() - start
        result = PowerResult(spec=spec, replicates=replicates, method=method, pool_size=size,
                             effect=effect, null=null, pilot_with_effect=pilot_eff,
                             pilot_without_effect=pilot_nul,
                             survival_pattern=(float(surv[0]), float(surv[1])),
                             flow=dict(cohort.flow) if cohort else {},
                             timings=timings)
        if options.target_power is not None and pool is not None:
            start = time.perf_counter()
            result.search = sample_size_search(spec, pool, replicates, options.target_power,
                                               max_n=options.max_n)
            timings["search"] = time.perf_counter() - start
        if sizes and pool is not None:
            start = time.perf_counter()
            result.curve = [curve_point(spec, pool, replicates, n) for n in sizes]
            timings["curve"] = time.perf_counter() - start
        return result


def pool_valid(pool_size: int, n: int) -> bool:
    """Whether replicates of ``n`` patients from a pool of ``pool_size`` behave as
    independent trials (see the module docstring)."""
    return pool_size >= POOL_RATIO_VALID * n


def curve_point(spec: TrialSpec, pool: Pool, replicates: int, n: int) -> dict[str, Any]:
    """Power (with Monte Carlo SE), type I error and effect quantiles of the primary endpoint
    at total sample size ``n``, with the spec's replicate seeds (pool method)."""
    idx, arm = draws(spec, pool.size, replicates, n)
    endpoint = endpoint_of(spec, spec.endpoints.primary)
    opt, alpha = options_of(spec), spec.analysis.alpha
    eff = _summary(analyse_batch(endpoint.kind, replicate_data(
        spec, pool.control, pool.treated, endpoint.name, idx, arm), arm, opt), alpha)
    nul = _summary(analyse_batch(endpoint.kind, replicate_data(
        spec, pool.control, pool.control, endpoint.name, idx, arm), arm, opt), alpha)
    return _clean({"n": n, "power": eff["rate"], "power_mc_se": eff["mc_se"],
                   "type_i_error": nul["rate"], "type_i_error_mc_se": nul["mc_se"],
                   "effect_median": eff["effect_median"], "effect_q025": eff["effect_q025"],
                   "effect_q975": eff["effect_q975"],
                   "finite_estimates": eff["finite_estimates"],
                   "pool_ratio": pool.size / n, "pool_valid": pool_valid(pool.size, n)})


def pool_warning(power: dict[str, Any]) -> str | None:
    """A sentence naming every sample size of a ``power.json`` dictionary (the design's and
    the curve's) for which the pool is too small for valid replicates; None if there is
    none."""
    pool = power["pool_size"]
    sizes = [] if power["pool_valid"] else [power["sample_size"]]
    sizes += [p["n"] for p in power.get("power_curve", [])
              if not p["pool_valid"] and p["n"] not in sizes]
    if not sizes:
        return None
    listed = ", ".join(f"N={n} (pool {pool / n:.1f} N)" for n in sizes)
    return (f"the eligible pool of {pool} patients is smaller than {POOL_RATIO_VALID:g} N at "
            f"{listed}: replicates share patients, so power and type I error there are not "
            "those of independent trials; screen more infections (population.n_infections)")


def power_at(spec: TrialSpec, pool: Pool, replicates: int, n: int) -> float:
    """Power of the primary endpoint at total sample size ``n`` (pool method)."""
    idx, arm = draws(spec, pool.size, replicates, n)
    endpoint = endpoint_of(spec, spec.endpoints.primary)
    est = analyse_batch(endpoint.kind, replicate_data(spec, pool.control, pool.treated,
                                                      endpoint.name, idx, arm), arm,
                        options_of(spec))
    return float((est.p_value < spec.analysis.alpha).mean())


def sample_size_search(spec: TrialSpec, pool: Pool, replicates: int, target: float, *,
                       max_n: int | None = None) -> dict[str, Any]:
    """Smallest total sample size whose power reaches ``target``: doubling from the spec's
    size (or halving when it is already reached), then bisection. Sizes are multiples of
    the block size (permuted blocks) and at most the pool size."""
    unit = 1
    if spec.allocation.method == "blocks":
        unit = spec.allocation.block_size or int(round(sum(spec.allocation.ratio.values())))
    limit = min(pool.size, max_n or pool.size)
    limit -= limit % unit

    def size(n: float) -> int:
        return int(max(unit, min(limit, unit * round(n / unit))))

    curve: dict[int, float] = {}

    def power(n: int) -> float:
        if n not in curve:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                curve[n] = power_at(spec, pool, replicates, n)
        return curve[n]

    lo: int | None = None
    hi: int | None = None
    n = size(spec.sample_size)
    if power(n) >= target:
        hi = n
        while hi > unit:
            m = size(hi / 2)
            if m == hi:
                break
            if power(m) >= target:
                hi = m
            else:
                lo = m
                break
    else:
        lo = n
        while lo < limit:
            m = size(lo * 2)
            if power(m) >= target:
                hi = m
                break
            lo = m
    if lo is not None and hi is not None:
        while hi - lo > unit:
            mid = size((lo + hi) / 2)
            if mid in (lo, hi):
                break
            if power(mid) >= target:
                hi = mid
            else:
                lo = mid
    reached = hi if hi is not None and curve.get(hi, 0) >= target else None
    points = sorted(curve.items())
    return {"target_power": target, "required_n": reached, "searched_up_to": limit,
            "reached": reached is not None,
            "pool_valid_for_required_n": None if reached is None
            else pool_valid(pool.size, reached),
            "curve": [{"n": k, "power": v} for k, v in points]}


def write_power(result: PowerResult, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``power.json``, ``power_replicates.parquet`` and ``spec.json`` into ``folder``
    (created if needed; files beside a trial run's are kept, unless ``overwrite``, which
    replaces ``spec.json``). Each file is written atomically and ``power.json`` last, so a
    folder with ``power.json`` is complete."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("output path exists and is not a folder", file=folder)
    with folder_lock(folder):
        _write_power_files(result, folder, overwrite)
    return folder


def _write_power_files(result: PowerResult, folder: Path, overwrite: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / "spec.json"
    spec_text = result.spec.model_dump_json(indent=2)
    if spec_path.is_file() and spec_path.read_text(encoding="utf-8") != spec_text and \
            not overwrite:
        existing = json.loads(spec_path.read_text(encoding="utf-8"))
        if existing.get("trial", {}).get("name") != result.spec.trial.name:
            raise InputError("the folder holds another trial's output", file=folder,
                             hint="choose another folder")
    with atomic_path(folder / "power_replicates.parquet") as tmp:
        result.replicate_table().to_parquet(tmp, index=False)
    if overwrite or not spec_path.is_file():
        write_text_atomic(spec_path, spec_text)
    write_text_atomic(folder / "power.json", json.dumps(result.to_dict(), indent=2))
