"""Care-home residents: drawn only in a profile whose cohort includes them, from their own
stream, with the share by age of their table and the IFN shift of the profile."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mscsim import InputError
from mscsim.model import load_model
from mscsim.population import Calibration, GenerationOptions, generate_population
from mscsim.population._generate import simulate_patients
from mscsim.population._sampling import draw_covariates, patient_parameters
from mscsim.population._tables import _care_home_bands, care_home_share, data_path

SMALL = GenerationOptions(days=40, points_per_day=4)


@pytest.fixture(scope="module")
def with_residents() -> Calibration:
    return replace(Calibration.load("salje"), care_home_residents=True,
                   care_home_ifn_shift=-1.5)


def test_only_the_levin_profile_includes_residents() -> None:
    salje, levin = Calibration.load("salje"), Calibration.load("levin")
    assert not salje.care_home_residents and salje.care_home_ifn_shift == 0.0
    assert levin.care_home_residents and levin.care_home_ifn_shift < 0  # frailer: less IFN
    assert not any(draw_covariates(3, i, salje).care_home for i in range(3000))


def test_residents_follow_the_share_by_age_and_change_no_other_covariate(
        with_residents) -> None:
    salje = Calibration.load("salje")
    draws = [(draw_covariates(5, i, salje), draw_covariates(5, i, with_residents))
             for i in range(20000)]
    for without, with_ in draws:
        assert replace(with_, care_home=False) == without
    ages = np.array([w.age for _, w in draws])
    resident = np.array([w.care_home for _, w in draws])
    assert not resident[ages < 60].any()
    for low, high, _ in _care_home_bands():
        band = (ages >= low) & (ages < high)
        share = care_home_share((low + high) / 2)
        if band.sum() > 200:
            sd = np.sqrt(share * (1 - share) / band.sum())
            assert resident[band].mean() == pytest.approx(share, abs=4 * sd + 1e-3), low
    # population share 26% at 90-94 y, attack rate 2.5-fold: 0.26*2.5 / (0.26*2.5 + 0.74)
    assert care_home_share(40.0) == 0.0
    assert care_home_share(92.0) == pytest.approx(0.65 / 1.39)


def test_residents_get_the_profile_ifn_shift(with_residents) -> None:
    model = load_model()
    covariates = replace(draw_covariates(1, 0, with_residents), care_home=False)
    effects = {"p_ifn": 0.0, "k_cd8_kill": 0.0, "p_il6_mac": 0.0}
    community = patient_parameters(model, covariates, effects, with_residents)
    resident = patient_parameters(model, replace(covariates, care_home=True), effects,
                                  with_residents)
    assert resident["p_ifn"] / community["p_ifn"] == pytest.approx(np.exp(-1.5))
    assert resident["hazard_multiplier"] == community["hazard_multiplier"]


def test_a_subset_simulates_as_in_the_whole_population(with_residents) -> None:
    whole = generate_population(12, seed=9, options=SMALL, calibration=with_residents,
                                engine="serial")
    ids = np.array([10, 3, 7])
    part = simulate_patients(ids, 9, options=SMALL, calibration=with_residents,
                             engine="serial", chunk_size=2)
    assert list(part.patient) == [10, 3, 7]
    expected = whole.patients.set_index("patient").loc[ids].reset_index()
    numeric = [c for c in part.columns if part[c].dtype.kind == "f"]
    np.testing.assert_allclose(part[numeric].to_numpy(), expected[numeric].to_numpy(),
                               rtol=1e-12, equal_nan=True)
    assert "care_home" in whole.patients.columns


def test_calibration_files_without_care_home_fields_still_load(tmp_path) -> None:
    raw = json.loads(data_path("calibrated.json").read_text())
    for key in ("care_home_residents", "care_home_ifn_shift"):
        raw["values"].pop(key, None)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(raw))
    loaded = Calibration.load(path=path)
    assert not loaded.care_home_residents and loaded.care_home_ifn_shift == 0.0


def test_a_share_outside_0_1_names_file_and_line(tmp_path, monkeypatch) -> None:
    from mscsim.population import _tables

    bad = tmp_path / "care_home_share.csv"
    bad.write_text("age_low,age_high,share,source\n60,70,0.01,x\n70,80,1.4,y\n")
    monkeypatch.setattr(_tables, "data_path", lambda name: bad)
    _care_home_bands.cache_clear()
    try:
        with pytest.raises(InputError, match=r"care_home_share.csv:3, column share"):
            _care_home_bands()
    finally:
        _care_home_bands.cache_clear()


def test_ifr_as_serosurveys_measure_it_on_a_hand_made_world() -> None:
    """100,000 people aged 87, 13% in care homes (the table's 85-89 share); community attack
    rate 10%, 2.5-fold in care homes; IFR 10% in the community, 20% in care homes. A
    serosurvey of the community finds 10% infected and, applied to everyone, 10,000
    infections; deaths 8,700 x 0.1 + 3,250 x 0.2 = 1,520: measured IFR 15.2%, true IFR
    1,520 / 11,950 = 12.7%."""
    import pandas as pd

    from mscsim.population._calibrate import ifr_by_age

    community, residents = 8700, 3250
    patients = pd.DataFrame({"age": 87.0, "care_home": [False] * community + [True] * residents})
    p_death = np.r_[np.full(community, 0.1), np.full(residents, 0.2)]
    assert ifr_by_age(patients, p_death)[85] == pytest.approx(0.152)
    assert ifr_by_age(patients, p_death, as_serosurveys=False)[85] == pytest.approx(
        1520 / 11950)
    # without residents, both are the plain IFR
    alone = patients.assign(care_home=False)
    assert ifr_by_age(alone, p_death)[85] == pytest.approx(p_death.mean())


def test_stage_c_solves_the_residents_ifn_shift_to_the_care_home_target() -> None:
    """The fitted shift gives the residents the target IFR (re-simulated apart from the fit)
    with Levin's hazard refitted. With ~50 residents the IFR moves in steps of about one
    resident (2%), so the root is met within 3 points."""
    from mscsim.population._calibrate import death_probability, fit_care_homes
    from mscsim.population._targets import CARE_HOME_IFR

    options = GenerationOptions(days=40, points_per_day=2)
    base = Calibration.load("salje")
    community = generate_population(2000, seed=31, options=options, calibration=base,
                                    workers=2).ok
    messages: list[str] = []
    fitted = fit_care_homes(community, base, 31, options=options, workers=2,
                            log=messages.append)
    assert fitted.care_home_residents and fitted.hazard_knot_ages  # a levin-type hazard
    residents = community.patient[[draw_covariates(31, int(i), fitted).care_home
                                   for i in community.patient]].to_numpy()
    assert len(residents) > 0 and messages[0].startswith(f"stage C: {len(residents)} of")
    again = simulate_patients(residents, 31, options=options, calibration=fitted,
                              engine="serial")
    ifr = death_probability(again, fitted, fitted).mean()
    assert ifr == pytest.approx(CARE_HOME_IFR.value, abs=0.03)
