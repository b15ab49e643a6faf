"""Continuous endpoints: Wilcoxon rank-sum (Mann-Whitney) test and ANCOVA.

* :func:`wilcoxon_rank_sum` / :func:`wilcoxon_rank_sum_batch`: R's
  ``wilcox.test(treated, control, exact = FALSE, correct = TRUE)``: ``W`` = rank sum of
  the treated minus ``n1 (n1 + 1) / 2`` (mid-ranks for ties), normal approximation with
  the tie-corrected variance and a continuity correction of 0.5 towards the mean. The
  estimate is the Hodges-Lehmann shift (median of all treated - control differences;
  R reports it only with ``conf.int = TRUE``, and for ``exact = FALSE`` by a different,
  root-finding rule), without interval.
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
    BoolArray,
    FloatArray,
    ResultMixin,
    as_binary,
    as_float,
    batch_summary,
    check_level,
    covariate_matrix,
    emit,
    two_sided_p,
)

# ---------------------------------------------------------------- rank-sum


@dataclass(frozen=True)
class RankSumResult(ResultMixin):
    """Wilcoxon rank-sum test of treated versus control.

    Attributes:
        estimate: Hodges-Lehmann shift (treated - control); NaN if not computed.
        ci_low, ci_high: NaN (no interval is computed).
        p_value: two-sided normal-approximation p-value (1 when undefined).
        statistic: ``W`` (R's statistic with the treated arm as ``x``).
        z: the continuity-corrected standardised statistic.
        auc: ``W / (n1 n0)``, the probability that a treated value exceeds a control value
            (ties count one half).
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    statistic: float
    z: float
    auc: float
    n_treated: int
    n_control: int
    method: str
    warnings: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class RankSumBatch(ResultMixin):
    """Rank-sum tests of many replicate trials: :class:`RankSumResult` fields as arrays."""

    estimate: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    p_value: FloatArray
    statistic: FloatArray
    z: FloatArray
    auc: FloatArray
    n_treated: FloatArray
    n_control: FloatArray
    defined: BoolArray
    notes: tuple[str, ...]
    method: str
    warnings: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.p_value.shape[0])

    def __getitem__(self, i: int) -> RankSumResult:
        note = self.notes[i]
        floats = {f: float(getattr(self, f)[i]) for f in (
            "estimate", "ci_low", "ci_high", "p_value", "statistic", "z", "auc")}
        return RankSumResult(**floats, n_treated=int(self.n_treated[i]),
                             n_control=int(self.n_control[i]), method=self.method,
                             warnings=(note,) if note else ())


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
              estimate: bool) -> RankSumBatch:
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
    return RankSumBatch(
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
                            estimate: bool = False) -> RankSumBatch:
    """Wilcoxon rank-sum tests of many replicate trials at once.

    Arguments:
        values: shape ``(replicates, patients)``.
        arm: 1 = treated, 0 = control; same shape or ``(patients,)``.
        correct: continuity correction (R default True).
        estimate: also compute the Hodges-Lehmann shift (a loop over replicates).

    Returns:
        A :class:`RankSumBatch`.

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
                      correct: bool = True) -> RankSumResult:
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


# ---------------------------------------------------------------- ANCOVA


@dataclass(frozen=True, eq=False)
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
