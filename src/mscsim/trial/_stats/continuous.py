"""Continuous endpoints: Wilcoxon rank-sum (Mann-Whitney) test and ANCOVA.

* :func:`wilcoxon_rank_sum` / :func:`wilcoxon_rank_sum_batch`: R's
  ``wilcox.test(treated, control, exact = FALSE, correct = TRUE)``: ``W`` = rank sum of
  the treated minus ``n1 (n1 + 1) / 2`` (mid-ranks for ties), normal approximation with
  the tie-corrected variance and a continuity correction of 0.5 towards the mean. The
  estimate is the Hodges-Lehmann shift (median of all treated - control differences;
  R reports it only with ``conf.int = TRUE``, and for ``exact = FALSE`` by a different,
  root-finding rule), without interval.
* :func:`worst_rank_test` / :func:`worst_rank_test_batch`: a change from baseline with
  death as an informative missing value (Lachin 1999, Control Clin Trials 20:408,
  doi:10.1016/S0197-2456(99)00022-7): patients dead at the assessment rank below every
  survivor, ordered by death time (the earlier death is worse); survivors by their value
  (oriented so that higher is better). The test is the rank-sum test above on these ranks.
  The estimate is the probability that an MSC patient does better than a control patient,
  ties counting one half (the Mann-Whitney probability, ``W / (n1 n0)``), with a Wald
  interval on the logit scale from the DeLong / Brunner-Munzel variance of the placements.
  A Hodges-Lehmann shift is not given: a death has a rank, not a value, so a shift in the
  variable's units is not defined.
* :func:`ancova`: ordinary least squares of the change from baseline (or of the
  outcome) on arm + baseline (+ covariates), as R ``lm``; the estimate is the
  baseline-adjusted mean difference, with a t interval and t test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special, stats

from mscsim._errors import InputError
from mscsim.trial._stats.common import (
    FloatArray,
    as_binary,
    as_float,
    batch_summary,
    check_level,
    covariate_matrix,
    emit,
    two_sided_p,
    z_quantile,
)
from mscsim.trial._stats.result import BatchableResult, PerTrial, ResultMixin, Value

# ---------------------------------------------------------------- rank-sum


@dataclass(frozen=True, eq=False, repr=False)
class RankSumResult(BatchableResult[Value]):
    """Wilcoxon rank-sum test of treated versus control, of one trial or of a batch
    (numbers, or arrays with one entry per replicate; ``batch[i]`` is replicate ``i``).

    Attributes:
        estimate: Hodges-Lehmann shift (treated - control); NaN if not computed.
        ci_low, ci_high: NaN (no interval is computed).
        p_value: two-sided normal-approximation p-value (1 when undefined).
        statistic: ``W`` (R's statistic with the treated arm as ``x``).
        z: the continuity-corrected standardised statistic.
        auc: ``W / (n1 n0)``, the probability that a treated value exceeds a control value
            (ties count one half).
        defined: False for an empty arm or all values tied; notes: each replicate's
            warning text ('' when none); warnings: what was warned.
    """

    estimate: Value
    ci_low: Value
    ci_high: Value
    p_value: Value
    statistic: Value
    z: Value
    auc: Value
    n_treated: Value
    n_control: Value
    defined: Value
    notes: tuple[str, ...]
    method: str
    warnings: tuple[str, ...]

    whole_numbers = ("n_treated", "n_control")


def _tie_sum(values: FloatArray) -> FloatArray:
    """Per row, ``sum(t^3 - t)`` over groups of ``t`` tied values."""
    s = np.sort(values, axis=1)
    size = s.shape[1]
    idx = np.arange(size)[None, :]
    new = np.ones(s.shape, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    last = np.ones(s.shape, dtype=bool)
    last[:, :-1] = new[:, 1:]
    first = np.maximum.accumulate(np.where(new, idx, 0), axis=1)
    final = np.minimum.accumulate(np.where(last, idx, size)[:, ::-1], axis=1)[:, ::-1]
    t = (final - first + 1).astype(float)
    return np.asarray((t**2 - 1).sum(axis=1), dtype=float)


def _hodges_lehmann(values: FloatArray, arm: FloatArray) -> FloatArray:
    out = np.full(values.shape[0], np.nan)
    for i in range(values.shape[0]):
        x, y = values[i, arm[i] == 1], values[i, arm[i] == 0]
        if x.size and y.size:
            out[i] = np.median(np.subtract.outer(x, y))
    return out


def _rank_sum(values: FloatArray, arm: FloatArray, correct: bool,
              estimate: bool) -> RankSumResult[PerTrial]:
    n = values.shape[1]
    n1 = arm.sum(axis=1)
    n0 = n - n1
    ranks = stats.rankdata(values, axis=1)
    w = (ranks * arm).sum(axis=1) - n1 * (n1 + 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(n1 * n0 / 12 * ((n + 1) - _tie_sum(values) / (n * (n - 1))))
        centred = w - n1 * n0 / 2
        shift = np.sign(centred) * 0.5 if correct else 0.0
        z = (centred - shift) / sigma
        auc = w / (n1 * n0)
    empty = (n1 == 0) | (n0 == 0)
    tied = ~empty & ~(sigma > 0)
    ok = ~empty & ~tied
    notes = tuple(
        "rank-sum test: an arm has no patients: p-value set to 1, estimate NaN" if empty[i]
        else "rank-sum test: all values are tied: p-value set to 1" if tied[i] else ""
        for i in range(values.shape[0]))
    est = _hodges_lehmann(values, arm) if estimate else np.full(n1.shape, np.nan)
    method = ("Wilcoxon rank-sum test, normal approximation with tie correction"
              + (" and continuity correction" if correct else "")
              + " (R wilcox.test exact = FALSE); Hodges-Lehmann shift")
    nan = np.full(n1.shape, np.nan)
    return RankSumResult(
        estimate=est, ci_low=nan, ci_high=nan, p_value=np.where(ok, two_sided_p(z), 1.0),
        statistic=np.where(empty, np.nan, w), z=np.where(ok, z, np.nan),
        auc=np.where(empty, np.nan, auc), n_treated=n1, n_control=n0, defined=ok,
        notes=notes, method=method, warnings=())


def _rank_inputs(values: ArrayLike, arm: ArrayLike, ndim: int) -> tuple[FloatArray,
                                                                        FloatArray]:
    v = as_float(values, "values", ndim=(ndim,))
    g = as_binary(arm, "arm", ndim=(1, ndim))
    if g.shape[-1] != v.shape[-1] or (g.ndim == ndim and g.shape != v.shape):
        raise InputError(f"shape {g.shape} does not match values' {v.shape}", field="arm")
    return v, np.broadcast_to(g, v.shape).astype(float)


def wilcoxon_rank_sum_batch(values: ArrayLike, arm: ArrayLike, *, correct: bool = True,
                            estimate: bool = False) -> RankSumResult[PerTrial]:
    """Wilcoxon rank-sum tests of many replicate trials at once.

    Arguments:
        values: shape ``(replicates, patients)``.
        arm: 1 = treated, 0 = control; same shape or ``(patients,)``.
        correct: continuity correction (R default True).
        estimate: also compute the Hodges-Lehmann shift (a loop over replicates).

    Returns:
        A batch :class:`RankSumResult`.

    Raises:
        InputError: NaN values, arm not 0/1, mismatched shapes.
    """
    v, g = _rank_inputs(values, arm, 2)
    res = _rank_sum(v, g, correct, estimate)
    empty = (res.n_treated == 0) | (res.n_control == 0)
    counts = {"replicates have an empty arm (p = 1)": int(empty.sum()),
              "replicates have all values tied (p = 1)": int((~res.defined & ~empty).sum())}
    return replace(res, warnings=emit(batch_summary("rank-sum test", len(res), counts)))


def wilcoxon_rank_sum(values: ArrayLike, arm: ArrayLike, *,
                      correct: bool = True) -> RankSumResult[float]:
    """Wilcoxon rank-sum (Mann-Whitney) test of treated versus control in one trial.

    Arguments:
        values: one value per patient (e.g. ventilator-free days).
        arm: 1 = treated, 0 = control.
        correct: continuity correction (R default True).

    Returns:
        A :class:`RankSumResult` (W and p as R ``wilcox.test(exact = FALSE)``, with the
        Hodges-Lehmann shift). Empty arm or all values tied: p-value 1 with a warning.

    Raises:
        InputError: NaN values, arm not 0/1, mismatched lengths.
    """
    v, g = _rank_inputs(values, arm, 1)
    res = _rank_sum(v[None], g[None], correct, True)[0]
    return replace(res, warnings=emit(res.warnings))


# ---------------------------------------------------------------- worst rank


@dataclass(frozen=True, eq=False, repr=False)
class WorstRankResult(BatchableResult[Value]):
    """Worst-rank analysis of treated versus control (deaths ranked below survivors), of
    one trial or of a batch (numbers, or arrays with one entry per replicate).

    Attributes:
        estimate: probability that a treated patient does better than a control patient
            (ties count one half); 0.5 is no effect.
        ci_low, ci_high: Wald interval on the logit scale (NaN at 0 or 1, or with fewer
            than two patients in an arm).
        p_value: the rank-sum test's (R ``wilcox.test(exact = FALSE)`` on the ranks).
        statistic: ``W``; se: standard error of the estimate (DeLong / Brunner-Munzel).
        deaths_treated, deaths_control: patients ranked as deaths.
        notes, warnings: as :class:`RankSumResult`.
    """

    estimate: Value
    ci_low: Value
    ci_high: Value
    p_value: Value
    statistic: Value
    z: Value
    se: Value
    n_treated: Value
    n_control: Value
    deaths_treated: Value
    deaths_control: Value
    notes: tuple[str, ...]
    level: float
    method: str
    warnings: tuple[str, ...]

    whole_numbers = ("n_treated", "n_control", "deaths_treated", "deaths_control")


_WORST_RANK = ("worst-rank analysis (Lachin 1999): deaths ranked below every survivor, "
               "the earlier death worse; Wilcoxon rank-sum test, normal approximation with "
               "tie and continuity correction (R wilcox.test exact = FALSE); probability "
               "that MSC does better, DeLong / Brunner-Munzel variance, logit-scale Wald "
               "interval")


def worst_ranks(value: FloatArray, death: FloatArray, higher_is_better: bool) -> FloatArray:
    """Mid-ranks per row (replicate) of patients who are either alive at the assessment
    (finite ``value``) or dead before it (finite ``death`` time): deaths first, by time."""
    dead = np.isfinite(death)
    oriented = value if higher_is_better else -value
    among_dead = stats.rankdata(np.where(dead, death, np.inf), axis=1)
    below_survivors = stats.rankdata(np.where(dead, -np.inf, oriented), axis=1)
    return np.where(dead, among_dead, below_survivors)


def _worst_rank(value: FloatArray, death: FloatArray, arm: FloatArray, higher_is_better: bool,
                correct: bool, level: float) -> WorstRankResult[PerTrial]:
    ranks = worst_ranks(value, death, higher_is_better)
    test = _rank_sum(ranks, arm, correct, estimate=False)
    n1, n0 = test.n_treated, test.n_control
    treated = arm == 1
    # placements: the share of the other arm each patient beats (ties one half), from the
    # pooled rank minus the rank within the own arm (DeLong 1988; Brunner & Munzel 2000)
    own = np.where(treated, stats.rankdata(np.where(treated, ranks, np.inf), axis=1),
                   stats.rankdata(np.where(treated, np.inf, ranks), axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        beaten = np.where(treated, (ranks - own) / n0[:, None],
                          1 - (ranks - own) / n1[:, None])  # control: share of MSC beating it
        theta = test.auc
        variance = np.zeros(n1.shape)
        for group, n in ((treated, n1), (~treated, n0)):
            mean = np.where(group, beaten, 0).sum(axis=1) / n
            ss = np.where(group, (beaten - mean[:, None]) ** 2, 0).sum(axis=1)
            variance += ss / (n - 1) / n
        se = np.sqrt(variance)
        half = z_quantile(level) * se / (theta * (1 - theta))
        logit = np.log(theta / (1 - theta))
        interval = (n1 >= 2) & (n0 >= 2) & (theta > 0) & (theta < 1) & (se > 0)
        low = np.where(interval, special.expit(logit - half), np.nan)
        high = np.where(interval, special.expit(logit + half), np.nan)
    dead = np.isfinite(death)
    notes = tuple(
        test.notes[i] or ("" if interval[i] else
                          "worst-rank analysis: an arm has fewer than two patients, or the "
                          "probability is 0 or 1: no interval")
        for i in range(len(test)))
    return WorstRankResult(
        estimate=theta, ci_low=low, ci_high=high, p_value=test.p_value,
        statistic=test.statistic, z=test.z,
        se=np.where((n1 >= 2) & (n0 >= 2), se, np.nan), n_treated=n1, n_control=n0,
        deaths_treated=(dead & treated).sum(axis=1).astype(float),
        deaths_control=(dead & ~treated).sum(axis=1).astype(float), notes=notes,
        level=level, method=_WORST_RANK, warnings=())


def _worst_rank_inputs(value: ArrayLike, death: ArrayLike, arm: ArrayLike,
                       ndim: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    arrays = []
    for name, x in (("value", value), ("death", death)):
        try:
            a = np.asarray(x, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"must be numeric ({exc})", field=name) from None
        if a.ndim != ndim:
            raise InputError(f"must have {ndim} dimension(s), got shape {a.shape}",
                             field=name)
        arrays.append(a)
    v, d = arrays
    if d.shape != v.shape:
        raise InputError(f"shape {d.shape} does not match value's {v.shape}", field="death")
    alive, dead = np.isfinite(v), np.isfinite(d)
    if np.any(alive == dead) or np.any(np.isinf(v)):
        raise InputError("each patient needs either a value (alive at the assessment) or a "
                         "death time (dead before it), not both or neither", field="value",
                         hint="value NaN for the dead; death NaN or inf for survivors")
    g = as_binary(arm, "arm", ndim=(1, ndim))
    if g.shape[-1] != v.shape[-1] or (g.ndim == ndim and g.shape != v.shape):
        raise InputError(f"shape {g.shape} does not match value's {v.shape}", field="arm")
    return v, np.where(dead, d, np.inf), np.broadcast_to(g, v.shape).astype(float)


def worst_rank_test_batch(value: ArrayLike, death: ArrayLike, arm: ArrayLike, *,
                          higher_is_better: bool = True, correct: bool = True,
                          level: float = 0.95) -> WorstRankResult[PerTrial]:
    """Worst-rank analyses of many replicate trials at once (shapes ``(replicates,
    patients)``; ``arm`` may be ``(patients,)``). See :func:`worst_rank_test`."""
    level = check_level(level)
    v, d, g = _worst_rank_inputs(value, death, arm, 2)
    res = _worst_rank(v, d, g, higher_is_better, correct, level)
    counts = {"replicates have an empty arm (p = 1)":
              int(((res.n_treated == 0) | (res.n_control == 0)).sum()),
              "replicates have no interval": int(np.isnan(res.ci_low).sum())}
    return replace(res, warnings=emit(batch_summary("worst-rank analysis", len(res), counts)))


def worst_rank_test(value: ArrayLike, death: ArrayLike, arm: ArrayLike, *,
                    higher_is_better: bool = True, correct: bool = True,
                    level: float = 0.95) -> WorstRankResult[float]:
    """Worst-rank analysis of a value at an assessment day with death before it.

    Arguments:
        value: per patient, the value at the assessment (e.g. the change from baseline);
            NaN for patients dead before it.
        death: per patient, the death time (dead before the assessment); NaN or inf for
            survivors.
        arm: 1 = treated, 0 = control.
        higher_is_better: orientation of ``value`` (False for IL-6: a fall is better).
        correct: continuity correction of the test (R default True).
        level: confidence level of the interval.

    Returns:
        A :class:`WorstRankResult`; the estimate is the probability that a treated patient
        does better (0.5: no effect).

    Raises:
        InputError: a patient with both or neither of value and death time, arm not 0/1,
            mismatched lengths.
    """
    level = check_level(level)
    v, d, g = _worst_rank_inputs(value, death, arm, 1)
    res = _worst_rank(v[None], d[None], g[None], higher_is_better, correct, level)[0]
    return replace(res, warnings=emit(res.warnings))


# ---------------------------------------------------------------- ANCOVA


@dataclass(frozen=True, eq=False, repr=False)
class AncovaResult(ResultMixin):
    """Baseline-adjusted comparison of a continuous outcome (R ``lm``).

    Attributes:
        estimate, ci_low, ci_high: adjusted mean difference (treated - control), t limits.
        p_value, statistic, se, df: t test of the arm coefficient.
        coefficients: ``term, estimate, se, statistic, p_value`` (intercept, arm, baseline,
            covariates).
        residual_se: residual standard error; change: whether the response was the change
            from baseline.
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    statistic: float
    df: int
    coefficients: pd.DataFrame
    residual_se: float
    n: int
    change: bool
    level: float
    method: str
    warnings: tuple[str, ...]


def ancova(outcome: ArrayLike, baseline: ArrayLike, arm: ArrayLike,
           covariates: Mapping[str, ArrayLike] | pd.DataFrame | None = None, *,
           change: bool = True, level: float = 0.95) -> AncovaResult:
    """ANCOVA: (change from) baseline-adjusted treatment effect by least squares.

    Arguments:
        outcome: value at follow-up, one per patient.
        baseline: value at baseline.
        arm: 1 = treated, 0 = control.
        covariates: optional extra regressors ``{name: values}`` or a DataFrame.
        change: analyse ``outcome - baseline`` (default) or ``outcome``; the arm effect
            is the same either way, the intercept and baseline slope differ by 0 and 1.
        level: confidence level.

    Returns:
        An :class:`AncovaResult`. An empty arm, a rank-deficient design or no residual
        degrees of freedom: NaN where undefined, p-value 1, with a warning.

    Raises:
        InputError: NaN values, arm not 0/1, mismatched lengths.
    """
    level = check_level(level)
    y = as_float(outcome, "outcome")
    base = as_float(baseline, "baseline")
    g = as_binary(arm, "arm")
    for name, arr in (("baseline", base), ("arm", g)):
        if arr.shape != y.shape:
            raise InputError(f"has {arr.shape[0]} values, expected {y.shape[0]}", field=name)
    cov, names = covariate_matrix(covariates, y.shape[0])
    x = np.column_stack([np.ones_like(y), g, base, cov])
    terms = ["(Intercept)", "arm", "baseline", *names]
    response = y - base if change else y
    return _ols(response, x, terms, g, change, level)


def _ols(y: FloatArray, x: FloatArray, terms: list[str], g: FloatArray, change: bool,
         level: float) -> AncovaResult:
    n, p = x.shape
    nan = float("nan")
    reason = ""
    if g.size == 0 or g.min() == g.max():
        reason = "an arm has no patients"
    elif np.linalg.matrix_rank(x) < p:
        reason = "the design is rank-deficient (collinear covariates)"
    if reason:
        return AncovaResult(
            estimate=nan, ci_low=nan, ci_high=nan, p_value=1.0, se=nan, statistic=nan, df=0,
            coefficients=pd.DataFrame({"term": terms, "estimate": nan, "se": nan,
                                       "statistic": nan, "p_value": nan}),
            residual_se=nan, n=n, change=change, level=level, method=_ANCOVA,
            warnings=emit([f"ANCOVA: {reason}: estimate undefined (NaN), p-value set to 1"]))
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    df = n - p
    resid = y - x @ beta
    notes = []
    if df == 0:
        notes.append("ANCOVA: no residual degrees of freedom: standard errors undefined, "
                     "p-value set to 1")
        sigma2 = nan
    else:
        sigma2 = float(resid @ resid / df)
        if sigma2 <= 1e-28 * max(float(y @ y), 1.0):
            notes.append("ANCOVA: the model fits the data exactly (zero residual variance)")
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ x)) * sigma2)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
        p_val = 2 * special.stdtr(df, -np.abs(t)) if df > 0 else np.full(p, 1.0)
    p_val = np.where(np.isnan(p_val), 1.0, p_val)
    q = float(special.stdtrit(df, 0.5 + level / 2)) if df > 0 else nan
    return AncovaResult(
        estimate=float(beta[1]), ci_low=float(beta[1] - q * se[1]),
        ci_high=float(beta[1] + q * se[1]), p_value=float(p_val[1]), se=float(se[1]),
        statistic=float(t[1]), df=int(df),
        coefficients=pd.DataFrame({"term": terms, "estimate": beta, "se": se,
                                   "statistic": t, "p_value": p_val}),
        residual_se=float(np.sqrt(sigma2)), n=n, change=change, level=level,
        method=_ANCOVA, warnings=emit(notes))


_ANCOVA = "ANCOVA by ordinary least squares (R lm); t test and t interval"
