"""The shipped calibration still reproduces its targets on a fresh cohort.

The thresholds are the acceptance bands of docs/calibration/population_fit.md widened by the
Monte Carlo error of 3,000 infections; a model change without recalibration fails here.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from mscsim.model import load_model
from mscsim.population import generate_population, summarise


@pytest.fixture(scope="module")
def summary() -> dict:
    population = generate_population(3000, seed=424242, workers=2, chunk_size=500)
    return summarise(population)


def test_hospitalised_fraction_and_age(summary) -> None:
    # target 2.9% (Salje 2020); binomial sd at n=3000 is about 0.3 percentage points
    assert 0.018 <= summary["hospitalised_frac"] <= 0.040
    assert 62 <= summary["hospitalised_mean_age"] <= 80


def test_kinetics_and_biomarkers(summary) -> None:
    il6 = summary["peak_il6_median_pg_ml"]
    # Herold 2020's mild range, among hospitalised patients never ventilated (as his were)
    assert 3.7 <= il6["hospitalised_not_ventilated"] <= 37.8
    assert il6["symptomatic_not_hospitalised"] < il6["hospitalised_not_ventilated"]
    assert il6["ventilated"] is None or 27 <= il6["ventilated"] <= 1000


def test_incubation_matches_its_check(summary) -> None:
    # Lauer 2020: median 5.1 days, band 4.5-5.8 (docs/validation.md), widened for n=3000
    assert 4.0 <= summary["incubation_median_days"] <= 6.0


def test_symptomatic_share_matches_its_fitting_target(summary) -> None:
    # Buitrago-Garcia 2020: 69%, band 55-83% (the IFN symptom threshold is fitted to it)
    assert 0.55 <= summary["symptomatic_frac"] <= 0.83


def test_admission_lymphopenia_matches_its_check(summary) -> None:
    # Guan 2020: 83% below 1,500 per mm3 at admission; band 0.70-0.96 (docs/validation.md)
    assert 0.70 <= summary["admitted_lymphopenia_frac"] <= 0.96


def test_onset_to_admission_matches_its_check(summary) -> None:
    # check band 4-8 days (docs/validation.md), widened by half a day for about 80 admissions
    assert 4.0 <= summary["onset_to_admission_median_days"] <= 8.5


def test_deaths_concentrate_in_the_old(summary) -> None:
    assert summary["deaths_mean_age"] is None or summary["deaths_mean_age"] >= 65
    by_age = summary["ifr_by_age"]
    assert by_age["80+"] > by_age["50-59"]


def test_calibration_file_matches_this_model() -> None:
    path = resources.files("mscsim.population") / "data" / "calibrated.json"  # salje
    data = json.loads(path.read_text())
    assert "cohorts" in data["source"]
    scalars = [v for v in data["values"].values() if not isinstance(v, list)]
    assert np.isfinite(scalars).all() and data["profile"] == "salje"
    assert load_model().parameter_table["p_ifn"].variability.sd_log == 2.2


def test_each_profile_ships_its_values() -> None:
    from mscsim.population import CALIBRATION_PROFILES, Calibration

    loaded = {p: Calibration.load(p) for p in CALIBRATION_PROFILES}
    assert loaded["salje"].hazard_knot_ages == ()
    assert len(loaded["levin"].hazard_knot_ages) == len(loaded["levin"].hazard_knot_values) > 0
    # both profiles share the severity stage and differ only in the death hazard
    assert loaded["salje"].ifn_shift == loaded["levin"].ifn_shift
    assert loaded["salje"].log_hazard_age(85.0) != loaded["levin"].log_hazard_age(85.0)


def test_unknown_profile_names_the_field() -> None:
    from mscsim._errors import InputError
    from mscsim.population import Calibration

    with pytest.raises(InputError, match="calibration.*unknown calibration profile 'who'"):
        Calibration.load("who")


def _synthetic_cohort(n: int = 40000) -> tuple:
    """Patients whose cumulative hazard at the base calibration is known: 6% aged 80 or
    more (as in France), a share of each age band 'severe' with a hazard rising with age,
    the rest with none."""
    import pandas as pd

    from mscsim.population import Calibration

    rng = np.random.default_rng(7)
    age = np.where(rng.random(n) < 0.06, rng.uniform(80.0, 100.0, n), rng.uniform(0.0, 80.0, n))
    severe = rng.random(n) < 0.05 + 0.25 * age / 100.0
    base = Calibration.load("salje")
    hazard = np.where(severe, 0.05 * np.exp(0.04 * (age - 50.0)) * rng.lognormal(0, 1, n), 0.0)
    patients = pd.DataFrame({"age": age, "cum_hazard_end": hazard * np.exp(
        base.log_hazard_age(age))})
    return patients, base


def test_levin_profile_reproduces_every_reachable_age_band() -> None:
    from mscsim.population._calibrate import (
        death_probability,
        fit_hazard,
        ifr_by_age,
        levin_band_mean,
    )

    patients, base = _synthetic_cohort()
    fitted = fit_hazard(patients, base, "levin")
    by_age = ifr_by_age(patients, death_probability(patients, base, fitted))
    for age, value in by_age.items():
        assert value == pytest.approx(levin_band_mean(age), rel=1e-4), age


def test_salje_profile_meets_its_targets_where_they_are_consistent() -> None:
    from mscsim.population._calibrate import death_probability, deaths_mean_age, fit_hazard
    from mscsim.population._targets import DEATHS_MEAN_AGE, IFR, IFR_80_PLUS

    patients, base = _synthetic_cohort()
    fitted = fit_hazard(patients, base, "salje")
    assert fitted.hazard_knot_ages == ()
    p = death_probability(patients, base, fitted)
    assert IFR.low <= p.mean() <= IFR.high
    assert IFR_80_PLUS.low <= p[patients.age.to_numpy() >= 80].mean() <= IFR_80_PLUS.high
    assert DEATHS_MEAN_AGE.low <= deaths_mean_age(patients, p) <= DEATHS_MEAN_AGE.high


def test_ceiling_of_care_reproduces_each_band() -> None:
    """Each band's expected ICU share is Salje's, the half-year ramps between bands included
    (a line between band midpoints left the younger half of 80+ with the small 70-79
    probability: 8.9% in ICU at 80+ against Salje's 4.6%)."""
    import pandas as pd

    from mscsim.population import Calibration
    from mscsim.population._calibrate import fit_ceiling
    from mscsim.population._targets import CEILING_BANDS, SALJE_AGE_BANDS, SALJE_ICU_GIVEN_HOSP

    rng = np.random.default_rng(11)
    n = 30000
    age = rng.uniform(50.0, 100.0, n)
    need = rng.random(n) < 0.45  # meets the rule for intensive care
    patients = pd.DataFrame({"age": age, "hospitalised": True, "icu_indicated": need})
    fitted = fit_ceiling(patients, Calibration.load("salje"))
    ceiling = np.array([fitted.ceiling_probability(a) for a in age])
    for band in CEILING_BANDS:
        inside = (age >= band[0]) & (age < band[1])
        share = float((need[inside] * (1 - ceiling[inside])).mean())
        target = SALJE_ICU_GIVEN_HOSP[SALJE_AGE_BANDS.index(band)]
        assert share == pytest.approx(target, abs=1e-3), band
    assert fitted.ceiling_probabilities[0] == 0.0
    assert all(0.0 <= p <= 0.98 for p in fitted.ceiling_probabilities)


def test_symptom_threshold_reproduces_the_share_it_is_fitted_to() -> None:
    """Peaks drawn at random: the fitted IFN threshold makes exactly the wanted share
    symptomatic (IL-6 or IFN), and a share below what IL-6 alone gives is refused."""
    from mscsim.population import symptom_threshold_for_share

    rng = np.random.default_rng(3)
    il6 = rng.lognormal(1.0, 1.0, 5000)
    ifn = rng.lognormal(2.0, 0.2, 5000)
    for share in (0.3, 0.69, 0.95):
        threshold = symptom_threshold_for_share(il6, ifn, 10.0, share)
        got = np.mean((il6 >= 10.0) | (ifn >= threshold))
        assert abs(got - share) <= 1 / 5000, (share, got)
    with pytest.raises(ValueError, match="by IL-6 alone"):
        symptom_threshold_for_share(il6, ifn, 10.0, 0.05)
    with pytest.raises(ValueError, match="share must lie"):
        symptom_threshold_for_share(il6, ifn, 10.0, 1.0)
