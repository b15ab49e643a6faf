"""Calibration statistics on constructed arm-risk tables (no simulation): binomial
likelihood against scipy, recovery of the generating grid point, profile-likelihood
intervals against an independent root finder, identifiability, fit diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.special import softmax, xlogy
from scipy.stats import binom, chi2

from mscsim import InputError
from mscsim.bridge import (
    binomial_loglik,
    fit_table,
    goodness_of_fit,
    grid_loglik,
    grid_weights,
    profile,
)
from mscsim.bridge._calibrate import relative_loglik, reproduction, reproduction_text

SCALES = np.round(np.linspace(0.0, 2.0, 9), 6)
EC50S = np.array([10.0, 30.0, 100.0])


def risk_table(studies: dict[str, float]) -> pd.DataFrame:
    """A synthetic model: control risk per study; the MSC arm's risk falls with the Emax
    scale and rises with EC50 (a smooth monotone response)."""
    rows, g = [], 0
    for s in SCALES:
        for e in EC50S:
            for sid, pc in studies.items():
                effect = 0.6 * s / (1 + s) * (30 / (e + 30)) * 2
                rows.append({"study_id": sid, "grid": g, "emax_scale": s, "msc_ec50": e,
                             "p_treated": pc * (1 - min(effect, 0.95)), "p_control": pc})
            g += 1
    return pd.DataFrame(rows)


def test_binomial_loglik_against_scipy():
    k = np.array([0, 3, 10, 7, 50])
    n = np.array([5, 12, 10, 30, 200])
    p = np.array([0.1, 0.25, 0.9, 0.0, 0.3])
    got = binomial_loglik(k, n, p)
    want = binom.logpmf(k, n, np.clip(p, 1e-12, 1 - 1e-12))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_likelihood_maximum_recovers_the_grid_point_that_generated_the_deaths():
    studies = {f"S{i}": pc for i, pc in enumerate([0.3, 0.45, 0.6, 0.25, 0.5])}
    risks = risk_table(studies)
    gen = np.random.default_rng(11)
    for true_scale, true_ec50 in [(0.5, 30.0), (1.5, 10.0), (1.0, 100.0)]:
        at = risks[(risks.emax_scale == true_scale) & (risks.msc_ec50 == true_ec50)]
        n = 20000
        observed = pd.DataFrame({"study_id": at.study_id, "n1": n, "n2": n,
                                 "ai": gen.binomial(n, at.p_treated),
                                 "ci": gen.binomial(n, at.p_control)})
        lik = grid_loglik(risks, observed)
        best = lik.loc[lik.loglik.idxmax()]
        assert (best.emax_scale, best.msc_ec50) == (true_scale, true_ec50)
        prof = profile(lik, "emax_scale")
        assert prof.ci_low <= true_scale <= prof.ci_high


def test_profile_interval_against_an_independent_root_finder():
    # one study, risk equal to the grid value: the profile is the binomial likelihood of p
    values = np.round(np.arange(0.01, 1.0, 0.001), 6)
    risks = pd.DataFrame({"study_id": "A", "grid": np.arange(len(values)),
                          "emax_scale": values, "msc_ec50": 30.0, "p_treated": values,
                          "p_control": 0.5})
    observed = pd.DataFrame({"study_id": ["A"], "ai": [30], "n1": [100], "ci": [50],
                             "n2": [100]})
    prof = profile(grid_loglik(risks, observed), "emax_scale")

    def lr(p: float) -> float:
        return 2 * (binom.logpmf(30, 100, 0.3) - binom.logpmf(30, 100, p)) - chi2.ppf(0.95, 1)

    lo, hi = brentq(lr, 0.05, 0.3), brentq(lr, 0.3, 0.6)
    assert prof.estimate == pytest.approx(0.3)
    assert prof.ci_low == pytest.approx(lo, abs=2e-4)
    assert prof.ci_high == pytest.approx(hi, abs=2e-4)
    assert prof.identifiable == "yes"


def test_a_parameter_without_effect_is_reported_not_identifiable():
    risks = risk_table({"A": 0.4})
    risks["p_treated"] = risks.p_control * (1 - 0.2 * risks.emax_scale / 2)  # EC50 inert
    observed = pd.DataFrame({"study_id": ["A"], "ai": [30], "n1": [100], "ci": [40],
                             "n2": [100]})
    lik = grid_loglik(risks, observed)
    assert profile(lik, "msc_ec50").identifiable == "no"
    assert profile(lik, "emax_scale").identifiable in ("yes", "bounded one side")


@pytest.mark.parametrize("likelihood", ["absolute", "relative"])
def test_only_the_studies_passed_enter_the_likelihood(likelihood):
    risks = risk_table({"A": 0.4, "B": 0.5})
    obs_a = pd.DataFrame({"study_id": ["A"], "ai": [10], "n1": [40], "ci": [16], "n2": [40]})
    lik = grid_loglik(risks, obs_a, likelihood)
    risks_b_changed = risks.copy()
    risks_b_changed.loc[risks_b_changed.study_id == "B", "p_treated"] = 0.01
    pd.testing.assert_frame_equal(lik, grid_loglik(risks_b_changed, obs_a, likelihood))
    with pytest.raises(InputError, match="no model risks for C"):
        grid_loglik(risks, pd.DataFrame({"study_id": ["C"], "ai": [1], "n1": [2], "ci": [1],
                                         "n2": [2]}))


def test_grid_weights_are_the_normalised_likelihood():
    ll = np.array([-1000.0, -1001.0, -1003.0])
    w = grid_weights(ll)
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w, softmax(ll), rtol=1e-12)  # no underflow at -1000
    np.testing.assert_allclose(w, np.exp(ll + 1000) / np.exp(ll + 1000).sum(), rtol=1e-12)


def test_fit_table_and_deviance_against_a_direct_computation():
    risks = risk_table({"A": 0.4, "B": 0.2})
    observed = pd.DataFrame({"study_id": ["A", "B"], "ai": [12, 3], "n1": [40, 30],
                             "ci": [20, 9], "n2": [40, 30]})
    fit = fit_table(risks, observed, 4)
    assert len(fit) == 4 and set(fit.arm) == {"msc", "control"}
    k, n, p = fit.deaths.to_numpy(float), fit.n.to_numpy(float), fit.fitted.to_numpy(float)
    dev = 2 * np.sum(xlogy(k, k / (n * p)) + xlogy(n - k, (n - k) / (n * (1 - p))))
    gof = goodness_of_fit(fit, 2)
    assert gof["deviance"] == pytest.approx(dev, rel=1e-9)
    assert gof["p_value"] == pytest.approx(chi2.sf(dev, 2), rel=1e-9)
    for r in fit.itertuples():
        lo, hi = binom.ppf([0.025, 0.975], r.n, r.fitted)
        assert r.within_95 == (lo <= r.deaths <= hi)


def test_reproduction_flags_a_model_far_from_the_evidence():
    good = pd.DataFrame({"study_id": ["A", "B"], "arm": ["control", "control"],
                         "deaths": [20, 10], "n": [100, 50], "fitted": [0.2, 0.2],
                         "within_95": [True, True]})
    bad = good.assign(fitted=[0.6, 0.6], within_95=[False, False])
    assert reproduction(good)["control"]["reproduced"] is True
    checks = reproduction(bad)["control"]
    assert checks["reproduced"] is False
    assert checks["model_mortality"] == pytest.approx(0.6)
    assert checks["observed_mortality"] == pytest.approx(0.2)
    text = reproduction_text(reproduction(bad))[0]
    assert "does NOT reproduce" in text and "60.0% expected vs 20.0% observed" in text


def test_relative_loglik_against_a_brute_force_profile():
    q = np.linspace(0.0, 1.0, 200001)
    for ai, n1, ci, n2, rr in [(3, 20, 8, 24, 0.5), (0, 12, 3, 29, 0.7), (10, 20, 16, 20, 1.3),
                               (0, 10, 0, 10, 0.6)]:
        ok = rr * q <= 1
        brute = (binom.logpmf(ci, n2, q[ok]) + binom.logpmf(ai, n1, np.clip(rr * q[ok], 0,
                                                                              1))).max()
        got, q_hat = relative_loglik(ai, n1, ci, n2, rr)
        assert got == pytest.approx(brute, abs=1e-6)
        assert 0 <= q_hat <= min(1, 1 / rr)


def test_relative_likelihood_recovers_the_effect_when_the_baseline_is_wrong():
    # the model's control risks are far too high (0.9), its risk ratios are right
    studies = {f"S{i}": 0.9 for i in range(4)}
    risks = risk_table(studies)
    true_control = np.array([0.2, 0.3, 0.15, 0.25])
    at = risks[(risks.emax_scale == 2.0) & (risks.msc_ec50 == 10.0)]  # a unique effect
    rr = (at.p_treated / at.p_control).to_numpy()
    gen = np.random.default_rng(3)
    n = 20000
    observed = pd.DataFrame({"study_id": at.study_id.to_numpy(), "n1": n, "n2": n,
                             "ai": gen.binomial(n, rr * true_control),
                             "ci": gen.binomial(n, true_control)})
    rel = grid_loglik(risks, observed, "relative").set_index("grid")
    best = rel.loc[rel.loglik.idxmax()]
    assert (best.emax_scale, best.msc_ec50) == (2.0, 10.0)
    fit = fit_table(risks, observed, int(rel.loglik.idxmax()), "relative")
    control = fit[fit.arm == "control"].set_index("study_id").fitted
    np.testing.assert_allclose(control.to_numpy(), true_control, atol=0.01)
    assert reproduction(fit_table(risks, observed, int(rel.loglik.idxmax())))["control"][
        "reproduced"] is False  # the model's own baseline is still reported as wrong


def test_unknown_likelihood_is_an_input_error():
    risks = risk_table({"A": 0.4})
    observed = pd.DataFrame({"study_id": ["A"], "ai": [1], "n1": [5], "ci": [2], "n2": [5]})
    with pytest.raises(InputError) as err:
        grid_loglik(risks, observed, "conditional")
    assert err.value.field == "likelihood"
