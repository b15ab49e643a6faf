"""Calibration of the population-level values to published targets.

Three stages, each on one fixed cohort (the same seed draws the same patients whatever the
calibrated values, so the objective is smooth in them: common random numbers):

A. Severity: ``ifn_shift`` and ``ifn_age_slope`` (log-scale shift and age slope of type-I IFN
   production) are solved so that 2.9% of infections are hospitalised (Salje 2020) with a
   mean age of 68 years. For each candidate slope the shift is found by bisection (the
   hospitalised fraction falls as IFN rises); the slope is then interpolated to the age target.
D. Ceiling of care (after A, before B): the probability by age that invasive ventilation
   would not be offered, so that P(ICU | hospitalised) at 60-69, 70-79 and 80+ is Salje
   2020's (``fit_ceiling``); the death hazard of unsupported respiratory failure depends on
   it, and who lives long enough to need intensive care depends on the death hazard, so D is
   fitted twice, around a first fit of the ``salje`` hazard line, and stage B's cohort is
   simulated with the second.
B. Death: the cumulative hazard is proportional to ``hazard_multiplier`` (the hazard does not
   feed back on the dynamics), so each patient's death probability at any
   ``(hazard_intercept, hazard_age_slope)`` follows from one simulation. Two profiles are
   fitted from that one simulation, because the published death targets cannot all hold on
   one age structure (Levin's curve applied to France's population gives an IFR near 2%,
   four times Salje's 0.5%; see docs/population.md):

   - ``salje`` (the default): France's first wave, community infections. The two values
     reproduce Salje 2020's overall IFR (0.5%) and mean age at death (79 years) exactly.
   - ``levin``: the IFR-by-age curve of Levin 2020 (ages 35-85, weighted squared log error),
     which pools settings with nursing-home deaths, compared as Levin's serosurvey-based
     sources measured it (``serosurvey_weights``).
C. Care homes (``levin`` only): the cohort includes care-home residents, whose IFN shift is
   solved so that their IFR matches ``CARE_HOME_IFR``, refitting stage B at each value and
   re-simulating only the residents (``fit_care_homes``).

The model's symptom threshold for type-I IFN (``ifn_symptom_threshold``, a parameter of the
care pathway) is fitted apart, by ``calibration/calibrate_symptoms.py``
(:func:`symptom_threshold_for_share`), so that the share of infections ever symptomatic is
Buitrago-Garcia 2020's; it decides who is admitted with pneumonia, so it is fitted before the
stages above and checked again after them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq, lsq_linear, minimize

from mscsim._io import write_text_atomic
from mscsim.model import load_model
from mscsim.population._generate import (
    GenerationOptions,
    Population,
    generate_population,
    simulate_patients,
)
from mscsim.population._sampling import draw_covariates
from mscsim.population._tables import (
    CALIBRATION_PROFILES,
    INPUT_TABLES,
    Calibration,
    care_home_population_share,
    data_path,
)
from mscsim.population._targets import (
    CARE_HOME_IFR,
    CEILING_BANDS,
    DEATHS_MEAN_AGE,
    HOSPITALISED,
    HOSPITALISED_MEAN_AGE,
    IFR,
    IFR_80_PLUS,
    IFR_AGES,
    IFR_BY_AGE,
    SALJE_AGE_BANDS,
    SALJE_ICU_GIVEN_HOSP,
    levin_ifr,
)

AGE_HALF_WIDTH = 5.0  # IFR at age a is compared on patients aged a +- 5 years
# A knot may scale the hazard by at most e^5 (about 150x) either way: where a band's target
# needs more, it is out of reach (too few patients ever in respiratory failure), and an
# unbounded knot would only kill every patient with any organ dysfunction.
KNOT_LIMIT = 5.0


@dataclass
class CalibrationResult:
    calibrations: dict[str, Calibration]  # by profile name, ``CALIBRATION_PROFILES``
    cohort_size: int
    seed: int
    history: list[dict[str, float]]


def hospitalisation(pop: Population) -> tuple[float, float]:
    """Hospitalised fraction and mean age of the hospitalised."""
    ok = pop.ok
    hospitalised = ok.hospitalised.astype(bool)
    return float(hospitalised.mean()), float(ok.age[hospitalised].mean())


def _base_hazard(patients: pd.DataFrame, base: Calibration) -> np.ndarray:
    """Each patient's cumulative hazard with the age terms of ``base`` removed."""
    ages = patients.age.to_numpy(dtype=float)
    return patients.cum_hazard_end.to_numpy() * np.exp(-base.log_hazard_age(ages))


def death_probability(patients: pd.DataFrame, base: Calibration,
                      candidate: Calibration) -> np.ndarray:
    """Each patient's death probability under the hazard terms of ``candidate``;
    ``patients`` were simulated with ``base``."""
    ages = patients.age.to_numpy(dtype=float)
    log_factor = np.clip(candidate.log_hazard_age(ages), -700.0, 700.0)
    return -np.expm1(-_base_hazard(patients, base) * np.exp(log_factor))


def _log(x: float) -> float:
    return math.log(max(x, 1e-300))  # an age band with no deaths is far off, not an error


def serosurvey_weights(patients: pd.DataFrame) -> np.ndarray:
    """Each patient's weight in the denominator of an IFR measured as Levin 2020's sources
    measured it: deaths of everyone (care homes included) over infections estimated from
    serosurveys of community-dwelling people, i.e. the community attack rate applied to the
    whole population. A community patient of age ``a`` stands for ``1 / (1 - share(a))``
    such estimated infections, a care-home resident for none. In a cohort without residents
    every weight is 1."""
    if "care_home" not in patients or not patients.care_home.to_numpy(dtype=bool).any():
        return np.ones(len(patients))
    population_share = care_home_population_share(patients.age.to_numpy(dtype=float))
    return np.where(patients.care_home.to_numpy(dtype=bool), 0.0, 1.0 / (1.0 - population_share))


def ifr_by_age(patients: pd.DataFrame, p_death: np.ndarray, *,
               as_serosurveys: bool = True) -> dict[int, float]:
    """IFR in each 10-year band around ``IFR_AGES``: as serosurvey-based studies measure it
    (``serosurvey_weights``), or over all infections (``as_serosurveys=False``)."""
    ages = patients.age.to_numpy()
    weights = serosurvey_weights(patients) if as_serosurveys else np.ones(len(patients))
    out = {}
    for a in IFR_AGES:
        band = np.abs(ages - a) < AGE_HALF_WIDTH
        infections = weights[band].sum()
        out[a] = float(p_death[band].sum() / infections) if infections > 0 else math.nan
    return out


def levin_band_mean(age: float) -> float:
    grid = np.linspace(age - AGE_HALF_WIDTH, age + AGE_HALF_WIDTH, 41)
    return float(np.mean([levin_ifr(a) for a in grid]))


def _band_log_multipliers(patients: pd.DataFrame, base: Calibration,
                          targets: dict[int, float]) -> dict[int, float]:
    """For each age band, the log hazard multiplier that reproduces the band's target IFR."""
    lam = _base_hazard(patients, base)
    ages = patients.age.to_numpy()
    found = {}
    for age, target in targets.items():
        band = lam[np.abs(ages - age) < AGE_HALF_WIDTH]

        def gap(x: float, band: np.ndarray = band, target: float = target) -> float:
            return float(np.mean(-np.expm1(-band * math.exp(x)))) - target
        if len(band) and gap(-30.0) < 0 < gap(30.0):
            found[age] = float(brentq(gap, -30.0, 30.0, xtol=1e-6))
    return found


def deaths_mean_age(patients: pd.DataFrame, p_death: np.ndarray) -> float:
    return float(np.sum(patients.age.to_numpy() * p_death) / max(float(p_death.sum()), 1e-300))


def _linear(base: Calibration, x: np.ndarray) -> Calibration:
    return replace(base, hazard_intercept=float(x[0]), hazard_age_slope=float(x[1]),
                   hazard_knot_ages=(), hazard_knot_values=())


def fit_hazard(patients: pd.DataFrame, base: Calibration, profile: str) -> Calibration:
    """Stage B: the hazard terms of one profile (see the module docstring).

    ``salje``: intercept and age slope by weighted least squares on Salje 2020's log IFR,
    log IFR at 80+ and mean age at death (three targets, two values; bounded Nelder-Mead,
    started from a line through per-band multipliers that reproduce Levin's bands).
    ``levin``: the same line fitted to Levin's log IFR at 35-85, then a knot at each of
    those ages whose value is adjusted (fixed-point iteration) until each age band
    reproduces Levin's IFR on this cohort (within ``KNOT_LIMIT``): a straight line on the
    log scale cannot follow both the age profile of admissions and Levin's curve.
    """
    ages_target = {a: levin_band_mean(a) for a in IFR_AGES}
    bands = _band_log_multipliers(patients, base, ages_target)
    if len(bands) >= 2:
        slope0, intercept0 = np.polyfit([a - base.reference_age for a in bands],
                                        list(bands.values()), 1)
    else:
        intercept0, slope0 = base.hazard_intercept, base.hazard_age_slope
    ages = patients.age.to_numpy(dtype=float)
    age_sd = (DEATHS_MEAN_AGE.high - DEATHS_MEAN_AGE.low) / (2 * 1.96)

    def loss(x: np.ndarray) -> float:
        p = death_probability(patients, base, _linear(base, x))
        if profile == "salje":
            terms = [((_log(float(p.mean())) - math.log(IFR.value)) / IFR.log_sd) ** 2,
                     ((_log(float(p[ages >= 80].mean())) - math.log(IFR_80_PLUS.value))
                      / IFR_80_PLUS.log_sd) ** 2,
                     ((deaths_mean_age(patients, p) - DEATHS_MEAN_AGE.value) / age_sd) ** 2]
        elif profile == "levin":
            by_age = ifr_by_age(patients, p)
            terms = [((_log(by_age[a]) - math.log(ages_target[a])) / t.log_sd) ** 2
                     for a, t in zip(IFR_AGES, IFR_BY_AGE, strict=True)]
        else:
            raise ValueError(f"unknown calibration profile {profile!r}")
        return float(sum(terms))

    best = minimize(loss, np.array([intercept0, slope0]), method="Nelder-Mead",
                    bounds=[(-20.0, 20.0), (-0.3, 0.3)],
                    options={"xatol": 1e-5, "fatol": 1e-8, "maxiter": 4000})
    fitted = _linear(base, best.x)
    if profile == "levin":
        fitted = _fit_knots(patients, base, fitted, ages_target)
    return fitted


def _fit_knots(patients: pd.DataFrame, base: Calibration, line: Calibration,
               targets: dict[int, float], iterations: int = 200) -> Calibration:
    knot_ages = tuple(float(a) for a in targets)
    values = np.zeros(len(knot_ages))
    for _ in range(iterations):
        candidate = replace(line, hazard_knot_ages=knot_ages,
                            hazard_knot_values=tuple(float(v) for v in values))
        by_age = ifr_by_age(patients, death_probability(patients, base, candidate))
        step = np.array([math.log(targets[a]) - _log(by_age[a]) for a in targets])
        previous = values.copy()
        values = np.clip(values + step, -KNOT_LIMIT, KNOT_LIMIT)
        if np.max(np.abs(values - previous)) < 1e-6:
            break
    return replace(line, hazard_knot_ages=knot_ages,
                   hazard_knot_values=tuple(float(v) for v in values))


def needs_icu(patients: pd.DataFrame) -> np.ndarray:
    """Hospitalised patients who meet the care pathway's rule for intensive care (HFNC/NIV,
    invasive ventilation or sustained deterioration; ``icu_indicated``): the ones it admits
    unless a ceiling of care applies (whether it applies does not change the course before,
    so this does not depend on the ceiling)."""
    return patients.icu_indicated.to_numpy(dtype=bool)


#: the ceiling of care changes over half a year at each age band's lower edge
CEILING_RAMP_YEARS = 0.5


def fit_ceiling(patients: pd.DataFrame, base: Calibration) -> Calibration:
    """Stage D: the probability of a ceiling of care by age, so that P(ICU | hospitalised)
    in each of ``CEILING_BANDS`` is Salje 2020's.

    The probability is constant within each band (none below the first), changing over
    ``CEILING_RAMP_YEARS`` at each band's lower edge: Salje's ICU shares are known by band
    only, and they fall from 23.5% at 70-79 to 4.6% at 80+, a drop that a line between band
    midpoints cannot follow (it leaves the younger half of the 80+ band with the small 70-79
    probability). A band's expected ICU share is ``mean(need * (1 - ceiling(age)))`` over its
    hospitalised patients, linear in the band values, which solve these equations together
    (bounded least squares, each value in [0, 0.98]: exact unless a band needs less ICU than
    the bound allows, or more than its patients need).
    """
    hosp = patients[patients.hospitalised.astype(bool)]
    need = needs_icu(hosp).astype(float)
    ages = hosp.age.to_numpy(dtype=float)
    knot_ages: list[float] = [CEILING_BANDS[0][0] - CEILING_RAMP_YEARS]
    knot_band: list[int] = [-1]  # which band's value each knot takes (-1: none, 0)
    for k, (low, high) in enumerate(CEILING_BANDS):
        knot_ages += [float(low), float(high) - CEILING_RAMP_YEARS]
        knot_band += [k, k]
    basis = np.array([[1.0 if b == k else 0.0 for b in knot_band]
                      for k in range(len(CEILING_BANDS))])
    weights = np.stack([np.interp(ages, knot_ages, row) for row in basis], axis=1)
    rows, rhs = [], []
    for band in CEILING_BANDS:
        inside = (ages >= band[0]) & (ages < band[1])
        if not inside.any():
            continue
        target = SALJE_ICU_GIVEN_HOSP[SALJE_AGE_BANDS.index(band)]
        rows.append((need[inside, None] * weights[inside]).mean(axis=0))
        rhs.append(float(need[inside].mean()) - target)
    values = np.zeros(len(CEILING_BANDS))
    if rows:
        values = lsq_linear(np.array(rows), np.array(rhs), bounds=(0.0, 0.98)).x
    probabilities = tuple(0.0 if b < 0 else float(values[b]) for b in knot_band)
    return replace(base, ceiling_ages=tuple(knot_ages), ceiling_probabilities=probabilities)


def symptom_threshold_for_share(peak_il6: np.ndarray, peak_ifn: np.ndarray,
                                il6_threshold: float, share: float) -> float:
    """The type-I IFN threshold at which ``share`` of the patients are ever symptomatic
    (peak IL-6 at least ``il6_threshold`` or peak IFN at least the threshold): the midpoint
    between the two peak IFN values, among patients whose IL-6 stays below its threshold,
    that puts the nearest whole number of them above it.

    Raises:
        ValueError: ``share`` outside (0, 1), or not reachable: more patients than that are
            symptomatic by IL-6 alone.
    """
    if not 0 < share < 1:
        raise ValueError(f"share must lie in (0, 1), got {share}")
    il6 = np.asarray(peak_il6, dtype=float)
    ifn = np.asarray(peak_ifn, dtype=float)
    by_il6 = il6 >= il6_threshold
    wanted = int(round(share * len(il6))) - int(by_il6.sum())
    if wanted < 0:
        raise ValueError(f"{by_il6.mean():.3f} of the patients are symptomatic by IL-6 alone, "
                         f"more than the share {share}")
    rest = np.sort(ifn[~by_il6])[::-1]
    if wanted == 0:
        return float(rest[0] * 1.01) if len(rest) else math.inf
    if wanted >= len(rest):
        return float(rest[-1] * 0.99)
    return float((rest[wanted - 1] + rest[wanted]) / 2)


def input_tables_hash() -> str:
    """Hash of the population's input tables (covariates, effects): a cached stage-A
    evaluation is stale when any of them changes."""
    digest = hashlib.sha256()
    for name in INPUT_TABLES:
        digest.update(data_path(name).read_bytes())
    return digest.hexdigest()[:16]


def care_home_ids(patients: pd.DataFrame, base: Calibration, seed: int) -> np.ndarray:
    """The patients of a cohort who live in a care home when the cohort includes them."""
    with_residents = replace(base, care_home_residents=True)
    ids = patients.patient.to_numpy(dtype=np.int64)
    return np.array([i for i in ids if draw_covariates(seed, int(i), with_residents).care_home],
                    dtype=np.int64)


def fit_care_homes(community: pd.DataFrame, base: Calibration, seed: int, *,
                   options: GenerationOptions, workers: int | None = None,
                   log: Callable[[str], None] = print) -> Calibration:
    """Stage C (profile ``levin``): the cohort includes care-home residents
    (``care_home_share.csv``), whose IFN shift is solved so that their IFR matches
    ``CARE_HOME_IFR``, the hazard terms being refitted to Levin's bands at each trial value.

    ``community`` is the stage-B cohort simulated without care-home residents (``base``); only
    the residents are re-simulated at each trial value (every other patient is the same).
    """
    residents = care_home_ids(community, base, seed)
    others = community[~community.patient.isin(residents)]
    log(f"stage C: {len(residents)} of {len(community)} patients live in a care home")
    fits: dict[float, tuple[Calibration, float]] = {}

    def evaluate(shift: float) -> float:
        if shift not in fits:  # brentq asks for the bracket's ends again
            candidate = replace(base, care_home_residents=True, care_home_ifn_shift=shift)
            simulated = simulate_patients(residents, seed, options=options,
                                          calibration=candidate, workers=workers)
            simulated = simulated[simulated.status == "ok"]
            cohort = pd.concat([others, simulated], ignore_index=True)
            fitted = fit_hazard(cohort, candidate, "levin")
            fits[shift] = (fitted, float(death_probability(simulated, candidate, fitted).mean()))
            log(f"  care_home_ifn_shift={shift:+.3f}: care-home IFR {fits[shift][1]:.4f} "
                f"(target {CARE_HOME_IFR.value})")
        return math.log(max(fits[shift][1], 1e-12)) - math.log(CARE_HOME_IFR.value)

    low, high = -6.0, 2.0
    if evaluate(high) > 0:
        shift = high
    elif evaluate(low) < 0:
        shift = low
        log("stage C: the care-home IFR target is out of reach; shift at its bound")
    else:
        shift = float(brentq(evaluate, low, high, xtol=0.02))
    evaluate(shift)
    return fits[shift][0]


def calibrate(n: int = 4000, seed: int = 20200301, *, slopes: tuple[float, ...] = (
        -0.09, -0.07, -0.05), workers: int | None = None,
        options: GenerationOptions | None = None, cache_file: Path | None = None,
        hazard_n: int = 20000,
        log: Callable[[str], None] = print) -> CalibrationResult:
    """Run stage A on a cohort of ``n`` infections and stage B on ``hazard_n`` (deaths at
    ages 35-55 are rare, so the IFR-by-age fit needs the larger cohort); return the values.

    Stage-A evaluations (hospitalised fraction and mean age at a shift and slope) are kept in
    ``cache_file`` (JSON) when given, so an interrupted calibration resumes without redoing
    them; they depend only on ``n``, ``seed``, the options and the model.
    """
    base = Calibration.load()
    options = options or GenerationOptions(days=60)
    history: list[dict[str, float]] = []
    key_prefix = (f"{n}:{seed}:{options.days}:{options.points_per_day}:{load_model().hash}:"
                  f"{input_tables_hash()}")
    cache: dict[str, list[float]] = {}
    if cache_file is not None and cache_file.exists():
        cache = json.loads(cache_file.read_text(encoding="utf-8"))

    def generate(shift: float, slope: float, size: int = n) -> Population:
        calibration = replace(base, ifn_shift=shift, ifn_age_slope=slope)
        return generate_population(size, seed, options=options, calibration=calibration,
                                   workers=workers)

    def stage_a(shift: float, slope: float) -> tuple[float, float]:
        shift, slope = round(shift, 3), round(slope, 4)  # a step function of the cohort anyway
        key = f"{key_prefix}:{shift:.6f}:{slope:.6f}"
        if key not in cache:
            cache[key] = list(hospitalisation(generate(shift, slope)))
            if cache_file is not None:
                write_text_atomic(cache_file, json.dumps(cache, indent=1))
        frac, mean_age = cache[key]
        history.append({"ifn_shift": shift, "ifn_age_slope": slope,
                        "hospitalised_frac": frac, "hospitalised_mean_age": mean_age})
        log(f"  ifn_shift={shift:+.3f} ifn_age_slope={slope:+.4f}: hospitalised "
            f"{frac:.4f}, mean age {mean_age:.1f}")
        return frac, mean_age

    solutions = []
    for slope in slopes:
        def excess(shift: float, slope: float = slope) -> float:
            return stage_a(shift, slope)[0] - HOSPITALISED.value
        low, high = -1.0, 10.0
        if excess(low) < 0 or excess(high) > 0:
            log(f"  slope {slope}: the target is not bracketed in shift [{low}, {high}]")
            continue
        shift = brentq(excess, low, high, xtol=0.03)
        solutions.append((slope, shift, stage_a(shift, slope)[1]))
    if not solutions:
        raise RuntimeError("stage A found no IFN shift that gives the hospitalised target")
    slopes_found = np.array([s[0] for s in solutions])
    ages_found = np.array([s[2] for s in solutions])
    shifts_found = np.array([s[1] for s in solutions])
    if not ages_found.min() <= HOSPITALISED_MEAN_AGE.value <= ages_found.max():
        raise RuntimeError(f"stage A: mean age of the hospitalised spans {ages_found.min():.1f}-"
                           f"{ages_found.max():.1f} over slopes {list(slopes_found)}, which does "
                           f"not bracket the target {HOSPITALISED_MEAN_AGE.value}; widen slopes")
    order = np.argsort(ages_found)
    slope = float(np.interp(HOSPITALISED_MEAN_AGE.value, ages_found[order], slopes_found[order]))
    shift = float(np.interp(slope, slopes_found[np.argsort(slopes_found)],
                            shifts_found[np.argsort(slopes_found)]))
    shift = brentq(lambda s: stage_a(s, slope)[0] - HOSPITALISED.value,
                   shift - 0.5, shift + 0.5, xtol=0.01)
    severity_fit = replace(base, ifn_shift=shift, ifn_age_slope=slope)
    log(f"stage A: ifn_shift={shift:.4f}, ifn_age_slope={slope:.4f}")
    patients = generate(shift, slope, hazard_n).ok
    for round_ in (1, 2):
        # the ceiling changes who dies (unsupported respiratory failure), and the hazard who
        # lives to need intensive care: one more round of each settles both
        severity_fit = fit_ceiling(patients, severity_fit)
        ceiling = dict(zip(severity_fit.ceiling_ages, severity_fit.ceiling_probabilities,
                           strict=True))
        log(f"stage D, round {round_}: ceiling of care {ceiling}")
        patients = generate_population(hazard_n, seed, options=options,
                                       calibration=severity_fit, workers=workers).ok
        if round_ == 1:
            line = fit_hazard(patients, severity_fit, "salje")
            severity_fit = replace(severity_fit, hazard_intercept=line.hazard_intercept,
                                   hazard_age_slope=line.hazard_age_slope)
            log(f"stage B, round 1 (salje): hazard_intercept={line.hazard_intercept:.4f}, "
                f"hazard_age_slope={line.hazard_age_slope:.4f}")
            patients = generate_population(hazard_n, seed, options=options,
                                           calibration=severity_fit, workers=workers).ok
    calibrations = {}
    for profile in CALIBRATION_PROFILES:
        if profile == "levin":
            fitted = fit_care_homes(patients, severity_fit, seed, options=options,
                                    workers=workers, log=log)
        else:
            fitted = fit_hazard(patients, severity_fit, profile)
        log(f"stage B ({profile}): hazard_intercept={fitted.hazard_intercept:.4f}, "
            f"hazard_age_slope={fitted.hazard_age_slope:.4f}, knots "
            f"{dict(zip(fitted.hazard_knot_ages, fitted.hazard_knot_values, strict=True))}")
        calibrations[profile] = replace(
            fitted, source=f"calibration/calibrate_population.py, profile {profile}, cohorts n={n} "
                   f"(severity) and {hazard_n} (hazard), seed={seed}")
    return CalibrationResult(calibrations=calibrations, cohort_size=n, seed=seed,
                             history=history)


def calibration_json(result: CalibrationResult, profile: str,
                     fit: dict[str, object]) -> dict[str, object]:
    values = asdict(result.calibrations[profile])
    source = values.pop("source")
    return {"profile": profile, "source": source, "values": values,
            "cohort_size": result.cohort_size, "seed": result.seed, "fit": fit,
            "search": result.history}
