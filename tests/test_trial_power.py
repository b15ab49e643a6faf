"""Replicated trials: statistical validity on synthetic pools, pool versus re-simulation,
the Leng pilot pattern, the sample-size search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mscsim import InputError
from mscsim.trial import Pool, PowerOptions, build_pool, power_analysis, screen
from mscsim.trial._power import draws, pilot_pattern, replicate_data, sample_size_search
from mscsim.trial._stats.binary import risk_ratio_batch
from tests._trial_helpers import severe_population, spec


def synthetic_pool(n: int, p_control: float, p_treated: float, seed: int,
                   continuous: bool = False) -> Pool:
    """Independent potential outcomes: death by day 28 with the given risks."""
    rng = np.random.default_rng(seed)
    def frame(p: float) -> pd.DataFrame:
        if continuous:  # exponential death times with a 28-day risk p, censored at 28
            t = rng.exponential(28 / -np.log(1 - p), n)
            death = np.where(t <= 28, t, np.nan)
        else:
            death = np.where(rng.random(n) < p, rng.uniform(1, 28, n), np.nan)
        return pd.DataFrame({"death_time": death, "improve_time": np.nan})
    return Pool(cohort=None, control=frame(p_control), treated=frame(p_treated))


def mc_band(rate: float, replicates: int, k: float = 3.0) -> float:
    return k * np.sqrt(rate * (1 - rate) / replicates)


@pytest.mark.parametrize(("primary", "test"), [("mortality_d28", "wald"),
                                               ("survival", "wald")])
def test_type_i_error_is_nominal_under_the_null(primary: str, test: str) -> None:
    pool = synthetic_pool(20000, 0.3, 0.3, seed=1, continuous=primary == "survival")
    s = spec(sample_size=200, endpoints={"primary": primary, "secondary": []},
             analysis={"binary_test": test})
    res = power_analysis(s, PowerOptions(replicates=4000), pool=pool).to_dict()
    # the MSC arm's outcomes replaced by the controls': both estimate the size of the test
    for rate in (res["type_i_error"], res["power"]):
        assert abs(rate - 0.05) < mc_band(0.05, 4000), res


def test_fisher_is_conservative_under_the_null() -> None:
    pool = synthetic_pool(20000, 0.3, 0.3, seed=2)
    s = spec(sample_size=60, endpoints={"primary": "mortality_d28", "secondary": []})
    res = power_analysis(s, PowerOptions(replicates=4000), pool=pool).to_dict()
    assert res["type_i_error"] < 0.05 + mc_band(0.05, 4000)


def test_risk_ratio_interval_covers_the_truth_in_a_large_design() -> None:
    pool = synthetic_pool(100_000, 0.3, 0.2, seed=3)
    truth = pool.treated.death_time.notna().mean() / pool.control.death_time.notna().mean()
    s = spec(sample_size=1000, endpoints={"primary": "mortality_d28", "secondary": []},
             analysis={"binary_test": "wald"})
    res = power_analysis(s, PowerOptions(replicates=2000), pool=pool)
    covered = (res.effect.ci_low <= truth) & (truth <= res.effect.ci_high)
    assert abs(covered.mean() - 0.95) < mc_band(0.95, 2000)
    assert res.to_dict()["power"] > 0.9


def test_pool_of_ten_times_n_matches_the_super_population() -> None:
    s = spec(sample_size=100, endpoints={"primary": "mortality_d28", "secondary": []},
             analysis={"binary_test": "wald"})
    options = PowerOptions(replicates=2000)
    big = power_analysis(s, options, pool=synthetic_pool(200_000, 0.4, 0.25, seed=4))
    small = power_analysis(s, options, pool=synthetic_pool(1000, 0.4, 0.25, seed=5))
    tiny = power_analysis(s, options, pool=synthetic_pool(100, 0.4, 0.25, seed=6))
    pb, ps = big.to_dict()["power"], small.to_dict()["power"]
    assert small.to_dict()["pool_valid"] and not tiny.to_dict()["pool_valid"]
    assert abs(pb - ps) < 4 * np.sqrt(2 * pb * (1 - pb) / 2000)
    # a pool as small as the trial reuses the same patients: the spread of the estimated
    # effect is too narrow (only the randomisation varies), which is why the pool must be big
    spread = {k: np.nanstd(np.log(r.effect.estimate)) for k, r in
              (("big", big), ("small", small), ("tiny", tiny))}
    assert abs(spread["small"] / spread["big"] - 1) < 0.1
    assert spread["tiny"] < 0.85 * spread["big"]


def test_batch_analysis_equals_direct_statistics() -> None:
    pool = synthetic_pool(500, 0.3, 0.2, seed=7)
    s = spec(sample_size=40, endpoints={"primary": "mortality_d28", "secondary": []},
             analysis={"binary_test": "wald"})
    idx, arm = draws(s, pool.size, 50)
    data = replicate_data(s, pool.control, pool.treated, "mortality_d28", idx, arm)
    res = power_analysis(s, PowerOptions(replicates=50), pool=pool)
    dead_c = pool.control.death_time.notna().to_numpy()[idx]
    dead_t = pool.treated.death_time.notna().to_numpy()[idx]
    dead = np.where(arm == 1, dead_t, dead_c)
    assert np.array_equal(data["event"], dead.astype(float))
    direct = risk_ratio_batch((dead & (arm == 1)).sum(1), (arm == 1).sum(1),
                              (dead & (arm == 0)).sum(1), (arm == 0).sum(1))
    np.testing.assert_allclose(res.effect.estimate, direct.estimate)


def test_pilot_pattern_probability_is_exact_on_a_hand_made_pool() -> None:
    # ten patients, all enrolled, 7:3 in one block: the pattern happens exactly when the
    # one patient who dies without MSC (and recovers with it) is allocated to placebo
    control = pd.DataFrame({"death_time": [2.0] + [np.nan] * 9, "improve_time": np.nan})
    treated = pd.DataFrame({"death_time": np.nan, "improve_time": [5.0] * 10})
    s = spec(sample_size=10, follow_up_days=14,
             allocation={"ratio": {"msc": 7, "placebo": 3}, "method": "blocks",
                         "block_size": 10},
             endpoints={"primary": "mortality_d14", "secondary": []})
    idx, arm = draws(s, 10, 4000)
    with_effect = pilot_pattern(s, control, treated, idx, arm).mean()
    assert abs(with_effect - 0.3) < mc_band(0.3, 4000)
    assert pilot_pattern(s, control, control, idx, arm).mean() == 0.0
    # survival only: without MSC the pattern needs the dying patient in the placebo arm too
    alive = pilot_pattern(s, control, control, idx, arm, survival_only=True).mean()
    assert abs(alive - 0.3) < mc_band(0.3, 4000)


def test_sample_size_search_finds_the_textbook_size() -> None:
    pool = synthetic_pool(200_000, 0.4, 0.2, seed=8)
    s = spec(sample_size=40, endpoints={"primary": "mortality_d28", "secondary": []},
             analysis={"binary_test": "wald"})
    found = sample_size_search(s, pool, 1000, 0.8)
    # normal approximation: 2 x (1.96 + 0.84)^2 (0.4*0.6 + 0.2*0.8) / 0.2^2 = 157 patients
    assert found["reached"] and 120 <= found["required_n"] <= 200
    assert found["required_n"] % 4 == 0  # whole blocks
    curve = pd.DataFrame(found["curve"])
    assert curve.power.is_monotonic_increasing


@pytest.fixture(scope="module")
def tiny():
    s = spec(sample_size=8, endpoints={"primary": "survival", "secondary": []},
             allocation={"ratio": {"msc": 1, "placebo": 1}, "method": "blocks"})
    cohort = screen(s, severe_population(), engine="serial")
    return s, cohort


def test_pool_and_resimulation_agree(tiny) -> None:
    s, cohort = tiny
    pool = build_pool(s, cohort=cohort, engine="serial")
    by_pool = power_analysis(s, PowerOptions(replicates=6), pool=pool)
    by_sim = power_analysis(s, PowerOptions(replicates=6, method="resimulate"),
                            cohort=cohort, engine="serial")
    for a, b in ((by_pool.effect, by_sim.effect), (by_pool.null, by_sim.null)):
        np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(a.p_value, b.p_value, rtol=1e-6)
    assert np.array_equal(by_pool.pilot_with_effect, by_sim.pilot_with_effect)


def test_leng_pilot_pattern_reported(tiny) -> None:
    s, cohort = tiny
    leng = spec(sample_size=10, follow_up_days=14,
                allocation={"ratio": {"msc": 7, "placebo": 3}, "method": "blocks",
                            "block_size": 10},
                arms=[{"name": "msc", "dose_cells_per_kg": 1e6, "doses": 1},
                      {"name": "placebo", "control": True}],
                endpoints={"primary": "mortality_d14", "secondary": []})
    res = power_analysis(leng, PowerOptions(replicates=400), pool=build_pool(
        leng, cohort=screen(leng, severe_population(), engine="serial"),
        engine="serial")).to_dict()
    pilot = res["pilot_pattern"]
    assert 0 <= pilot["with_msc_effect"] <= 1 and 0 <= pilot["without_msc_effect"] <= 1
    surv = pilot["survival_only"]
    assert surv["with_msc_effect"] >= pilot["with_msc_effect"]
    assert surv["without_msc_effect"] >= pilot["without_msc_effect"]
    assert {"replicates", "primary_endpoint", "power", "type_i_error", "effect_median",
            "effect_q025", "effect_q975"} <= set(res)


def test_power_curve_from_one_pool() -> None:
    pool = synthetic_pool(20_000, 0.4, 0.2, seed=9)
    s = spec(sample_size=80, endpoints={"primary": "mortality_d28", "secondary": []},
             analysis={"binary_test": "wald"})
    res = power_analysis(s, PowerOptions(replicates=1000, sample_sizes=[160, 40, 80, 40]),
                         pool=pool).to_dict()
    curve = res["power_curve"]
    assert [p["n"] for p in curve] == [40, 80, 160]  # sorted, once each
    power = [p["power"] for p in curve]
    assert power[0] < power[1] < power[2]
    design = curve[1]  # the same replicate seeds as the design's own analysis
    assert design["power"] == res["power"] and design["type_i_error"] == res["type_i_error"]
    for p in curve:
        assert abs(p["type_i_error"] - 0.05) < mc_band(0.05, 1000, 4)
        assert p["power_mc_se"] == pytest.approx(np.sqrt(p["power"] * (1 - p["power"]) / 1000))
        assert p["effect_q025"] < p["effect_median"] < min(1, p["effect_q975"])
        assert p["pool_valid"]
    widths = [p["effect_q975"] - p["effect_q025"] for p in curve]
    assert widths[0] > widths[1] > widths[2]
    # the textbook power at N = 160 (two-sided 5%, 0.4 vs 0.2): about 0.81
    assert abs(power[2] - 0.81) < 0.06


def test_a_pool_too_small_for_a_curve_point_is_flagged() -> None:
    from mscsim.trial._power import pool_warning

    s = spec(sample_size=20, endpoints={"primary": "mortality_d28", "secondary": []})
    res = power_analysis(s, PowerOptions(replicates=50, sample_sizes=[20, 40]),
                         pool=synthetic_pool(300, 0.4, 0.2, seed=10)).to_dict()
    assert res["pool_valid"] and [p["pool_valid"] for p in res["power_curve"]] == [True, False]
    warning = pool_warning(res)
    assert warning is not None and "N=40 (pool 7.5 N)" in warning and "N=20" not in warning
    assert pool_warning({**res, "power_curve": res["power_curve"][:1]}) is None


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"target_power": 0.8, "method": "resimulate"}, "method", "need the pool method"),
    ({"sample_sizes": [20], "method": "resimulate"}, "method", "need the pool method"),
    ({"sample_sizes": [1, 20]}, "sample_sizes", "at least 2, got 1"),
    ({"sample_sizes": [2.5]}, "sample_sizes", "whole numbers"),
])
def test_conflicting_options_fail_before_the_population_is_read(kwargs, field: str,
                                                                 message: str) -> None:
    # the spec's population folder does not exist: reading it would be another error
    with pytest.raises(InputError, match=message) as err:
        power_analysis(spec(), PowerOptions(replicates=10, **kwargs))
    assert err.value.field == field


@pytest.mark.parametrize(("changes", "sizes", "field"), [
    ({"sample_size": 4000}, (), "sample_size"),
    ({}, (8, 4000), "sample_sizes"),
])
def test_the_pool_is_checked_right_after_screening(tiny, monkeypatch, changes, sizes,
                                                   field: str) -> None:
    from mscsim.trial import _power

    def no_simulation(*args, **kwargs):
        raise AssertionError("the MSC arm was simulated")
    monkeypatch.setattr(_power, "simulate_arm", no_simulation)
    s, cohort = tiny
    with pytest.raises(InputError, match="larger than the eligible pool") as err:
        power_analysis(s.model_copy(update=changes),
                       PowerOptions(replicates=10, sample_sizes=sizes), pool=None,
                       population=severe_population(), engine="serial")
    assert err.value.field == field


def test_a_failed_msc_arm_simulation_leaves_the_pool(monkeypatch) -> None:
    import mscsim.trial._power as power_module
    from mscsim.trial._simulate import ArmOutcomes

    real = power_module.simulate_arm

    def first_fails(*args, **kwargs):
        arm = real(*args, **kwargs)
        values = arm.values.copy()
        flags = [c for c in values.columns if c != "ok" and values[c].dtype == bool]
        values[flags] = values[flags].astype(float)
        values.loc[0, "ok"] = False
        values.loc[0, [c for c in values.columns if c != "ok"]] = np.nan
        return ArmOutcomes(values=values, daily=arm.daily)

    monkeypatch.setattr(power_module, "simulate_arm", first_fails)
    design = spec()
    cohort = screen(design, severe_population(), engine="serial")
    pool = build_pool(design, cohort=cohort, engine="serial")
    assert pool.size == cohort.size - 1 == len(pool.treated)
    assert pool.cohort.exclusions["simulation failed under the MSC arm"] == 1
    assert pool.cohort.flow["eligible"] == pool.size
    assert pool.treated.ok.all() and not pool.treated.drop(columns="ok").isna().all(axis=1).any()
    assert pool.cohort.eligible.patient.tolist() == cohort.eligible.patient.tolist()[1:]


def _change_pool(n: int, shift: float, seed: int) -> Pool:
    """Independent potential outcomes of P/F change to day 7 with 20% deaths before it."""
    rng = np.random.default_rng(seed)

    def frame(delta: float) -> pd.DataFrame:
        dead = rng.random(n) < 0.2
        base = rng.normal(150, 30, n)
        return pd.DataFrame({"death_time": np.where(dead, rng.uniform(0.5, 7, n), np.nan),
                             "improve_time": np.nan, "pf0": base,
                             "pf_d7": np.where(dead, np.nan,
                                               base + rng.normal(20 + delta, 40, n))})
    return Pool(cohort=None, control=frame(0.0), treated=frame(shift))


def test_worst_rank_power_is_vectorised_and_nominal_under_the_null() -> None:
    s = spec(sample_size=100, endpoints={"primary": "pf_change_d7", "secondary": []})
    null = power_analysis(s, PowerOptions(replicates=2000),
                          pool=_change_pool(20000, 0.0, seed=4)).to_dict()
    assert null["measure"] == "probability that MSC does better"
    for rate in (null["type_i_error"], null["power"]):
        assert abs(rate - 0.05) < mc_band(0.05, 2000), null
    assert abs(null["effect_median"] - 0.5) < 0.01
    better = power_analysis(s, PowerOptions(replicates=2000),
                            pool=_change_pool(20000, 30.0, seed=5)).to_dict()
    assert better["power"] > 0.3 and better["effect_median"] > 0.55


def test_each_method_takes_its_own_prebuilt_input(tiny) -> None:
    """Re-simulation draws new arms per replicate, so it takes a screened cohort; the pool
    method takes potential outcomes. The other pairing fails before anything runs, naming
    the argument."""
    s, cohort = tiny
    pool = build_pool(s, cohort=cohort, engine="serial")
    with pytest.raises(InputError, match="cohort=") as err:
        power_analysis(s, PowerOptions(replicates=2, method="resimulate"), pool=pool)
    assert err.value.field == "pool"
    with pytest.raises(InputError, match="pool=") as err:
        power_analysis(s, PowerOptions(replicates=2), cohort=cohort)
    assert err.value.field == "cohort"
