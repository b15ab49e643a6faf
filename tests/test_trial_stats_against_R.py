"""mscsim.trial statistics against R (reference numbers stored in tests/r/).

``tests/r/trial_stats_reference.R`` generates the small datasets
(``tests/r/trial_stats_*.csv``: ties, censoring, a zero-event arm, a curve that reaches 0,
an ordinal outcome with empty categories, tied continuous values) and writes R's results to
``tests/r/trial_stats_reference.json`` (R 4.2, survival 3.5, MASS 7.3-58, metafor 3.8).

Tolerances (absolute, on ``max(1, |R value|)`` scale, i.e. relative for large values):

* risk ratio / odds ratio / risk difference (vs metafor ``escalc`` + Wald): 1e-10
* Fisher p-values (vs ``fisher.test``): 1e-10; conditional MLE and limits: 1e-3 relative,
  because R finds them with ``uniroot``'s default tolerance (~1e-4 on its own scale);
  they are checked to 1e-9 against scipy in ``test_trial_stats.py``
* Kaplan-Meier table and medians (vs ``survfit``, ``quantile.survfit``): 1e-8
* log-rank (vs ``survdiff``): 1e-10
* Cox (vs ``coxph``, eps 1e-12): 1e-7 for coefficients, SEs, limits, tests, log-likelihoods
* proportional odds (vs ``polr``, optim reltol 1e-15): 1e-6 for coefficients, thresholds,
  log-likelihoods; 1e-5 for standard errors (R's Hessian is a finite difference)
* Wilcoxon rank-sum (vs ``wilcox.test``): 1e-10; ANCOVA (vs ``lm``): 1e-9
* worst-rank analysis (vs ``wilcox.test`` on a composite score built in R, the pairwise
  probability, the DeLong variance and logit interval written out in R): 1e-10
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mscsim.trial import (
    AnalysisOptions,
    StatisticsWarning,
    analyse,
    analyse_batch,
    ancova,
    cox_ph,
    cumulative_incidence,
    fisher_exact_batch,
    get_endpoint,
    kaplan_meier,
    logrank_test,
    odds_ratio_batch,
    proportional_odds,
    risk_difference_batch,
    risk_ratio_batch,
    wilcoxon_rank_sum,
)

R_DIR = Path(__file__).parent / "r"
SCRIPT = R_DIR / "trial_stats_reference.R"
REF: dict[str, Any] = json.loads((R_DIR / "trial_stats_reference.json").read_text("utf-8"))
DATA_FILES = ["trial_stats_binary.csv", "trial_stats_survival.csv",
              "trial_stats_ordinal.csv", "trial_stats_continuous.csv",
              "trial_stats_competing.csv", "trial_stats_competing_censored.csv",
              "trial_stats_worst_rank.csv"]


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(R_DIR / f"trial_stats_{name}.csv")


def _arr(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray | pd.Series):
        return np.asarray(x, dtype=float)
    vals = x if isinstance(x, list) else [x]
    return np.array([np.nan if v is None else v for v in vals], dtype=float)


def assert_close(py: Any, ref: Any, what: str, tol: float) -> float:
    """Equal within ``tol * max(1, |ref|)``, NaN where R has NA; returns the max |diff|."""
    a = np.atleast_1d(np.asarray(py, dtype=float))
    b = _arr(ref)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != R {b.shape}"
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{what}: NaN pattern\n{a}\n{b}"
    ok = ~np.isnan(b)
    if not ok.any():
        return 0.0
    diff = np.abs(a[ok] - b[ok])
    worst = float(np.max(diff / np.maximum(1.0, np.abs(b[ok]))))
    assert worst <= tol, f"{what}: max scaled |diff| {worst:.3g} > {tol:g}\n py {a}\n R  {b}"
    return float(np.max(diff))


def _quiet(fn: Any, *args: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        return fn(*args, **kw)


# ---------------------------------------------------------------- binary

BINARY = _csv("binary")
COUNTS = [BINARY[c].to_numpy() for c in ("events_treated", "n_treated", "events_control",
                                         "n_control")]


@pytest.mark.parametrize(("measure", "fn"), [("RR", risk_ratio_batch), ("OR", odds_ratio_batch),
                                             ("RD", risk_difference_batch)])
def test_wald_effects_against_R(measure: str, fn: Any) -> None:
    """metafor's escalc (add 1/2 to tables with a zero cell) + Wald limits and p."""
    ref = REF["binary"][measure]
    res = _quiet(fn, *COUNTS)
    ok = res.defined
    assert list(BINARY["table"][~ok]) == {
        "RR": ["double_zero"], "OR": ["double_zero", "all_both"], "RD": []}[measure]
    for field in ("estimate", "se", "ci_low", "ci_high", "p_value"):
        assert_close(getattr(res, field)[ok], _arr(ref[field])[ok], f"{measure} {field}", 1e-10)
    assert np.all(res.p_value[~ok] == 1.0) and np.all(np.isnan(res.estimate[~ok]))


def test_fisher_exact_against_R() -> None:
    ref = REF["binary"]["fisher"]
    res = _quiet(fisher_exact_batch, *COUNTS)
    assert_close(res.p_value, ref["p_value"], "Fisher p", 1e-10)
    single = ~res.defined
    assert list(BINARY["table"][single]) == ["double_zero", "all_both"]
    est, r_est = res.estimate[~single], _arr(ref["estimate"])[~single]
    finite = np.isfinite(r_est) & (r_est > 0)
    assert np.array_equal(est == 0, r_est == 0)
    assert np.allclose(est[finite], r_est[finite], rtol=1e-3, atol=0)
    r_lo, r_hi = _arr(ref["ci_low"]), _arr(ref["ci_high"])
    pos = r_lo > 0
    assert np.array_equal(res.ci_low == 0, ~pos)
    assert np.allclose(res.ci_low[pos], r_lo[pos], rtol=1e-3, atol=0)
    fin = ~np.isnan(r_hi)  # R's Inf is written as null
    assert np.all(np.isinf(res.ci_high[~fin]))
    assert np.allclose(res.ci_high[fin], r_hi[fin], rtol=1e-3, atol=0)


# ---------------------------------------------------------------- survival

SURVIVAL = _csv("survival")
SURV_SETS = list(REF["survival"])


def _surv(name: str, arm: int | None = None) -> pd.DataFrame:
    d = SURVIVAL[SURVIVAL["dataset"] == name]
    return d if arm is None else d[d["arm"] == arm]


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
@pytest.mark.parametrize("dataset", SURV_SETS)
def test_kaplan_meier_against_R(dataset: str, conf_type: str) -> None:
    for group, arm in (("all", None), ("control", 0), ("treated", 1)):
        d = _surv(dataset, arm)
        ref = REF["survival"][dataset]["km"][conf_type][group]
        km = _quiet(kaplan_meier, d["time"], d["event"], conf_type=conf_type)
        tab = km.table
        what = f"{dataset}/{group}/{conf_type}"
        for col in ("time", "n_risk", "n_event", "n_censor", "survival", "se"):
            assert_close(tab[col], ref[col], f"{what} {col}", 1e-8)
        r_lo, r_hi = _arr(ref["ci_low"]), _arr(ref["ci_high"])
        r_na = np.isnan(r_lo) & (tab["survival"].to_numpy() == 1.0)  # R: NA at S = 1
        assert np.all(tab["ci_low"].to_numpy()[r_na] == 1.0)
        assert_close(tab["ci_low"].to_numpy()[~r_na], r_lo[~r_na], f"{what} ci_low", 1e-8)
        assert_close(tab["ci_high"].to_numpy()[~r_na], r_hi[~r_na], f"{what} ci_high", 1e-8)
        for field in ("median", "median_ci_low", "median_ci_high"):
            assert_close(getattr(km, field), ref[field], f"{what} {field}", 1e-8)


@pytest.mark.parametrize("dataset", SURV_SETS)
def test_logrank_against_R(dataset: str) -> None:
    d = _surv(dataset)
    ref = REF["survival"][dataset]["logrank"]
    res = logrank_test(d["time"], d["event"], d["arm"])
    assert_close(res.statistic, ref["chisq"], "chisq", 1e-10)
    assert_close(res.p_value, ref["p_value"], "p", 1e-10)
    for field in ("observed_treated", "observed_control", "expected_treated",
                  "expected_control", "variance"):
        assert_close(getattr(res, field), ref[field], field, 1e-10)


MONOTONE = ["zero_treated", "small"]  # no treated events while controls are at risk


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("dataset", [s for s in SURV_SETS if s not in MONOTONE])
def test_cox_against_R(dataset: str, ties: str) -> None:
    d = _surv(dataset)
    ref = REF["survival"][dataset]["cox"][ties]
    res = cox_ph(d["time"], d["event"], d["arm"], ties=ties)
    assert res.converged and res.warnings == ()
    pairs = [("log_hr", "log_hr"), ("se", "se"), ("estimate", "hr"), ("ci_low", "ci_low"),
             ("ci_high", "ci_high"), ("statistic", "z"), ("p_wald", "p_wald"),
             ("score_statistic", "score"), ("p_score", "p_score"),
             ("lrt_statistic", "lrt"), ("p_lrt", "p_lrt"), ("loglik_null", "loglik_null"),
             ("loglik", "loglik")]
    for py, r in pairs:
        assert_close(getattr(res, py), ref[r], f"{dataset} {ties} {py}", 1e-7)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("dataset", MONOTONE)
def test_cox_infinite_estimate_against_R(dataset: str, ties: str) -> None:
    """R iterates towards -inf (coef ~ -29, Wald p ~ 1); we report HR 0 and the score test.
    The score test, null log-likelihood and the supremum of the likelihood agree."""
    d = _surv(dataset)
    ref = REF["survival"][dataset]["cox"][ties]
    with pytest.warns(StatisticsWarning, match="no events in the treated arm"):
        res = cox_ph(d["time"], d["event"], d["arm"], ties=ties)
    assert res.estimate == 0.0 and res.log_hr == -np.inf
    assert np.isnan(res.ci_low) and np.isnan(res.ci_high) and np.isnan(res.p_wald)
    assert res.p_value == res.p_score
    for py, r in [("score_statistic", "score"), ("p_score", "p_score"),
                  ("loglik_null", "loglik_null"), ("loglik", "loglik"),
                  ("lrt_statistic", "lrt"), ("p_lrt", "p_lrt")]:
        assert_close(getattr(res, py), ref[r], f"{dataset} {ties} {py}", 1e-7)


@pytest.mark.parametrize("dataset", [s for s in SURV_SETS if s not in MONOTONE])
def test_trial_survival_endpoint_reports_cox_efron_and_logrank(dataset: str) -> None:
    """A virtual trial's time-to-event endpoint reports R's coxph hazard ratio (Efron ties,
    Wald limits) with survdiff's log-rank p-value, in the one-trial and the replicate form."""
    d = _surv(dataset)
    cox, logrank = REF["survival"][dataset]["cox"]["efron"], REF["survival"][dataset]["logrank"]
    data = {"time": d["time"].to_numpy(float), "event": d["event"].to_numpy(float)}
    arm = d["arm"].to_numpy()
    one = analyse("survival", data, arm, AnalysisOptions(), quiet=True)
    for py, value in [("estimate", cox["hr"]), ("ci_low", cox["ci_low"]),
                      ("ci_high", cox["ci_high"]), ("p_wald", cox["p_wald"]),
                      ("p_value", logrank["p_value"]), ("logrank_statistic", logrank["chisq"])]:
        assert_close(one[py], value, f"{dataset} {py}", 1e-7)
    assert "Cox" in one["method"] and "log-rank" in one["method"]
    assert one["peto_estimate"] != pytest.approx(one["estimate"], rel=1e-6)  # two estimates
    many = analyse_batch("survival", {k: np.stack([v, v]) for k, v in data.items()},
                         np.stack([arm, arm]), AnalysisOptions())
    for field in ("estimate", "ci_low", "ci_high", "p_value"):
        assert_close(getattr(many, field)[1], one[field], f"{dataset} batch {field}", 1e-12)


@pytest.mark.parametrize("dataset", ["competing", "competing_censored"])
@pytest.mark.parametrize(("arm_name", "arm"), [("control", 0), ("treated", 1)])
def test_aalen_johansen_against_R(dataset: str, arm_name: str, arm: int) -> None:
    """Cumulative incidence of improvement (cause 1) and death (cause 2), with and without
    random censoring: survfit's multi-state pstate at its times."""
    d = _csv(dataset)
    d = d[d["arm"] == arm]
    ref = REF["competing"]["aalen_johansen"][dataset][arm_name]
    res = cumulative_incidence(d["time"], d["status"])
    assert_close(res.table.time, ref["time"], "time", 1e-12)
    assert_close(res.table.n_risk, ref["n_risk"], "n_risk", 1e-12)
    for py, r in [("cif_1", "cif_improve"), ("cif_2", "cif_death"),
                  ("event_free", "event_free"), ("se_1", "se_improve"), ("se_2", "se_death"),
                  ("se_event_free", "se_event_free")]:
        assert_close(res.table[py], ref[r], f"{dataset} {arm_name} {py}", 1e-12)
    assert ref["conf_type"] == "log"
    for py, r in [("ci_low_1", "ci_low_improve"), ("ci_high_1", "ci_high_improve"),
                  ("ci_low_2", "ci_low_death"), ("ci_high_2", "ci_high_death")]:
        assert_close(res.table[py], ref[r], f"{dataset} {arm_name} {py}", 1e-12)
    assert_close(res.at(ref["time"], 2), ref["cif_death"], "at()", 1e-12)


def test_time_to_improvement_hazard_ratio_is_fine_gray_against_R() -> None:
    """With deaths kept in the risk set to the end of follow-up (the trial's definition) and
    only administrative censoring, the endpoint's Cox HR is the Fine-Gray subdistribution HR:
    equal to survival::finegray + coxph (weights all 1)."""
    d = _csv("competing")
    ref = REF["competing"]["fine_gray"]
    assert ref["weights"] == [1, 1]
    endpoint = get_endpoint("time_to_improvement")
    values = pd.DataFrame({"improve_time": np.where(d["status"] == 1, d["time"], np.nan),
                           "death_time": np.where(d["status"] == 2, d["time"], np.nan)})
    data = endpoint.data(values, follow_up=28.0)
    out = analyse("survival", data, d["arm"].to_numpy(), AnalysisOptions(), quiet=True)
    for py, r in [("estimate", "hr"), ("ci_low", "ci_low"), ("ci_high", "ci_high")]:
        assert_close(out[py], ref[r], py, 1e-7)


# ---------------------------------------------------------------- ordinal

ORDINAL = _csv("ordinal")


@pytest.mark.parametrize("with_age", [False, True], ids=["arm", "arm_age"])
@pytest.mark.parametrize("dataset", list(REF["ordinal"]))
def test_proportional_odds_against_R(dataset: str, with_age: bool) -> None:
    d = ORDINAL[ORDINAL["dataset"] == dataset]
    ref = REF["ordinal"][dataset]["arm_age" if with_age else "arm"]
    cov = {"age": d["age"]} if with_age else None
    res = proportional_odds(d["who"], d["arm"], cov, levels=range(11))
    assert res.converged and res.warnings == ()
    assert list(res.levels) == ref["levels"]
    assert set(res.empty_levels) == set(range(11)) - set(ref["levels"])
    assert list(res.thresholds["label"]) == ref["zeta_names"]
    assert_close(res.coefficients["estimate"], ref["coefficients"], "coef", 1e-6)
    assert_close(res.coefficients["se"], ref["coef_se"], "coef se", 1e-5)
    assert_close(res.thresholds["estimate"], ref["zeta"], "zeta", 1e-6)
    assert_close(res.thresholds["se"], ref["zeta_se"], "zeta se", 1e-5)
    assert_close(res.loglik, ref["loglik"], "loglik", 1e-6)
    assert_close(res.loglik_null, ref["loglik_null"], "loglik null", 1e-6)
    assert_close(res.deviance, ref["deviance"], "deviance", 1e-6)
    assert_close(res.estimate, np.exp(_arr(ref["coefficients"])[0]), "OR", 1e-6)


# ---------------------------------------------------------------- continuous

CONTINUOUS = _csv("continuous")


@pytest.mark.parametrize("dataset", list(REF["continuous"]))
def test_wilcoxon_against_R(dataset: str) -> None:
    d = CONTINUOUS[CONTINUOUS["dataset"] == dataset]
    ref = REF["continuous"][dataset]["wilcox"]
    res = wilcoxon_rank_sum(d["outcome"], d["arm"])
    assert_close(res.statistic, ref["statistic"], "W", 1e-10)
    assert_close(res.p_value, ref["p_value"], "p", 1e-10)
    raw = wilcoxon_rank_sum(d["outcome"], d["arm"], correct=False)
    assert_close(raw.p_value, ref["p_value_uncorrected"], "p uncorrected", 1e-10)
    if "hodges_lehmann" in ref:
        assert_close(res.estimate, ref["hodges_lehmann"], "Hodges-Lehmann", 1e-10)


@pytest.mark.parametrize("spec", ["ancova", "ancova_age", "ancova_outcome"])
@pytest.mark.parametrize("dataset", list(REF["continuous"]))
def test_ancova_against_R(dataset: str, spec: str) -> None:
    d = CONTINUOUS[CONTINUOUS["dataset"] == dataset]
    ref = REF["continuous"][dataset][spec]
    cov = {"age": d["age"]} if spec == "ancova_age" else None
    res = ancova(d["outcome"], d["baseline"], d["arm"], cov, change=spec != "ancova_outcome")
    coef = res.coefficients
    for field in ("estimate", "se", "statistic", "p_value"):
        assert_close(coef[field], ref[field], f"{spec} {field}", 1e-9)
    assert_close([res.ci_low, res.ci_high], [ref["ci_low"][1], ref["ci_high"][1]], "CI", 1e-9)
    assert res.df == ref["df"]
    assert_close(res.residual_se, ref["sigma"], "sigma", 1e-9)


WORST = _csv("worst_rank")


@pytest.mark.parametrize("direction", ["higher", "lower"])
@pytest.mark.parametrize("dataset", list(REF["worst_rank"]))
def test_worst_rank_against_R(dataset: str, direction: str) -> None:
    from mscsim.trial import worst_rank_test

    d = WORST[WORST["dataset"] == dataset]
    ref = REF["worst_rank"][dataset][direction]
    res = worst_rank_test(d["value"], d["death"], d["arm"],
                          higher_is_better=direction == "higher")
    for field in ("statistic", "p_value", "estimate", "se", "ci_low", "ci_high"):
        assert_close(getattr(res, field), ref[field], field, 1e-10)


# ---------------------------------------------------------------- freshness


def _r_available() -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    probe = subprocess.run(
        ["Rscript", "-e", "suppressMessages({library(survival); library(MASS); "
         "library(metafor); library(jsonlite)})"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return "R packages survival, MASS, metafor or jsonlite missing"
    return None


def _numbers_match(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys differ"
        for key in a:
            _numbers_match(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _numbers_match(x, y, f"{path}[{i}]")
    elif isinstance(a, float | int) and not isinstance(a, bool):
        assert isinstance(b, float | int), f"{path}: {a!r} vs {b!r}"
        assert abs(a - b) <= 1e-12 * max(1.0, abs(b)), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def test_stored_reference_is_current(tmp_path: Path) -> None:
    """Re-run the R script and check that the stored CSVs and JSON are what it writes."""
    reason = _r_available()
    if reason:
        pytest.skip(f"cannot re-run tests/r/trial_stats_reference.R: {reason}")
    subprocess.run(["Rscript", str(SCRIPT), str(tmp_path)], check=True, capture_output=True,
                   timeout=120)
    for name in DATA_FILES:
        assert (tmp_path / name).read_text() == (R_DIR / name).read_text(), name
    fresh = json.loads((tmp_path / "trial_stats_reference.json").read_text("utf-8"))
    stored = {k: v for k, v in REF.items() if k != "meta"}
    _numbers_match({k: v for k, v in fresh.items() if k != "meta"}, stored)
