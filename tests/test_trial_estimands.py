"""Definitions of the trial outcomes that an estimand rests on."""

from __future__ import annotations

import numpy as np
import pytest

from mscsim.trial._simulate import POINTS_PER_DAY, SUSTAINED_IMPROVEMENT_DAYS, sustained_from


def test_an_improvement_counts_only_once_it_has_held():
    improved = np.array([
        [0, 1, 1, 0, 1, 1, 1, 1, 0, 0],   # a blip of 2 points, then 4 points
        [0, 0, 0, 0, 0, 0, 0, 1, 1, 1],   # improves 3 points before the end of follow-up
        [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],   # one point, then worse (or dead)
    ], dtype=bool)
    sustained = sustained_from(improved, 2)
    assert sustained.argmax(axis=1).tolist()[:2] == [4, 7]
    assert not sustained[2].any()
    assert sustained.tolist()[0] == [False] * 4 + [True, True] + [False] * 4


def test_the_trial_holds_improvement_for_two_days():
    assert SUSTAINED_IMPROVEMENT_DAYS == 2.0 and POINTS_PER_DAY == 4
    one_day = np.zeros((1, 40), dtype=bool)
    one_day[0, 4:9] = True                     # 1 day (5 grid points), then worse
    assert not sustained_from(one_day, int(SUSTAINED_IMPROVEMENT_DAYS * POINTS_PER_DAY)).any()


def test_first_events_make_improvement_and_death_compete():
    import pandas as pd

    from mscsim.trial._report import first_events, incidence_table

    patients = pd.DataFrame({"arm": ["msc"] * 4 + ["placebo"] * 2,
                             "improve_time": [2.0, np.nan, 5.0, np.nan, np.nan, 3.0],
                             "death_time": [np.nan, 4.0, 20.0, np.nan, 10.0, np.nan]})
    time, status = first_events(patients[patients.arm == "msc"], 28.0)
    # improved then died later: the first event is the improvement; alive and not
    # improved at the end: censored at day 28
    assert time.tolist() == [2.0, 4.0, 5.0, 28.0] and status.tolist() == [1, 2, 1, 0]
    table = incidence_table(patients, 28.0).set_index(["arm", "event"])
    assert table.loc[("msc", "improved"), "day 7"] == 0.5
    assert table.loc[("msc", "died before improving"), "day 28"] == 0.25
    assert table.loc[("placebo", "died before improving"), "day 7"] == 0.0
    # 2 of 4 improved by day 7, nobody censored: standard error sqrt(0.5 * 0.5 / 4) = 0.25,
    # log interval 0.5 exp(-+1.96 * 0.25 / 0.5), the upper limit capped at 1; none at 0
    low = table.loc[("msc", "improved"), "day 7 low"]
    assert low == pytest.approx(0.5 * np.exp(-1.959963984540054 * 0.5), rel=1e-12)
    assert table.loc[("msc", "improved"), "day 7 high"] == 1.0
    assert np.isnan(table.loc[("placebo", "died before improving"), "day 7 low"])



# ---------------------------------------------------------------- days alive and out of hospital
def _course(times: np.ndarray, **series: np.ndarray) -> np.ndarray:
    from mscsim.trial._simulate import OUTPUTS

    defaults = {"pf_ratio_mmhg": 250.0, "spo2_pct": 92.0, "il6_pg_ml": 50.0,
                "tnf_pg_ml": 4.0, "il10_pg_ml": 5.0, "ifn_pg_ml": 1.0, "lymphocytes_1e9_l": 0.7,
                "lung_damage_frac": 0.3, "viral_load_log10": 0.0, "viral_rna_log10": 0.0,
                "organ_dysfunction": 0.1,
                "cum_hazard": 0.0}
    values = np.zeros((1, len(times), len(OUTPUTS)))
    for k, name in enumerate(OUTPUTS):
        values[0, :, k] = series.get(name, defaults[name])
    return values


def _outcomes(values: np.ndarray, times: np.ndarray, threshold: float, enrol: float):
    from mscsim.model import PathwayRules, load_model
    from mscsim.trial._simulate import reduce_course

    rules = PathwayRules.from_parameters(load_model().parameter_defaults)
    return reduce_course(values, times, np.array([threshold]), np.array([enrol]), 28.0,
                         np.array([True]), np.array([1.0]), rules).values.iloc[0]


def _pathway(values: np.ndarray, times: np.ndarray):
    from mscsim.model import PATHWAY_INPUTS, PathwayRules, care_pathway, load_model
    from mscsim.trial._simulate import OUTPUTS

    rules = PathwayRules.from_parameters(load_model().parameter_defaults)
    return care_pathway({k: values[:, :, OUTPUTS.index(k)] for k in PATHWAY_INPUTS}, times,
                        np.array([1.0]), rules)


def test_days_alive_and_out_of_hospital_on_hand_made_courses():
    from mscsim.trial._simulate import DAOH_DEATH_SCORE

    times = np.arange(0, 45, 0.25)
    # hypoxaemic and on oxygen from day 0, room air from day 8: the pathway weans and
    # discharges alive some days later; randomised on day 2
    recovering = _course(times, spo2_pct=np.where(times < 8, 92.0, 98.0),
                         pf_ratio_mmhg=np.where(times < 8, 250.0, 450.0))
    discharge = float(_pathway(recovering, times).discharge_day[0])
    assert 8 < discharge < 2 + 28
    home = _outcomes(recovering, times, 5.0, 2.0)
    # exactly the days from discharge to day 28 after randomisation: not the days before
    # randomisation, not one grid point more or less
    assert home.daoh_d28 == 28 - (discharge - 2.0)
    assert home.vfd_d28 == 28.0 and np.isnan(home.death_time)
    # hypoxaemic throughout: alive in hospital on day 28 scores 0
    inside = _outcomes(_course(times), times, 5.0, 2.0)
    assert np.isnan(inside.death_time) and inside.daoh_d28 == 0.0
    # the same recovery, but dead on day 20 after discharge: death scores below every
    # survivor, whatever the days at home before it
    hazard = np.where(times < 22.0, 0.0, 1.0)
    died = _outcomes(_course(times, spo2_pct=np.where(times < 8, 92.0, 98.0),
                             pf_ratio_mmhg=np.where(times < 8, 250.0, 450.0),
                             cum_hazard=hazard), times, 1.0, 2.0)
    assert died.death_time == 20.0
    assert DAOH_DEATH_SCORE == -1.0 and died.daoh_d28 == DAOH_DEATH_SCORE < inside.daoh_d28


def test_last_value_alive_is_the_value_before_death():
    times = np.arange(0, 45, 0.25)
    pf = 300.0 - 5.0 * times                       # falling P/F: 300 - 5 t mmHg
    hazard = np.where(times < 7.5, 0.0, 1.0)       # reaches 1 at day 7.5 after infection
    dead = _outcomes(_course(times, pf_ratio_mmhg=pf, cum_hazard=hazard), times, 1.0, 2.0)
    assert dead.death_time == 5.5
    assert np.isnan(dead.pf_d7)
    # day 7 after randomisation is day 9 after infection; the last grid point alive is 7.25
    assert dead.pf_last_d7 == 300.0 - 5.0 * 7.25
    assert dead.pf_last_d3 == dead.pf_d3 == 300.0 - 5.0 * 5.0   # alive on day 3
    assert dead.il6_last_d14 == 50.0 and np.isnan(dead.il6_d14)


# ---------------------------------------------------------------- estimands
def test_every_endpoint_has_an_estimand():
    from mscsim.trial import ENDPOINTS

    for endpoint in ENDPOINTS.values():
        e = endpoint.estimand
        assert "randomised" in e.population and e.variable and e.summary_measure
        assert [event for event, _ in e.intercurrent_events] == [
            "death", "invasive ventilation", "rescue therapy"], endpoint.name
        if endpoint.is_change:
            assert e.death_strategy == "composite" and endpoint.kind == "worst_rank"
            assert endpoint.favours_msc == "above"       # probability MSC does better
            assert endpoint.sensitivity.kind == "change"
            assert endpoint.sensitivity.estimand.death_strategy == "survivors"
            assert "sensitivity" in dict(endpoint.sensitivity.estimand.intercurrent_events)[
                "death"]
        else:
            assert e.death_strategy is None and endpoint.sensitivity is None


def test_a_spec_chooses_the_death_strategy():
    import pytest

    from mscsim import InputError
    from mscsim.trial import endpoint_of, get_endpoint
    from tests._trial_helpers import spec

    s = spec(endpoints={"primary": "il6_change_d3",
                        "death_strategy": {"il6_change_d3": "survivors"}})
    survivors = endpoint_of(s, "il6_change_d3")
    assert survivors.kind == "change" and survivors.favours_msc == "below"   # IL-6 falls
    assert survivors.sensitivity.kind == "worst_rank"   # the death-aware one beside it
    assert endpoint_of(s, "pf_change_d7").kind == "worst_rank"
    with pytest.raises(InputError, match="not a change endpoint"):
        get_endpoint("vfd_d28").with_death_strategy("survivors")


def _sickest_die() -> tuple:
    """10 MSC and 10 control patients with the same P/F changes 0, 10, ..., 90 mmHg, except
    that under MSC the four with the smallest changes die before day 7."""
    import pandas as pd

    change = np.tile(np.arange(0.0, 100.0, 10.0), 2)
    arm = np.repeat([1, 0], 10)
    dead = (arm == 1) & (change < 40)
    baseline = 100.0 + 5.0 * (np.arange(20) % 3)
    frame = pd.DataFrame({
        "death_time": np.where(dead, 2.0 + change / 10, np.nan), "pf0": baseline,
        "pf_d7": np.where(dead, np.nan, baseline + change),
        "pf_last_d7": np.where(dead, 50.0, baseline + change)})   # P/F 50 before dying
    return frame, arm


def _least_squares_arm(change: np.ndarray, arm: np.ndarray, baseline: np.ndarray) -> float:
    x = np.column_stack([np.ones_like(change), arm, baseline])
    return float(np.linalg.lstsq(x, change, rcond=None)[0][1])


def test_an_arm_that_loses_its_sickest_patients_does_not_look_better():
    import warnings

    import pytest

    from mscsim.trial import analyse_endpoints
    from tests._trial_helpers import spec

    frame, arm = _sickest_die()
    for column in ("who_d28", "vfd_d28", "improve_time"):
        frame[column] = 1.0
    s = spec(endpoints={"primary": "pf_change_d7", "secondary": []})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = analyse_endpoints(s, frame, arm)["pf_change_d7"]
        alive = analyse_endpoints(spec(endpoints={
            "primary": "pf_change_d7", "secondary": [],
            "death_strategy": {"pf_change_d7": "while_alive"}}), frame, arm)["pf_change_d7"]
    # survivors only: MSC survivors (40-90) against all controls (0-90): a "benefit" of
    # about 20 mmHg
    base, change = frame.pf0.to_numpy(), (frame.pf_d7 - frame.pf0).to_numpy()
    alive_rows = np.isfinite(change)
    sens = out["sensitivity"]
    survivors = _least_squares_arm(change[alive_rows], arm[alive_rows], base[alive_rows])
    assert sens["estimate"] == pytest.approx(survivors, abs=1e-9) and survivors > 15
    assert sens["excluded_dead"] == 4
    assert "sensitivity" in sens["estimand"]["intercurrent_events"][0]["strategy"]
    # worst rank: 4 deaths lose every pair; MSC survivor 40 + 10 j wins 4 + j pairs and ties
    # one: (6 * 4.5 + 15) / 100
    assert out["kind"] == "worst_rank" and out["estimate"] == 0.42
    assert out["deaths_treated"] == 4 and out["deaths_control"] == 0
    assert out["estimand"]["death_strategy"] == "composite"
    # while alive: the deaths' last P/F (50): a harm
    last = (frame.pf_last_d7 - frame.pf0).to_numpy()
    assert alive["kind"] == "change" and alive["excluded_dead"] == 0
    assert alive["estimate"] == pytest.approx(_least_squares_arm(last, arm, base), abs=1e-9)
    assert alive["estimate"] < -20
    assert alive["sensitivity"]["estimate"] == sens["estimate"]


def test_worst_rank_batch_analysis_equals_scalar():
    from mscsim.trial import AnalysisOptions, analyse, analyse_batch, get_endpoint

    frame, arm = _sickest_die()
    data = get_endpoint("pf_change_d7").data(frame, 28.0)
    rng = np.random.default_rng(2)
    arms = np.stack([rng.permutation(arm) for _ in range(6)])
    stacked = {k: np.tile(v, (6, 1)) for k, v in data.items()}
    batch = analyse_batch("worst_rank", stacked, arms, AnalysisOptions())
    for r in range(6):
        one = analyse("worst_rank", data, arms[r], AnalysisOptions(), quiet=True)
        assert batch.estimate[r] == one["estimate"] and batch.p_value[r] == one["p_value"]
        assert batch.ci_low[r] == one["ci_low"]
