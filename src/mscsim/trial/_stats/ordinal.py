"""Ordinal endpoints: proportional-odds logistic regression (as R ``MASS::polr``).

Model (``polr``'s parameterisation, logit link), for observed categories
``c_1 < ... < c_K`` and covariate vector ``x`` (arm first, then optional covariates)::

    logit P(Y <= c_j | x) = zeta_j - x' beta,   j = 1..K-1

so ``exp(beta_arm)`` is the common odds ratio of being in a *higher* category for treated
versus control (on the WHO scale, higher is worse: OR < 1 favours treatment).

Fit: Newton-Raphson with step halving on the exact log-likelihood, analytic gradient and
Hessian (the log-likelihood is concave in ``(zeta, beta)``), starting from the marginal
cumulative logits. Standard errors from the inverse observed information; Wald interval
for the odds ratio (``confint.default``; ``polr``'s ``confint`` profiles instead).
Categories absent from the data are dropped before fitting (a threshold next to an empty
category is not identifiable); they are listed in ``empty_levels``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from mscsim._errors import InputError
from mscsim.trial._stats.common import (
    FloatArray,
    as_binary,
    as_float,
    check_level,
    chi2_1_sf,
    covariate_matrix,
    emit,
    two_sided_p,
    z_quantile,
)
from mscsim.trial._stats.result import ResultMixin


@dataclass(frozen=True, eq=False, repr=False)
class ProportionalOddsResult(ResultMixin):
    """A proportional-odds fit and the common odds ratio of the arm.

    Attributes:
        estimate, ci_low, ci_high: common odds ratio (treated vs control) of a higher
            category, Wald limits.
        p_value: Wald p-value of the arm; when the arms are separated (estimate 0 or inf)
            the score-test p-value instead.
        log_or, se, statistic: arm coefficient, its standard error, Wald z.
        p_wald, p_score, p_lrt: Wald, score and likelihood-ratio tests of the arm.
        coefficients: ``term, estimate, se, statistic, p_value`` (arm, then covariates).
        thresholds: ``label ("a|b"), estimate, se`` (``zeta``) between observed levels.
        levels, empty_levels: categories used, and categories given but never observed.
        loglik, loglik_null: log-likelihood of the model and of the model without the arm;
            deviance: ``-2 loglik``.
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    log_or: float
    se: float
    statistic: float
    p_wald: float
    p_score: float
    p_lrt: float
    coefficients: pd.DataFrame
    thresholds: pd.DataFrame
    levels: tuple[float, ...]
    empty_levels: tuple[float, ...]
    loglik: float
    loglik_null: float
    deviance: float
    n: int
    iterations: int
    converged: bool
    level: float
    method: str
    warnings: tuple[str, ...]


# ---------------------------------------------------------------- likelihood


@dataclass(frozen=True, eq=False)
class _Data:
    """Aggregated data: unique (category, covariates) rows with their counts."""

    y: np.ndarray  # category index 0..K-1
    x: FloatArray  # (rows, p)
    w: FloatArray
    k: int


def _cuts(theta: FloatArray, data: _Data) -> tuple[FloatArray, FloatArray]:
    """Upper and lower linear predictors ``zeta_y - eta`` and ``zeta_{y-1} - eta``."""
    p = data.x.shape[1]
    beta, zeta = theta[:p], theta[p:]
    eta = data.x @ beta
    padded = np.concatenate([[-np.inf], zeta, [np.inf]])
    return padded[data.y + 1] - eta, padded[data.y] - eta


def _probability(upper: FloatArray, lower: FloatArray) -> FloatArray:
    """``F(upper) - F(lower)`` computed in the tail where it does not cancel."""
    right = lower > 0
    return np.asarray(np.where(right, special.expit(-lower) - special.expit(-upper),
                               special.expit(upper) - special.expit(lower)), dtype=float)


def _loglik(theta: FloatArray, data: _Data) -> float:
    upper, lower = _cuts(theta, data)
    with np.errstate(divide="ignore"):
        return float(np.sum(data.w * np.log(_probability(upper, lower))))


def _derivatives(theta: FloatArray, data: _Data) -> tuple[FloatArray, FloatArray]:
    """Gradient and Hessian of the log-likelihood in ``(beta, zeta)``."""
    p, k = data.x.shape[1], data.k
    upper, lower = _cuts(theta, data)
    prob = _probability(upper, lower)
    fu, fl = _density(upper), _density(lower)
    du, dl = fu * (1 - 2 * special.expit(upper)), fl * (1 - 2 * special.expit(lower))
    w = data.w
    # Jacobian of (upper, lower) cuts: d upper / d beta = -x, d upper / d zeta_y = 1
    ju = np.zeros((len(w), p + k - 1))
    jl = np.zeros_like(ju)
    ju[:, :p] = -data.x
    jl[:, :p] = -data.x
    rows = np.arange(len(w))
    has_u, has_l = data.y < k - 1, data.y > 0
    ju[rows[has_u], p + data.y[has_u]] = 1.0
    jl[rows[has_l], p + data.y[has_l] - 1] = 1.0
    # d log P = (fu * d upper - fl * d lower) / P
    g = (fu[:, None] * ju - fl[:, None] * jl) / prob[:, None]
    grad = (w[:, None] * g).sum(axis=0)
    curv = ((w * du / prob)[:, None, None] * ju[:, :, None] * ju[:, None, :]
            - (w * dl / prob)[:, None, None] * jl[:, :, None] * jl[:, None, :])
    hess = curv.sum(axis=0) - (w[:, None, None] * g[:, :, None] * g[:, None, :]).sum(axis=0)
    return grad, hess


def _density(u: FloatArray) -> FloatArray:
    f = special.expit(u)
    return np.asarray(np.where(np.isfinite(u), f * (1 - f), 0.0), dtype=float)


def _start(data: _Data, p: int) -> FloatArray:
    counts = np.bincount(data.y, weights=data.w, minlength=data.k)
    cum = np.cumsum(counts)[:-1] / counts.sum()
    return np.concatenate([np.zeros(p), special.logit(cum)])


def _fit(data: _Data, start: FloatArray, free: np.ndarray, tol: float = 1e-10,
         maxiter: int = 100) -> tuple[FloatArray, float, int, bool]:
    """Maximise the log-likelihood over the parameters flagged ``free`` (others fixed)."""
    theta = start.copy()
    ll = _loglik(theta, data)
    p = data.x.shape[1]
    for it in range(1, maxiter + 1):
        grad, hess = _derivatives(theta, data)
        try:
            step_free = np.linalg.solve(-hess[np.ix_(free, free)], grad[free])
        except np.linalg.LinAlgError:
            return theta, ll, it, False
        step = np.zeros_like(theta)
        step[free] = step_free
        for _ in range(60):
            new = theta + step
            ordered = np.all(np.diff(new[p:]) > 0)
            ll_new = _loglik(new, data) if ordered else -np.inf
            if ll_new >= ll - 1e-12 * (1 + abs(ll)):
                break
            step /= 2
        else:
            return theta, ll, it, False
        theta, ll = new, ll_new
        if np.max(np.abs(step)) < tol * (1 + np.max(np.abs(theta))):
            return theta, ll, it, True
    return theta, ll, maxiter, False


# ---------------------------------------------------------------- input


def _outcome(outcome: ArrayLike, levels: Sequence[float] | None) -> tuple[FloatArray,
                                                                          FloatArray]:
    y = as_float(outcome, "outcome")
    given = np.unique(y) if levels is None else np.asarray(levels, dtype=float)
    if levels is not None:
        if given.ndim != 1 or np.any(np.diff(given) <= 0) or not np.all(np.isfinite(given)):
            raise InputError("levels must be finite, strictly increasing numbers",
                             field="levels")
        unknown = np.setdiff1d(y, given)
        if unknown.size:
            raise InputError(f"value(s) {unknown.tolist()} not among the levels",
                             field="outcome", hint=f"levels are {given.tolist()}")
    return y, given


# ---------------------------------------------------------------- public


def proportional_odds(outcome: ArrayLike, arm: ArrayLike,
                      covariates: Mapping[str, ArrayLike] | pd.DataFrame | None = None, *,
                      levels: Sequence[float] | None = None,
                      level: float = 0.95) -> ProportionalOddsResult:
    """Proportional-odds logistic regression of an ordinal outcome on the arm.

    Arguments:
        outcome: ordinal scores (e.g. WHO 0-10), one per patient; higher = worse.
        arm: 1 = treated, 0 = control.
        covariates: optional extra regressors, ``{name: values}`` or a DataFrame.
        levels: all possible categories (e.g. ``range(11)``); those never observed are
            reported in ``empty_levels``. Default: the observed values.
        level: confidence level.

    Returns:
        A :class:`ProportionalOddsResult`. Degenerate data (an empty arm, a single observed
        category) give NaN estimates, p-value 1 and a :class:`StatisticsWarning`; arms
        with non-overlapping categories (separation) give OR 0 or inf, the score-test
        p-value and a warning.

    Raises:
        InputError: NaN outcome, arm not 0/1, values outside ``levels``, mismatched lengths.
    """
    level = check_level(level)
    y, given = _outcome(outcome, levels)
    g = as_binary(arm, "arm")
    if g.shape != y.shape:
        raise InputError(f"has {g.shape[0]} values, expected {y.shape[0]}", field="arm")
    cov, names = covariate_matrix(covariates, y.shape[0])
    observed = np.unique(y)
    empty = tuple(float(v) for v in np.setdiff1d(given, observed))
    x = np.column_stack([g, cov])
    keys = np.column_stack([np.searchsorted(observed, y), x])
    rows, counts = np.unique(keys, axis=0, return_counts=True)
    data = _Data(y=rows[:, 0].astype(int), x=rows[:, 1:], w=counts.astype(float),
                 k=int(observed.size))
    terms = ["arm", *names]
    degenerate = _degenerate(g, observed)
    if degenerate:
        return _undefined(terms, observed, empty, y.shape[0], level, degenerate)
    return _analyse(data, terms, observed, empty, g, y, level)


def _degenerate(g: FloatArray, observed: FloatArray) -> str:
    if g.size == 0 or g.min() == g.max():
        return "an arm has no patients"
    if observed.size < 2:
        return "all patients are in one category"
    return ""


def _undefined(terms: list[str], observed: FloatArray, empty: tuple[float, ...], n: int,
               level: float, reason: str) -> ProportionalOddsResult:
    nan = float("nan")
    note = f"proportional odds: {reason}: odds ratio undefined (NaN), p-value set to 1"
    return ProportionalOddsResult(
        estimate=nan, ci_low=nan, ci_high=nan, p_value=1.0, log_or=nan, se=nan,
        statistic=nan, p_wald=1.0, p_score=1.0, p_lrt=1.0,
        coefficients=pd.DataFrame({"term": terms, "estimate": nan, "se": nan,
                                   "statistic": nan, "p_value": nan}),
        thresholds=_threshold_table(observed, np.full(max(observed.size - 1, 0), nan),
                                    np.full(max(observed.size - 1, 0), nan)),
        levels=tuple(float(v) for v in observed), empty_levels=empty, loglik=nan,
        loglik_null=nan, deviance=nan, n=n, iterations=0, converged=False, level=level,
        method=_METHOD, warnings=emit([note]))


_METHOD = ("proportional-odds logistic regression (R MASS::polr, logit link), "
           "Newton-Raphson; Wald interval")


def _threshold_table(observed: FloatArray, est: FloatArray, se: FloatArray) -> pd.DataFrame:
    labels = [f"{_fmt(a)}|{_fmt(b)}" for a, b in zip(observed[:-1], observed[1:],
                                                       strict=True)]
    return pd.DataFrame({"label": labels, "estimate": est, "se": se})


def _fmt(v: float) -> str:
    return f"{v:g}"


def _separated(g: FloatArray, y: FloatArray) -> int:
    """-1 if every treated score is <= every control score, +1 for the reverse, else 0."""
    yt, yc = y[g == 1], y[g == 0]
    if yt.max() <= yc.min():
        return -1
    if yc.max() <= yt.min():
        return 1
    return 0


def _analyse(data: _Data, terms: list[str], observed: FloatArray, empty: tuple[float, ...],
             g: FloatArray, y: FloatArray, level: float) -> ProportionalOddsResult:
    p = data.x.shape[1]
    start = _start(data, p)
    free_null = np.ones(start.size, dtype=bool)
    free_null[0] = False
    null_theta, ll0, _, _ = _fit(data, start, free_null)
    grad0, hess0 = _derivatives(null_theta, data)
    with np.errstate(invalid="ignore"):
        score = float(grad0 @ np.linalg.solve(-hess0, grad0))
    p_score = float(chi2_1_sf(score)) if np.isfinite(score) else 1.0
    side = _separated(g, y)
    notes: list[str] = []
    if side:
        return _separation(data, terms, observed, empty, null_theta, ll0, p_score, side,
                           level, g.size)
    theta, ll, iters, converged = _fit(data, null_theta, np.ones(start.size, dtype=bool))
    _, hess = _derivatives(theta, data)
    cov = np.linalg.inv(-hess)
    se = np.sqrt(np.diag(cov))
    if not converged:
        notes.append("proportional odds: Newton-Raphson did not converge; estimates may "
                     "be unreliable (possible separation by a covariate)")
    beta, se_b = theta[:p], se[:p]
    z = beta / se_b
    p_wald = two_sided_p(z)
    lrt = max(2 * (ll - ll0), 0.0)
    half = z_quantile(level) * se_b[0]
    return ProportionalOddsResult(
        estimate=float(np.exp(beta[0])), ci_low=float(np.exp(beta[0] - half)),
        ci_high=float(np.exp(beta[0] + half)), p_value=float(p_wald[0]),
        log_or=float(beta[0]), se=float(se_b[0]), statistic=float(z[0]),
        p_wald=float(p_wald[0]), p_score=p_score, p_lrt=float(chi2_1_sf(lrt)),
        coefficients=pd.DataFrame({"term": terms, "estimate": beta, "se": se_b,
                                   "statistic": z, "p_value": p_wald}),
        thresholds=_threshold_table(observed, theta[p:], se[p:]),
        levels=tuple(float(v) for v in observed), empty_levels=empty, loglik=ll,
        loglik_null=ll0, deviance=-2 * ll, n=int(g.size), iterations=iters,
        converged=converged, level=level, method=_METHOD, warnings=emit(notes))


def _separation(data: _Data, terms: list[str], observed: FloatArray,
                empty: tuple[float, ...], null_theta: FloatArray, ll0: float, p_score: float,
                side: int, level: float, n: int) -> ProportionalOddsResult:
    nan = float("nan")
    direction = "lower" if side < 0 else "higher"
    note = (f"proportional odds: complete separation (every treated patient in a {direction} "
            f"or equal category than every control): odds ratio "
            f"{'0' if side < 0 else 'inf'}, Wald test and CI undefined; p_value is the "
            "score test")
    log_or = -np.inf if side < 0 else np.inf
    p = data.x.shape[1]
    coef = np.full(p, nan)
    coef[0] = log_or
    return ProportionalOddsResult(
        estimate=float(np.exp(log_or)), ci_low=nan, ci_high=nan, p_value=p_score,
        log_or=float(log_or), se=nan, statistic=nan, p_wald=nan, p_score=p_score, p_lrt=nan,
        coefficients=pd.DataFrame({"term": terms, "estimate": coef, "se": nan,
                                   "statistic": nan, "p_value": nan}),
        thresholds=_threshold_table(observed, np.full(data.k - 1, nan),
                                    np.full(data.k - 1, nan)),
        levels=tuple(float(v) for v in observed), empty_levels=empty, loglik=nan,
        loglik_null=ll0, deviance=nan, n=n, iterations=0, converged=False, level=level,
        method=_METHOD, warnings=emit([note]))
