"""Prediction of post-cut-off studies on constructed calibrations (no simulation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mscsim import InputError
from mscsim.bridge import BridgeOptions, BridgeResult, covered, predict_result, risk_ratio
from mscsim.bridge._predict import study_draws
from mscsim.evidence import meta_analysis


def constructed(observed: dict[str, tuple[int, int, int, int]],
                risks: dict[str, tuple[list[float], float]], loglik: list[float],
                seed: int = 5) -> BridgeResult:
    """A calibrated result with the given observed counts and model risks per grid point."""
    grid = list(range(len(loglik)))
    rows = [{"study_id": sid, "grid": g, "emax_scale": float(g), "msc_ec50": 30.0,
             "p_treated": pt[g], "p_control": pc}
            for sid, (pt, pc) in risks.items() for g in grid]
    reps = pd.DataFrame([{"study_id": sid, "pub_date": "2022-06-01", "ai": a, "n1": n1,
                          "ci": c, "n2": n2} for sid, (a, n1, c, n2) in observed.items()])
    lik = pd.DataFrame({"grid": grid, "emax_scale": [float(g) for g in grid],
                        "msc_ec50": 30.0, "loglik": loglik})
    cal = {"cutoff": "2021-12-31", "calibration_studies": [],
           "prediction_studies": list(observed)}
    return BridgeResult(BridgeOptions(), reps, {}, pd.DataFrame(rows), lik, cal,
                        pd.DataFrame(), pd.DataFrame(), {"seed": seed})


def test_risk_ratio_against_the_direct_formula():
    ai, n1, ci, n2 = (np.array(v) for v in ([3, 0, 5, 10], [10, 12, 20, 10], [6, 4, 0, 5],
                                            [12, 12, 20, 10]))
    zero = (ai == 0) | (ci == 0) | (ai == n1) | (ci == n2)
    a = np.where(zero, 0.5, 0.0)
    want = ((ai + a) / (n1 + 2 * a)) / ((ci + a) / (n2 + 2 * a))
    np.testing.assert_allclose(risk_ratio(ai, n1, ci, n2), want, rtol=1e-12)


def test_covered_is_a_closed_interval_and_nan_is_not_covered():
    assert covered(1.0, 1.0, 2.0) and covered(2.0, 1.0, 2.0) and covered(1.5, 1.0, 2.0)
    assert not covered(0.99, 1.0, 2.0) and not covered(2.01, 1.0, 2.0)
    assert not covered(float("nan"), 0.0, 10.0)


def test_coverage_on_constructed_studies():
    # "fits": model risks equal the observed proportions; "misses": the model says the MSC
    # arm dies far more often than observed, with large arms
    res = constructed({"fits": (30, 100, 40, 100), "misses": (20, 400, 40, 400)},
                      {"fits": ([0.3], 0.4), "misses": ([0.6], 0.1)}, [0.0])
    pred = predict_result(res, draws=2000)
    s = pred.studies.set_index("study_id")
    assert bool(s.loc["fits", "covered"]) and not bool(s.loc["misses", "covered"])
    assert pred.coverage == 0.5
    assert s.loc["fits", "observed_rr"] == pytest.approx(0.75)
    assert s.loc["fits", "pred_lo"] < 0.75 < s.loc["fits", "pred_hi"]
    assert bool(s.loc["misses", "control_covered"])  # control risk right, MSC arm wrong
    assert not bool(s.loc["misses", "treated_covered"])
    table = pd.DataFrame({"study_id": ["fits", "misses"], "ai": [30, 20], "n1": [100, 400],
                          "ci": [40, 40], "n2": [100, 400]})
    want = float(np.exp(meta_analysis(table, method="REML").estimate))
    assert pred.pooled["observed_rr"] == pytest.approx(want, rel=1e-12)
    assert pred.pooled["pred_lo"] <= pred.pooled["pred_rr_median"] <= pred.pooled["pred_hi"]
    d = pred.to_dict()
    assert {"cutoff", "coverage", "studies"} <= set(d)
    assert {"study_id", "observed_rr", "pred_rr_median", "pred_lo", "pred_hi", "covered"} \
        <= set(d["studies"][0])


def test_parameter_uncertainty_widens_the_predictive_interval():
    obs = {"A": (10, 60, 15, 60)}
    narrow = predict_result(constructed(obs, {"A": ([0.1, 0.5], 0.3)}, [0.0, -50.0]))
    wide = predict_result(constructed(obs, {"A": ([0.1, 0.5], 0.3)}, [0.0, 0.0]))
    n, w = narrow.studies.iloc[0], wide.studies.iloc[0]
    assert w.pred_hi - w.pred_lo > n.pred_hi - n.pred_lo
    assert n.model_risk_treated == pytest.approx(0.1)
    assert w.model_risk_treated == pytest.approx(0.3)


def test_draws_follow_the_weights_and_the_binomial():
    w = np.array([0.0, 1.0])
    g, dt, dc = study_draws(1, "A", w, np.array([0.9, 0.2]), 0.5, 50, 40, 20000)
    assert set(g) == {1}
    assert dt.mean() == pytest.approx(50 * 0.2, rel=0.02)
    assert dc.mean() == pytest.approx(40 * 0.5, rel=0.02)


def test_prediction_is_reproducible_and_keyed_by_seed():
    obs = {"A": (10, 60, 15, 60)}
    risks = {"A": ([0.1, 0.5], 0.3)}
    a = predict_result(constructed(obs, risks, [0.0, 0.0], seed=1)).studies
    b = predict_result(constructed(obs, risks, [0.0, 0.0], seed=1)).studies
    c = predict_result(constructed(obs, risks, [0.0, 0.0], seed=2), draws=1999).studies
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_bad_draws_or_level():
    res = constructed({"A": (1, 10, 2, 10)}, {"A": ([0.1], 0.2)}, [0.0])
    with pytest.raises(InputError):
        predict_result(res, draws=3)
    with pytest.raises(InputError):
        predict_result(res, level=1.5)


def test_relative_prediction_conditions_on_the_trials_own_control_arm():
    obs = {"A": (40, 200, 80, 200)}
    res = constructed(obs, {"A": ([0.45], 0.9)}, [0.0])  # model baseline 0.9, RR 0.5
    absolute = predict_result(res).studies.iloc[0]
    res.calibration["likelihood"] = "relative"
    relative = predict_result(res).studies.iloc[0]
    assert not absolute.control_covered and relative.control_covered
    assert relative.pred_mortality_control_median == pytest.approx(0.4, abs=0.03)
    assert relative.pred_rr_median == pytest.approx(0.5, abs=0.05)
    assert relative.covered  # observed RR 0.5
