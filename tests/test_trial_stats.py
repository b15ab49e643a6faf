"""mscsim.trial statistics: independent Python implementations, batch = scalar, degenerate
cases, invalid input, properties and speed. (R comparisons: test_trial_stats_against_R.py.)

Tolerances (absolute on ``max(1, |reference|)``):

* scipy ``fisher_exact`` p-values and ``contingency.odds_ratio(kind="conditional")``
  estimate and limits: 1e-9
* statsmodels ``Table2x2`` and ``confint_proportions_2indep(method="wald")`` on tables
  without zero cells (statsmodels' ``shift_zeros`` adds 0.5 to the zero cells only, a
  different convention from metafor's, which is checked against R): 1e-10
* lifelines: Kaplan-Meier curve and log-log limits 1e-8, log-rank 1e-10; Cox coefficient
  and SE 1e-6, log-likelihood 1e-8, with lifelines' ``precision`` tightened to 1e-14 (at
  its default 1e-7 it stops up to ~1e-5 from the maximum; R's coxph with eps 1e-12 agrees
  with us to ~1e-12)
* scipy ``mannwhitneyu(method="asymptotic")``: 1e-12
* worst-rank analysis: statistic and p-value against scipy ``mannwhitneyu`` on a composite
  score built another way (deaths as death time - 1e6), the probability that MSC does
  better against pairwise comparisons, its standard error against scipy
  ``brunnermunzel(distribution="normal")``: 1e-12; interval coverage by simulation: 0.95
  within 0.025 (4 Monte Carlo SE at 800 replicates)
* batch versus scalar: 1e-12 (the same code path)
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mscsim._errors import InputError
from mscsim.trial import (
    StatisticsWarning,
    ancova,
    cox_ph,
    cox_ph_batch,
    fisher_exact,
    fisher_exact_batch,
    kaplan_meier,
    logrank_test,
    logrank_test_batch,
    odds_ratio,
    odds_ratio_batch,
    proportional_odds,
    risk_difference,
    risk_difference_batch,
    risk_ratio,
    risk_ratio_batch,
    wilcoxon_rank_sum,
    wilcoxon_rank_sum_batch,
)


def needs(module: str) -> Any:
    """Import a dev-only reference implementation, or skip the test."""
    return pytest.importorskip(module, reason=f"{module} (dev extra) is not installed")


def close(a: Any, b: Any, tol: float) -> bool:
    """Equal within ``tol * max(1, |b|)``; NaN and infinities must match exactly."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return False
    fin = np.isfinite(b)
    if not np.array_equal(a[~fin], b[~fin], equal_nan=True):
        return False
    return bool(np.all(np.abs(a[fin] - b[fin]) <= tol * np.maximum(1, np.abs(b[fin]))))


def quiet(fn: Any, *args: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        return fn(*args, **kw)


def random_tables(rng: np.random.Generator, size: int, max_n: int = 60) -> list[np.ndarray]:
    n1 = rng.integers(1, max_n, size)
    n0 = rng.integers(1, max_n, size)
    return [rng.binomial(n1, rng.uniform(0, 0.6, size)), n1,
            rng.binomial(n0, rng.uniform(0, 0.6, size)), n0]


def survival_trials(rng: np.random.Generator, reps: int, patients: int,
                    follow_up: int = 28) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily event times (many ties), censoring at ``follow_up``, arms of equal size."""
    arm = np.tile(np.repeat([0.0, 1.0], patients // 2), (reps, 1))
    hazard = np.where(arm == 1, 0.02, 0.035)
    t_event = np.ceil(rng.exponential(1 / hazard))
    t_cens = np.where(rng.random(arm.shape) < 0.1,
                      rng.integers(1, follow_up, arm.shape), follow_up)
    time_ = np.minimum(t_event, t_cens)
    return time_, (t_event <= t_cens).astype(float), arm


# ---------------------------------------------------------------- binary vs scipy/statsmodels


def test_fisher_against_scipy() -> None:
    from scipy.stats.contingency import odds_ratio as scipy_or

    rng = np.random.default_rng(11)
    a, n1, c, n0 = random_tables(rng, 150)
    res = quiet(fisher_exact_batch, a, n1, c, n0)
    for i in range(150):
        table = [[a[i], n1[i] - a[i]], [c[i], n0[i] - c[i]]]
        assert close(res.p_value[i], stats.fisher_exact(table).pvalue, 1e-9)
        ref = scipy_or(table, kind="conditional")
        ci = ref.confidence_interval()
        assert close(res.estimate[i], ref.statistic, 1e-9), i
        assert close(res.ci_low[i], ci.low, 1e-9), i
        assert close(res.ci_high[i], ci.high, 1e-9), i


def test_ratio_measures_against_statsmodels() -> None:
    statsmodels_table = needs("statsmodels.stats.contingency_tables")
    rng = np.random.default_rng(12)
    a, n1, c, n0 = random_tables(rng, 100, max_n=40)
    rr = quiet(risk_ratio_batch, a, n1, c, n0)
    orr = quiet(odds_ratio_batch, a, n1, c, n0)
    checked = 0
    for i in range(100):
        table = np.array([[a[i], n1[i] - a[i]], [c[i], n0[i] - c[i]]], dtype=float)
        if (table == 0).any():
            continue
        t2 = statsmodels_table.Table2x2(table, shift_zeros=False)
        assert close(rr.estimate[i], t2.riskratio, 1e-10)
        assert close([rr.ci_low[i], rr.ci_high[i]], t2.riskratio_confint(), 1e-10)
        assert close(rr.p_value[i], t2.riskratio_pvalue(), 1e-10)
        assert close(orr.estimate[i], t2.oddsratio, 1e-10)
        assert close([orr.ci_low[i], orr.ci_high[i]], t2.oddsratio_confint(), 1e-10)
        assert close(orr.p_value[i], t2.oddsratio_pvalue(), 1e-10)
        checked += 1
    assert checked > 60


def test_risk_difference_against_statsmodels() -> None:
    confint_proportions_2indep = needs(
        "statsmodels.stats.proportion").confint_proportions_2indep
    rng = np.random.default_rng(13)
    a, n1, c, n0 = random_tables(rng, 60)
    rd = quiet(risk_difference_batch, a, n1, c, n0)
    for i in np.flatnonzero(~rd.corrected):
        ref = confint_proportions_2indep(a[i], n1[i], c[i], n0[i], method="wald",
                                         compare="diff")
        assert close([rd.ci_low[i], rd.ci_high[i]], ref, 1e-10)


# ---------------------------------------------------------------- survival vs lifelines


@pytest.fixture(scope="module")
def trials() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return survival_trials(np.random.default_rng(5), 40, 60)


def test_kaplan_meier_against_lifelines(trials: tuple[np.ndarray, ...]) -> None:
    lifelines = needs("lifelines")
    time_, event, _ = trials
    for i in range(5):
        km = kaplan_meier(time_[i], event[i])
        fitter = lifelines.KaplanMeierFitter().fit(time_[i], event[i])
        at = km.table["time"].to_numpy()
        surv = fitter.survival_function_.loc[at].to_numpy().ravel()
        ci = fitter.confidence_interval_.loc[at].to_numpy()
        assert close(km.table["survival"], surv, 1e-8)
        assert close(km.table["ci_low"], ci[:, 0], 1e-8)
        assert close(km.table["ci_high"], ci[:, 1], 1e-8)
        if np.isfinite(km.median) and not np.any(np.isclose(km.table["survival"], 0.5)):
            assert km.median == fitter.median_survival_time_


def test_logrank_against_lifelines(trials: tuple[np.ndarray, ...]) -> None:
    lifelines_logrank = needs("lifelines.statistics").logrank_test
    time_, event, arm = trials
    batch = logrank_test_batch(time_, event, arm)
    for i in range(10):
        t1, t0 = arm[i] == 1, arm[i] == 0
        ref = lifelines_logrank(time_[i][t1], time_[i][t0], event[i][t1], event[i][t0])
        assert close(batch.statistic[i], ref.test_statistic, 1e-10)
        assert close(batch.p_value[i], ref.p_value, 1e-10)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_cox_against_lifelines(trials: tuple[np.ndarray, ...]) -> None:
    lifelines = needs("lifelines")
    time_, event, arm = trials
    batch = cox_ph_batch(time_, event, arm)
    for i in range(10):
        frame = pd.DataFrame({"t": time_[i], "e": event[i], "arm": arm[i]})
        ref = lifelines.CoxPHFitter().fit(frame, "t", "e",
                                          fit_options={"precision": 1e-14, "max_steps": 200})
        assert close(batch.log_hr[i], ref.params_["arm"], 1e-6)
        assert close(batch.se[i], ref.standard_errors_["arm"], 1e-6)
        assert close(batch.loglik[i], ref.log_likelihood_, 1e-8)
        assert close(batch.lrt_statistic[i], ref.log_likelihood_ratio_test().test_statistic,
                     1e-8)


def test_rank_sum_against_scipy() -> None:
    rng = np.random.default_rng(8)
    values = rng.integers(0, 15, (30, 41)).astype(float)
    arm = (rng.random((30, 41)) < 0.5).astype(float)
    batch = wilcoxon_rank_sum_batch(values, arm, estimate=True)
    for i in range(30):
        x, y = values[i, arm[i] == 1], values[i, arm[i] == 0]
        ref = stats.mannwhitneyu(x, y, use_continuity=True, method="asymptotic")
        assert close(batch.statistic[i], ref.statistic, 1e-12)
        assert close(batch.p_value[i], ref.pvalue, 1e-12)
        assert batch.estimate[i] == np.median(np.subtract.outer(x, y))


# ---------------------------------------------------------------- batch = scalar


def test_batch_logrank_equals_scalar_replicate_by_replicate() -> None:
    time_, event, arm = survival_trials(np.random.default_rng(21), 200, 80)
    batch = logrank_test_batch(time_, event, arm)
    fields = ("statistic", "p_value", "estimate", "ci_low", "ci_high", "observed_treated",
              "expected_treated", "observed_control", "expected_control", "variance")
    for i in range(200):
        one = logrank_test(time_[i], event[i], arm[i])
        assert one == batch[i]
        for f in fields:
            assert close(getattr(one, f), getattr(batch, f)[i], 1e-12)


def test_batch_logrank_shared_arm_vector() -> None:
    time_, event, arm = survival_trials(np.random.default_rng(22), 20, 40)
    assert np.array_equal(logrank_test_batch(time_, event, arm[0]).statistic,
                          logrank_test_batch(time_, event, arm).statistic)


def test_batch_cox_equals_scalar() -> None:
    time_, event, arm = survival_trials(np.random.default_rng(23), 30, 50)
    batch = cox_ph_batch(time_, event, arm)
    for i in range(30):
        assert same_result(cox_ph(time_[i], event[i], arm[i]), batch[i], 0.0)


def test_batch_binary_equals_scalar() -> None:
    rng = np.random.default_rng(24)
    tables = random_tables(rng, 40, max_n=15)
    for batch_fn, fn in ((risk_ratio_batch, risk_ratio), (odds_ratio_batch, odds_ratio),
                         (risk_difference_batch, risk_difference),
                         (fisher_exact_batch, fisher_exact)):
        batch = quiet(batch_fn, *tables)
        for i in range(40):
            one = quiet(fn, *(int(t[i]) for t in tables))
            assert same_result(one, batch[i]), (fn.__name__, i)


def same_result(a: Any, b: Any, tol: float = 1e-12) -> bool:
    """Equal results; floats within ``tol`` (root finding in a batch pads the support grid,
    which changes summation order by an ulp)."""
    da, db = a.to_dict(), b.to_dict()
    return da.keys() == db.keys() and all(
        close(da[k], db[k], tol) if isinstance(da[k], float) else da[k] == db[k] for k in da)


def test_batch_rank_sum_equals_scalar() -> None:
    rng = np.random.default_rng(25)
    values = rng.normal(size=(10, 30)).round(1)
    arm = np.repeat([0, 1], 15)
    batch = wilcoxon_rank_sum_batch(values, arm, estimate=True)
    for i in range(10):
        assert same_result(wilcoxon_rank_sum(values[i], arm), batch[i], 0.0)


# ---------------------------------------------------------------- degenerate cases


def test_double_zero_table() -> None:
    with pytest.warns(StatisticsWarning, match="no events in either arm"):
        rr = risk_ratio(0, 20, 0, 25)
    assert np.isnan(rr.estimate) and np.isnan(rr.ci_low) and rr.p_value == 1.0
    assert rr.warnings and "undefined" in rr.warnings[0]
    with pytest.warns(StatisticsWarning, match="undefined"):
        orr = odds_ratio(0, 20, 0, 25)
    assert np.isnan(orr.estimate) and orr.p_value == 1.0
    with pytest.warns(StatisticsWarning, match="zero cell"):
        rd = risk_difference(0, 20, 0, 25)
    assert rd.estimate == 0.0 and rd.p_value == 1.0
    assert rd.ci_low < 0 < rd.ci_high and np.isclose(rd.ci_low, -rd.ci_high)
    with pytest.warns(StatisticsWarning, match="one table only"):
        fe = fisher_exact(0, 20, 0, 25)
    assert np.isnan(fe.estimate) and fe.p_value == 1.0
    assert fe.ci_low == 0 and np.isinf(fe.ci_high)


def test_zero_cell_correction_warns() -> None:
    with pytest.warns(StatisticsWarning, match="0.5 added to every cell"):
        rr = risk_ratio(0, 15, 5, 14)
    assert rr.corrected and np.isclose(rr.estimate, (0.5 / 16) / (5.5 / 15))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not risk_ratio(3, 15, 5, 14).corrected


def test_all_events_in_both_arms() -> None:
    with pytest.warns(StatisticsWarning, match="only events"):
        assert np.isnan(odds_ratio(5, 5, 6, 6).estimate)
    with pytest.warns(StatisticsWarning, match="zero cell"):
        rr = risk_ratio(5, 5, 6, 6)
    assert np.isfinite(rr.estimate) and rr.p_value > 0.9


@pytest.mark.parametrize("fn", [risk_ratio, odds_ratio, risk_difference, fisher_exact])
def test_empty_arm_binary(fn: Any) -> None:
    with pytest.warns(StatisticsWarning, match="no patients|one table only"):
        res = fn(0, 0, 3, 10)
    assert np.isnan(res.estimate) and res.p_value == 1.0


def test_batch_warns_once_per_kind() -> None:
    a, n1 = np.array([0, 0, 3, 0, 4]), np.array([10, 10, 10, 0, 10])
    c, n0 = np.array([0, 2, 3, 1, 4]), np.array([10, 10, 10, 10, 10])
    with pytest.warns(StatisticsWarning) as record:
        res = risk_ratio_batch(a, n1, c, n0)
    messages = [str(w.message) for w in record]
    assert len(messages) == 3
    assert any("1 of 5 tables have an empty arm" in m for m in messages)
    assert any("1 of 5 tables have an undefined" in m for m in messages)
    assert any("1 of 5 tables have a zero cell" in m for m in messages)
    assert list(res.defined) == [False, True, True, False, True]
    assert res.notes[2] == "" and "zero cell" in res.notes[1]
    assert res.warnings == tuple(messages)


def test_logrank_degenerate() -> None:
    t = np.array([3.0, 5, 7, 9])
    with pytest.warns(StatisticsWarning, match="empty arm"):
        res = logrank_test(t, [1, 0, 1, 1], [1, 1, 1, 1])
    assert res.statistic == 0.0 and res.p_value == 1.0 and np.isnan(res.estimate)
    with pytest.warns(StatisticsWarning, match="no events"):
        res = logrank_test(t, [0, 0, 0, 0], [0, 1, 0, 1])
    assert res.statistic == 0.0 and res.p_value == 1.0
    with pytest.warns(StatisticsWarning, match="empty arm"):
        assert logrank_test([2.0], [1], [1]).p_value == 1.0
    time_, event, arm = survival_trials(np.random.default_rng(1), 5, 20)
    event[2] = 0
    with pytest.warns(StatisticsWarning, match="1 of 5 replicates have no events"):
        batch = logrank_test_batch(time_, event, arm)
    assert list(batch.defined) == [True, True, False, True, True]


def test_cox_degenerate() -> None:
    t = np.array([3.0, 5, 7, 9, 4, 6])
    with pytest.warns(StatisticsWarning, match="no events"):
        res = cox_ph(t, np.zeros(6), [0, 1, 0, 1, 0, 1])
    assert np.isnan(res.estimate) and res.p_value == 1.0
    with pytest.warns(StatisticsWarning, match="empty arm"):
        assert np.isnan(cox_ph(t, np.ones(6), np.zeros(6)).estimate)
    with pytest.warns(StatisticsWarning, match="no events in the control arm"):
        res = cox_ph(t, [0, 1, 0, 1, 0, 1], [0, 1, 0, 1, 0, 1])
    assert np.isinf(res.estimate) and res.p_value == res.p_score < 1


def test_kaplan_meier_degenerate() -> None:
    with pytest.warns(StatisticsWarning, match="no events"):
        km = kaplan_meier([3.0, 5, 5], [0, 0, 0])
    assert np.all(km.table["survival"] == 1) and np.isnan(km.median)
    with pytest.warns(StatisticsWarning, match="no patients"):
        km = kaplan_meier([], [])
    assert km.table.empty and np.isnan(km.median)
    km = kaplan_meier([4.0], [1])
    assert list(km.table["survival"]) == [0.0] and km.median == 4.0


def test_proportional_odds_degenerate() -> None:
    with pytest.warns(StatisticsWarning, match="one category"):
        res = proportional_odds([6, 6, 6, 6], [0, 1, 0, 1])
    assert np.isnan(res.estimate) and res.p_value == 1.0
    with pytest.warns(StatisticsWarning, match="no patients"):
        assert proportional_odds([3, 4, 6], [1, 1, 1]).p_value == 1.0
    with pytest.warns(StatisticsWarning, match="no patients"):
        assert proportional_odds([5], [1]).p_value == 1.0
    with pytest.warns(StatisticsWarning, match="separation"):
        res = proportional_odds([3, 4, 4, 5, 6, 7], [1, 1, 1, 0, 0, 0])
    assert res.estimate == 0.0 and res.p_value == res.p_score and 0 < res.p_score < 0.1


def test_proportional_odds_empty_categories_do_not_change_the_fit() -> None:
    rng = np.random.default_rng(4)
    arm = np.repeat([0, 1], 40)
    who = np.clip(np.round(rng.normal(6 - arm, 1.5)), 4, 9)
    who[who == 7] = 8
    full = proportional_odds(who, arm, levels=range(11))
    observed = proportional_odds(who, arm)
    assert full.empty_levels == (0, 1, 2, 3, 7, 10)
    assert full.estimate == observed.estimate and full.warnings == ()
    assert "6|8" in list(full.thresholds["label"])


def test_proportional_odds_derivatives_match_finite_differences() -> None:
    from mscsim.trial._stats import ordinal

    rng = np.random.default_rng(9)
    data = ordinal._Data(y=rng.integers(0, 4, 30), x=rng.normal(size=(30, 2)),
                         w=rng.integers(1, 4, 30).astype(float), k=4)
    theta = np.array([0.3, -0.2, -1.0, 0.1, 1.2])
    grad, hess = ordinal._derivatives(theta, data)
    h = 1e-6
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        fd = (ordinal._loglik(theta + e, data) - ordinal._loglik(theta - e, data)) / (2 * h)
        assert abs(fd - grad[j]) < 1e-6
        gp, _ = ordinal._derivatives(theta + e, data)
        gm, _ = ordinal._derivatives(theta - e, data)
        assert np.allclose((gp - gm) / (2 * h), hess[:, j], atol=1e-5)


def test_continuous_degenerate() -> None:
    with pytest.warns(StatisticsWarning, match="tied"):
        assert wilcoxon_rank_sum([2.0, 2, 2, 2], [0, 1, 0, 1]).p_value == 1.0
    with pytest.warns(StatisticsWarning, match="no patients"):
        res = wilcoxon_rank_sum([1.0, 2, 3], [0, 0, 0])
    assert res.p_value == 1.0 and np.isnan(res.estimate)
    with pytest.warns(StatisticsWarning, match="no patients"):
        assert np.isnan(ancova([1.0, 2, 3], [1.0, 1, 2], [1, 1, 1]).estimate)
    with pytest.warns(StatisticsWarning, match="rank-deficient"):
        assert ancova([1.0, 2, 3, 4], [0.0, 1, 0, 1], [0, 1, 0, 1]).p_value == 1.0
    with pytest.warns(StatisticsWarning, match="no residual degrees of freedom"):
        res = ancova([1.0, 2, 4], [0.0, 1, 3], [0, 1, 0])
    assert res.p_value == 1.0 and np.isfinite(res.estimate)


# ---------------------------------------------------------------- invalid input


@pytest.mark.parametrize(("call", "field"), [
    (lambda: risk_ratio(-1, 10, 2, 10), "events_treated"),
    (lambda: risk_ratio(11, 10, 2, 10), "events_treated"),
    (lambda: odds_ratio(1, 10, 2.5, 10), "events_control"),
    (lambda: fisher_exact(1, 10, 12, 10), "events_control"),
    (lambda: risk_ratio_batch([1, 2], [10, 10, 10], [1, 2], [10, 10]), "n_control"),
    (lambda: risk_ratio(1, 10, 2, 10, level=1.5), "level"),
    (lambda: risk_ratio([1, 2], 10, 2, 10), "events_treated"),
    (lambda: logrank_test([1.0, np.nan], [1, 0], [0, 1]), "time"),
    (lambda: logrank_test([1.0, -2], [1, 0], [0, 1]), "time"),
    (lambda: logrank_test([1.0, 2], [1, 0, 1], [0, 1]), "event"),
    (lambda: logrank_test([1.0, 2], [1, 0], [0, 2]), "arm"),
    (lambda: logrank_test_batch(np.ones((3, 4)), np.ones((3, 4)), np.ones(5)), "arm"),
    (lambda: cox_ph([1.0, 2], [1, 0], [0, 1], ties="exact"), "ties"),
    (lambda: kaplan_meier([1.0, 2], [1, 0.5]), "event"),
    (lambda: kaplan_meier([1.0, 2], [1, 0], conf_type="arcsin"), "conf_type"),
    (lambda: proportional_odds([1, 2, 11], [0, 1, 0], levels=range(11)), "outcome"),
    (lambda: proportional_odds([1, 2, np.nan], [0, 1, 0]), "outcome"),
    (lambda: proportional_odds([1, 2, 3], [0, 1]), "arm"),
    (lambda: proportional_odds([1, 2, 3], [0, 1, 0], {"age": [1, 2]}), "covariates['age']"),
    (lambda: wilcoxon_rank_sum([1.0, 2], [0, 1, 1]), "arm"),
    (lambda: ancova([1.0, 2], [1.0], [0, 1]), "baseline"),
])
def test_invalid_input_names_the_argument(call: Any, field: str) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert info.value.field == field


# ---------------------------------------------------------------- properties and output

counts = st.integers(min_value=1, max_value=200).flatmap(
    lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=150, deadline=None)
@given(counts, counts)
def test_ratio_ci_contains_estimate_and_swapping_arms_inverts(t: tuple[int, int],
                                                              c: tuple[int, int]) -> None:
    for fn in (risk_ratio, odds_ratio):
        res = quiet(fn, t[0], t[1], c[0], c[1])
        swapped = quiet(fn, c[0], c[1], t[0], t[1])
        if not np.isfinite(res.estimate):
            assert res.p_value == 1.0 and np.isnan(swapped.estimate)
            continue
        assert res.ci_low <= res.estimate <= res.ci_high
        assert np.isclose(swapped.estimate, 1 / res.estimate, rtol=1e-12)
        assert np.isclose(swapped.ci_low, 1 / res.ci_high, rtol=1e-12)
        assert np.isclose(swapped.p_value, res.p_value, rtol=1e-9, atol=1e-15)
    rd = quiet(risk_difference, t[0], t[1], c[0], c[1])
    assert rd.ci_low <= rd.estimate <= rd.ci_high
    assert np.isclose(quiet(risk_difference, c[0], c[1], t[0], t[1]).estimate, -rd.estimate)
    fe = quiet(fisher_exact, t[0], t[1], c[0], c[1])
    assert 0 <= fe.p_value <= 1
    assert np.isclose(quiet(fisher_exact, c[0], c[1], t[0], t[1]).p_value, fe.p_value,
                      rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_logrank_swap_arms_symmetric(seed: int) -> None:
    time_, event, arm = survival_trials(np.random.default_rng(seed), 3, 20)
    a = quiet(logrank_test_batch, time_, event, arm)
    b = quiet(logrank_test_batch, time_, event, 1 - arm)
    assert np.allclose(a.statistic, b.statistic, rtol=1e-12, atol=1e-14)
    ok = a.defined
    assert np.allclose(a.estimate[ok] * b.estimate[ok], 1.0)


def test_results_serialise_to_json() -> None:
    time_, event, arm = survival_trials(np.random.default_rng(3), 2, 30)
    results = [risk_ratio(3, 10, 5, 11), fisher_exact(3, 10, 5, 11),
               logrank_test(time_[0], event[0], arm[0]), cox_ph(time_[0], event[0], arm[0]),
               kaplan_meier(time_[0], event[0]), logrank_test_batch(time_, event, arm),
               proportional_odds([3, 4, 5, 4, 6, 3], [0, 0, 0, 1, 1, 1]),
               wilcoxon_rank_sum([1.0, 3, 2, 5], [0, 1, 0, 1]),
               ancova([3.0, 4, 6, 5, 7, 8], [1.0, 2, 2, 1, 3, 3], [0, 0, 0, 1, 1, 1])]
    for res in results:
        data = res.to_dict()
        assert {"method", "warnings"} <= set(data)
        json.dumps(data)
    assert kaplan_meier(time_[0], event[0]).survival_at([0.0, 1e9]).tolist()[0] == 1.0


# ---------------------------------------------------------------- worst rank (deaths)
def _worst_rank_trial(rng: np.random.Generator, n: int, shift: float = 0.0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arm = (np.arange(n) % 2).astype(float)
    value = np.round(rng.normal(0, 1, n) + shift * arm, 1)           # ties among survivors
    death = np.where(rng.random(n) < 0.3, rng.integers(1, 6, n).astype(float), np.nan)
    value[np.isfinite(death)] = np.nan                               # ties among deaths
    return value, death, arm


def test_worst_ranks_on_a_hand_made_trial() -> None:
    from mscsim.trial import worst_rank_test, worst_ranks

    value = np.array([5.0, np.nan, 2.0, np.nan, 1.0, np.nan])
    death = np.array([np.nan, 3.0, np.nan, 1.0, np.nan, 3.0])
    # the day-1 death is worst, the two day-3 deaths share ranks 2 and 3, then survivors
    assert worst_ranks(value[None], death[None], True)[0].tolist() == [6, 2.5, 5, 1, 4, 2.5]
    # a fall is better (IL-6): survivors reverse, deaths stay at the bottom
    assert worst_ranks(value[None], death[None], False)[0].tolist() == [4, 2.5, 5, 1, 6, 2.5]
    arm = np.array([1, 1, 1, 0, 0, 0])
    res = worst_rank_test(value, death, arm)
    # MSC (ranks 6, 2.5, 5) against control (1, 4, 2.5): 7 wins, 1 tie, 1 loss of 9 pairs
    assert res.estimate == pytest.approx(7.5 / 9, abs=1e-12)
    assert (res.deaths_treated, res.deaths_control) == (1, 2)
    # reversed (4, 2.5, 5 against 1, 6, 2.5): 5 wins, 1 tie
    assert worst_rank_test(value, death, arm, higher_is_better=False).estimate == \
        pytest.approx(5.5 / 9, abs=1e-12)


def test_worst_rank_against_scipy_and_pairwise_comparisons() -> None:
    from mscsim.trial import worst_rank_test

    rng = np.random.default_rng(17)
    for k in range(20):
        value, death, arm = _worst_rank_trial(rng, int(rng.integers(8, 80)), shift=0.4)
        higher = bool(k % 2)
        res = worst_rank_test(value, death, arm, higher_is_better=higher)
        score = np.where(np.isfinite(death), death - 1e6, value if higher else -value)
        x, y = score[arm == 1], score[arm == 0]
        mw = stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=True)
        assert abs(res.statistic - mw.statistic) <= 1e-12 * max(1.0, mw.statistic)
        assert abs(res.p_value - mw.pvalue) <= 1e-12
        pairs = np.sign(np.subtract.outer(x, y))
        assert abs(res.estimate - ((pairs > 0).mean() + 0.5 * (pairs == 0).mean())) <= 1e-12
        bm = stats.brunnermunzel(y, x, distribution="normal")
        assert abs((res.estimate - 0.5) / res.se - bm.statistic) <= 1e-12 * max(
            1.0, abs(bm.statistic))
        assert res.ci_low < res.estimate < res.ci_high


def test_worst_rank_interval_covers() -> None:
    from mscsim.trial import worst_rank_test_batch

    rng = np.random.default_rng(5)
    reps, n, delta = 800, 60, 0.5
    arm = (np.arange(n) % 2).astype(float)
    value = rng.normal(0, 1, (reps, n)) + delta * arm
    death = np.full((reps, n), np.nan)
    res = worst_rank_test_batch(value, death, arm)
    truth = stats.norm.cdf(delta / np.sqrt(2))      # P(X + delta > Y), X, Y ~ N(0, 1)
    covered = ((res.ci_low < truth) & (truth < res.ci_high)).mean()
    assert abs(covered - 0.95) < 0.025


def test_batch_worst_rank_equals_scalar() -> None:
    from mscsim.trial import worst_rank_test, worst_rank_test_batch

    rng = np.random.default_rng(8)
    trials = [_worst_rank_trial(rng, 30, shift=0.3) for _ in range(12)]
    value, death, _ = (np.stack(t) for t in zip(*trials, strict=True))
    arm = np.stack([rng.permutation(np.arange(30) % 2) for _ in range(12)]).astype(float)
    batch = worst_rank_test_batch(value, death, arm, higher_is_better=False)
    for r in range(12):
        one = worst_rank_test(value[r], death[r], arm[r], higher_is_better=False)
        for field in ("estimate", "ci_low", "ci_high", "p_value", "statistic", "se"):
            assert getattr(batch[r], field) == pytest.approx(getattr(one, field), abs=1e-12)
        assert batch[r].deaths_control == one.deaths_control


def test_worst_rank_degenerate_and_invalid() -> None:
    from mscsim.trial import worst_rank_test

    with pytest.warns(StatisticsWarning, match="no interval"):
        res = worst_rank_test([1.0, 2.0, np.nan, np.nan], [np.nan, np.nan, 2.0, 3.0],
                              [1, 1, 0, 0])
    assert res.estimate == 1.0 and np.isnan(res.ci_low) and res.p_value < 1
    with pytest.raises(InputError, match="either a value") as info:
        worst_rank_test([1.0, np.nan], [2.0, np.nan], [1, 0])
    assert info.value.field == "value"
    with pytest.raises(InputError) as info:
        worst_rank_test([1.0, 2.0], [np.nan, np.nan], [1, 2])
    assert info.value.field == "arm"
