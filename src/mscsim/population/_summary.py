"""Summaries of a population, compared with the published targets."""

from __future__ import annotations

import numpy as np

from mscsim.population._generate import Population

AGE_BANDS = tuple((f"{a}-{a + 9}", a, a + 10) for a in range(0, 80, 10)) + (("80+", 80, 200),)
IL6_MILD_RANGE = (3.7, 37.8)     # Herold 2020 via Jenner 2021: mild patients
IL6_SEVERE_RANGE = (27.0, 277.0)  # Herold 2020 via Jenner 2021: ventilated patients
#: the patient columns :func:`summarise` and the population report read (a large population
#: folder is read with these columns only)
COLUMNS = ("patient", "status", "age", "hospitalised", "ventilated", "died", "death_probability",
           "symptom_onset_day", "admission_day", "peak_viral_load_log10", "peak_viral_load_day",
           "lymphopenia_at_admission", "peak_il6_pg_ml", "care_home")


def _median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.mean(values)) if len(values) else None


def summarise(population: Population) -> dict[str, object]:
    """Key figures of a population of infections (see ``docs/population.md``)."""
    ok = population.ok
    age = ok.age.to_numpy(dtype=float)
    died = ok.died.to_numpy(dtype=bool)
    hospitalised = ok.hospitalised.to_numpy(dtype=bool)
    ventilated = ok.ventilated.to_numpy(dtype=bool)
    symptomatic = np.isfinite(ok.symptom_onset_day.to_numpy(dtype=float))
    critical = ventilated | died
    severe = hospitalised & ~critical
    onset_to_admission = (ok.admission_day - ok.symptom_onset_day).to_numpy(dtype=float)
    ifr_by_age = {}
    for label, low, high in AGE_BANDS:
        band = (age >= low) & (age < high)
        ifr_by_age[label] = float(died[band].mean()) if band.any() else None
    n_sympt = max(int(symptomatic.sum()), 1)
    return {
        "n": int(len(population.patients)),
        "n_plausible": int(len(ok)),
        "hospitalised_frac": float(hospitalised.mean()),
        "ifr": float(died.mean()),
        "ifr_expected": float(ok.death_probability.mean()),
        "ifr_by_age": ifr_by_age,
        "incubation_median_days": _median(ok.symptom_onset_day.to_numpy(dtype=float)),
        "peak_viral_load_log10_median": _median(ok.peak_viral_load_log10.to_numpy(dtype=float)),
        "peak_viral_load_day_median": _median(ok.peak_viral_load_day.to_numpy(dtype=float)),
        "onset_to_admission_median_days": _median(onset_to_admission[hospitalised]),
        "admitted_lymphopenia_frac": float(ok.lymphopenia_at_admission[hospitalised].mean())
        if hospitalised.any() else None,
        "hospitalised_mean_age": _mean(age[hospitalised]),
        "deaths_mean_age": _mean(age[died]),
        "ventilated_frac": float(ventilated.mean()),
        "hospitalised_death_frac": float(died[hospitalised].mean()) if hospitalised.any()
        else None,
        "symptomatic_frac": float(symptomatic.mean()),
        "care_home_frac": float(ok.care_home.to_numpy(dtype=bool).mean()),
        "severity_among_symptomatic": {
            "mild_or_moderate": float((symptomatic & ~hospitalised).sum() / n_sympt),
            "severe": float((symptomatic & severe).sum() / n_sympt),
            "critical": float((symptomatic & critical).sum() / n_sympt),
        },
        "peak_il6_median_pg_ml": {
            "symptomatic_not_hospitalised": _median(
                ok.peak_il6_pg_ml.to_numpy(dtype=float)[symptomatic & ~hospitalised]),
            # Herold 2020's mild patients: hospitalised, not mechanically ventilated
            "hospitalised_not_ventilated": _median(
                ok.peak_il6_pg_ml.to_numpy(dtype=float)[hospitalised & ~ventilated]),
            "ventilated": _median(ok.peak_il6_pg_ml.to_numpy(dtype=float)[ventilated]),
        },
        "seed": population.manifest.get("seed"),
    }
