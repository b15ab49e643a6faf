"""Time-to-event endpoints: Kaplan-Meier, log-rank test, Cox model for the arm.

Right-censored data: ``time`` (>= 0, e.g. days to death or to end of follow-up),
``event`` (1 = event, 0 = censored, e.g. alive at the end of follow-up), ``arm``
(1 = treated, 0 = control). The batch functions take arrays of shape
``(replicates, patients)`` (``arm`` may also be shared, shape ``(patients,)``) and reduce
each row; the scalar functions run the same code on one row.

The shared workhorse is the *risk-set table*: rows sorted by time, and at the last
position of each group of tied times the number at risk (total and treated) and the number
of events (total and treated). The log-rank test and the Cox score, information and partial
likelihood are sums over that table, so they vectorise over replicates without loops.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from mscsim._errors import InputError
from mscsim.trial._stats.common import (
    BoolArray,
    FloatArray,
    as_binary,
    as_float,
    batch_summary,
    check_level,
    chi2_1_sf,
    emit,
    two_sided_p,
    z_quantile,
)
from mscsim.trial._stats.result import BatchableResult, PerTrial, ResultMixin, Value

CONF_TYPES = ("log-log", "log", "plain")
"""Kaplan-Meier confidence-interval transformations (as R's ``survfit`` ``conf.type``)."""

TIES = ("efron", "breslow")
"""Tie handling of the Cox partial likelihood (R ``coxph`` default: Efron)."""

# ---------------------------------------------------------------- input


def _survival_arrays(time: ArrayLike, event: ArrayLike, arm: ArrayLike | None,
                     ndim: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validated ``time``, ``event``, ``arm`` of a common shape with ``ndim`` dimensions.

    Raises:
        InputError: naming the argument that is NaN, negative, not 0/1 or of a wrong shape.
    """
    t = as_float(time, "time", ndim=(ndim,))
    if np.any(t < 0):
        raise InputError("times must be >= 0", field="time")
    e = as_binary(event, "event", ndim=(1, ndim))
    g = as_binary(np.zeros(t.shape[-1]) if arm is None else arm, "arm", ndim=(1, ndim))
    for name, arr in (("event", e), ("arm", g)):
        if arr.shape[-1] != t.shape[-1] or (arr.ndim == ndim and arr.shape != t.shape):
            raise InputError(f"shape {arr.shape} does not match time's {t.shape}", field=name)
    return t, np.broadcast_to(e, t.shape).astype(float), np.broadcast_to(g, t.shape).astype(
        float)


@dataclass(frozen=True, eq=False)
class RiskTable:
    """Risk sets per replicate, arrays of shape ``(replicates, patients)`` in time order.

    ``n``/``n1`` are the numbers at risk (all, treated) just before each patient's time.
    ``d``/``d1`` (events, all and treated) sit on the last position of each group of tied
    times and are zero elsewhere; ``d_tie``/``d1_tie`` repeat them on every position of the
    group. ``event`` is the sorted event indicator and ``tie_rank`` the number of events
    before it in its group (0, 1, ... for the Efron approximation).
    """

    time: FloatArray
    event: FloatArray
    n: FloatArray
    n1: FloatArray
    d: FloatArray
    d1: FloatArray
    d_tie: FloatArray
    d1_tie: FloatArray
    tie_rank: FloatArray
    n_treated: FloatArray
    n_control: FloatArray

    @property
    def n0(self) -> FloatArray:
        return self.n - self.n1


def risk_table(time: FloatArray, event: FloatArray, arm: FloatArray) -> RiskTable:
    """Build the :class:`RiskTable` of validated 2-D arrays (one replicate per row)."""
    order = np.argsort(time, axis=1)
    t = np.take_along_axis(time, order, axis=1)
    e = np.take_along_axis(event, order, axis=1)
    g = np.take_along_axis(arm, order, axis=1)
    size = t.shape[1]
    idx = np.arange(size)[None, :]
    new = np.ones(t.shape, dtype=bool)
    new[:, 1:] = t[:, 1:] != t[:, :-1]
    last = np.ones(t.shape, dtype=bool)
    last[:, :-1] = new[:, 1:]
    first = np.maximum.accumulate(np.where(new, idx, 0), axis=1)
    final = np.minimum.accumulate(np.where(last, idx, size)[:, ::-1], axis=1)[:, ::-1]
    cum_g, cum_e, cum_eg = (np.cumsum(x, axis=1) for x in (g, e, e * g))

    def before(cum: FloatArray, x: FloatArray) -> FloatArray:
        return np.take_along_axis(cum - x, first, axis=1)

    def in_group(cum: FloatArray, x: FloatArray) -> FloatArray:
        return np.take_along_axis(cum, final, axis=1) - before(cum, x)

    d_tie, d1_tie = in_group(cum_e, e), in_group(cum_eg, e * g)
    n_treated = g.sum(axis=1)
    return RiskTable(time=t, event=e, n=size - first.astype(float),
                     n1=n_treated[:, None] - before(cum_g, g),
                     d=np.where(last, d_tie, 0.0), d1=np.where(last, d1_tie, 0.0),
                     d_tie=d_tie, d1_tie=d1_tie, tie_rank=cum_e - e - before(cum_e, e),
                     n_treated=n_treated, n_control=size - n_treated)


def _degenerate_reasons(rt: RiskTable) -> dict[str, BoolArray]:
    """Masks of replicates whose arm comparison carries no information."""
    empty = (rt.n_treated == 0) | (rt.n_control == 0)
    no_events = ~empty & (rt.d.sum(axis=1) == 0)
    return {"an empty arm": empty, "no events": no_events}


# ---------------------------------------------------------------- Kaplan-Meier


@dataclass(frozen=True, eq=False, repr=False)
class KaplanMeierResult(ResultMixin):
    """Kaplan-Meier estimate of one group.

    Attributes:
        table: one row per distinct time (events and censorings, as R's ``survfit``):
            ``time, n_risk, n_event, n_censor, survival, se`` (Greenwood standard error of
            the survival probability), ``ci_low, ci_high``.
        median, median_ci_low, median_ci_high: median survival time and its limits (where
            the curve and its limits cross 0.5; a flat stretch at exactly 0.5 gives the
            midpoint, as R; NaN when not reached).
        n, events: patients and events.
    """

    table: pd.DataFrame
    median: float
    median_ci_low: float
    median_ci_high: float
    n: int
    events: int
    conf_type: str
    level: float
    method: str
    warnings: tuple[str, ...]

    def survival_at(self, times: ArrayLike) -> FloatArray:
        """The (right-continuous) survival curve at ``times`` (1 before the first time)."""
        t = np.asarray(times, dtype=float)
        idx = np.searchsorted(self.table["time"].to_numpy(), t, side="right") - 1
        surv = np.concatenate([[1.0], self.table["survival"].to_numpy()])
        return np.asarray(surv[idx + 1], dtype=float)


def _km_interval(surv: FloatArray, sd_log: FloatArray, conf_type: str,
                 z: float) -> tuple[FloatArray, FloatArray]:
    """Pointwise limits; ``sd_log`` is the Greenwood standard error of ``log S``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            half = z * sd_log * surv
            lo, hi = np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
        elif conf_type == "log":
            lo = np.exp(np.log(surv) - z * sd_log)
            hi = np.minimum(np.exp(np.log(surv) + z * sd_log), 1.0)
        else:
            loglog = np.log(-np.log(surv))
            half = z * sd_log / np.abs(np.log(surv))
            lo, hi = np.exp(-np.exp(loglog + half)), np.exp(-np.exp(loglog - half))
    at_one = surv == 1.0
    at_zero = surv == 0.0
    lo = np.where(at_one, 1.0, np.where(at_zero, np.nan, lo))
    hi = np.where(at_one, 1.0, np.where(at_zero, np.nan, hi))
    return lo, hi


def _quantile_time(time: FloatArray, curve: FloatArray, p: float = 0.5,
                   tol: float = 1.4901161193847656e-08) -> float:
    """First time the step curve falls to ``p`` (midpoint of a flat stretch at ``p``).

    This is the rule of R's ``quantile.survfit`` (tolerance ``sqrt(.Machine$double.eps)``).
    """
    ok = np.isfinite(curve)
    time, curve = time[ok], curve[ok]
    if curve.size == 0 or np.min(curve) > p + tol:
        return float("nan")
    below = np.flatnonzero(curve < p - tol)
    at = np.flatnonzero(np.abs(curve - p) <= tol)
    if at.size:
        start = time[at[0]]
        end = time[below[0]] if below.size else time[-1]
        return float((start + end) / 2)
    return float(time[below[0]])


def kaplan_meier(time: ArrayLike, event: ArrayLike, *, level: float = 0.95,
                 conf_type: str = "log-log") -> KaplanMeierResult:
    """Kaplan-Meier estimate with Greenwood standard errors and pointwise limits.

    Arguments:
        time: follow-up times (>= 0), 1-D.
        event: 1 = event, 0 = censored (e.g. alive at the end of follow-up).
        level: confidence level.
        conf_type: ``"log-log"`` (default, as lifelines), ``"log"`` (R ``survfit``'s
            default) or ``"plain"``. Limits are 1 where the curve is 1 (R: NA for
            log-log), NaN where it is 0.

    Returns:
        A :class:`KaplanMeierResult`; its ``table`` is ready for a step plot.

    Raises:
        InputError: NaN/negative times, event not 0/1, mismatched lengths, unknown
            ``conf_type``.
    """
    if conf_type not in CONF_TYPES:
        raise InputError(f"unknown conf_type {conf_type!r}", field="conf_type",
                         hint="use one of " + ", ".join(CONF_TYPES))
    level = check_level(level)
    t, e, _ = _survival_arrays(time, event, None, 1)
    notes = []
    if t.size == 0:
        notes.append("Kaplan-Meier: no patients: empty table, median NaN")
    elif e.sum() == 0:
        notes.append("Kaplan-Meier: no events: survival is 1 throughout, median NaN")
    times, inverse = np.unique(t, return_inverse=True)
    n_total = np.bincount(inverse, minlength=times.size).astype(float)
    n_event = np.bincount(inverse, weights=e, minlength=times.size)
    n_risk = t.size - np.cumsum(n_total) + n_total
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_event / n_risk)
        sd_log = np.sqrt(np.cumsum(n_event / (n_risk * (n_risk - n_event))))
        se = np.where(surv > 0, surv * sd_log, np.nan)
    lo, hi = _km_interval(surv, sd_log, conf_type, z_quantile(level))
    table = pd.DataFrame({"time": times, "n_risk": n_risk, "n_event": n_event,
                          "n_censor": n_total - n_event, "survival": surv, "se": se,
                          "ci_low": lo, "ci_high": hi})
    return KaplanMeierResult(
        table=table, median=_quantile_time(times, surv),
        median_ci_low=_quantile_time(times, lo), median_ci_high=_quantile_time(times, hi),
        n=int(t.size), events=int(e.sum()), conf_type=conf_type, level=level,
        method=f"Kaplan-Meier, Greenwood variance, {conf_type} pointwise interval",
        warnings=emit(notes))


# ---------------------------------------------------------------- log-rank


@dataclass(frozen=True, eq=False, repr=False)
class LogRankResult(BatchableResult[Value]):
    """Log-rank test of treated versus control (R ``survdiff``, rho = 0), of one trial or
    of a batch (numbers, or arrays with one entry per replicate; ``batch[i]`` is replicate
    ``i``).

    Attributes:
        statistic: chi-square (1 df); 0 when there is no information.
        p_value: its p-value (1 when there is no information).
        estimate, ci_low, ci_high: the log-rank (Peto) hazard ratio
            ``exp((O1 - E1) / V)`` with limits ``exp((O1 - E1) / V +/- z / sqrt(V))``.
        observed_*, expected_*: observed and expected events per arm; variance: ``V``.
        defined: False where there is no information; notes: each replicate's warning
            text ('' when none); warnings: what was warned.
    """

    statistic: Value
    p_value: Value
    estimate: Value
    ci_low: Value
    ci_high: Value
    observed_treated: Value
    expected_treated: Value
    observed_control: Value
    expected_control: Value
    variance: Value
    n_treated: Value
    n_control: Value
    defined: Value
    notes: tuple[str, ...]
    level: float
    method: str
    warnings: tuple[str, ...]

    whole_numbers = ("n_treated", "n_control")


def _notes(what: str, reasons: dict[str, BoolArray], consequence: str) -> tuple[str, ...]:
    size = next(iter(reasons.values())).shape[0]
    out = []
    for i in range(size):
        hit = [r for r, mask in reasons.items() if mask[i]]
        out.append(f"{what}: {hit[0]}: {consequence}" if hit else "")
    return tuple(out)


def _logrank(rt: RiskTable, level: float) -> tuple[LogRankResult[PerTrial], dict[str, BoolArray]]:
    n, n1, d = rt.n, rt.n1, rt.d
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(d > 0, d * n1 / n, 0.0).sum(axis=1)
        var = np.where((d > 0) & (n > 1), d * n1 * (n - n1) * (n - d) / (n**2 * (n - 1)),
                       0.0).sum(axis=1)
        observed = rt.d1.sum(axis=1)
        total = d.sum(axis=1)
        ok = var > 0
        stat = np.where(ok, (observed - expected) ** 2 / var, 0.0)
        log_hr = np.where(ok, (observed - expected) / var, np.nan)
        half = z_quantile(level) / np.sqrt(var)
    reasons = _degenerate_reasons(rt)
    reasons["no events while both arms were at risk"] = ~ok & ~np.any(
        list(reasons.values()), axis=0)
    res = LogRankResult(
        statistic=stat, p_value=np.where(ok, chi2_1_sf(stat), 1.0), estimate=np.exp(log_hr),
        ci_low=np.exp(log_hr - np.where(ok, half, np.nan)),
        ci_high=np.exp(log_hr + np.where(ok, half, np.nan)), observed_treated=observed,
        expected_treated=expected, observed_control=total - observed,
        expected_control=total - expected, variance=var, n_treated=rt.n_treated,
        n_control=rt.n_control, defined=ok,
        notes=_notes("log-rank test", reasons, "no information (chi-square 0, p = 1, HR NaN)"),
        level=level, method="log-rank test (R survdiff, rho = 0); Peto hazard ratio",
        warnings=())
    return res, reasons


def logrank_test_batch(time: ArrayLike, event: ArrayLike, arm: ArrayLike, *,
                       level: float = 0.95) -> LogRankResult[PerTrial]:
    """Log-rank tests of many replicate trials at once.

    Arguments:
        time: follow-up times, shape ``(replicates, patients)``.
        event: 1 = event, 0 = censored, same shape.
        arm: 1 = treated, 0 = control, same shape or ``(patients,)`` (shared).
        level: confidence level of the log-rank hazard ratio.

    Returns:
        A batch :class:`LogRankResult`; one summary :class:`StatisticsWarning` per kind of
        degenerate replicate (no events, empty arm).

    Raises:
        InputError: NaN/negative times, event or arm not 0/1, mismatched shapes.
    """
    level = check_level(level)
    rt = risk_table(*_survival_arrays(time, event, arm, 2))
    res, reasons = _logrank(rt, level)
    counts = {f"replicates have {r} (no information: chi-square 0, p = 1)": int(m.sum())
              for r, m in reasons.items()}
    return replace(res, warnings=emit(batch_summary("log-rank test", len(res), counts)))


def logrank_test(time: ArrayLike, event: ArrayLike, arm: ArrayLike, *,
                 level: float = 0.95) -> LogRankResult[float]:
    """Log-rank test of treated versus control in one trial (as R ``survdiff``).

    Arguments:
        time, event, arm: 1-D arrays of equal length (see :func:`logrank_test_batch`).
        level: confidence level of the log-rank hazard ratio.

    Returns:
        A :class:`LogRankResult`. An empty arm or no events: chi-square 0, p-value 1, HR
        NaN, with a :class:`StatisticsWarning`.

    Raises:
        InputError: NaN/negative times, event or arm not 0/1, mismatched lengths.
    """
    level = check_level(level)
    t, e, g = _survival_arrays(time, event, arm, 1)
    res = _logrank(risk_table(t[None], e[None], g[None]), level)[0][0]
    return replace(res, warnings=emit(res.warnings))


# ---------------------------------------------------------------- Cox


@dataclass(frozen=True, eq=False, repr=False)
class CoxResult(BatchableResult[Value]):
    """Cox proportional-hazards model with the arm as its only covariate (R ``coxph``), of
    one trial or of a batch (numbers, or arrays with one entry per replicate).

    Attributes:
        estimate, ci_low, ci_high: hazard ratio (treated/control) and Wald limits.
        p_value: the Wald p-value, or, when the estimate is 0 or inf (no events in one arm
            while the other is at risk), the score (log-rank) p-value.
        log_hr, se, statistic: coefficient, its standard error and the Wald z.
        p_wald, score_statistic, p_score, lrt_statistic, p_lrt: the three tests of R's
            ``summary.coxph``.
        loglik_null, loglik: partial log-likelihood at 0 and at the estimate.
        defined: False where the hazard ratio is undefined, 0 or inf; notes, warnings: as
            :class:`LogRankResult`.
    """

    estimate: Value
    ci_low: Value
    ci_high: Value
    p_value: Value
    log_hr: Value
    se: Value
    statistic: Value
    p_wald: Value
    score_statistic: Value
    p_score: Value
    lrt_statistic: Value
    p_lrt: Value
    loglik_null: Value
    loglik: Value
    n: Value
    events: Value
    iterations: Value
    converged: Value
    defined: Value
    notes: tuple[str, ...]
    ties: str
    level: float
    method: str
    warnings: tuple[str, ...]

    whole_numbers = ("n", "events", "iterations")


@dataclass(frozen=True, eq=False)
class _CoxTerms:
    """Partial-likelihood terms ``w * log(A + B exp(beta))`` per replicate (rows)."""

    log_a: FloatArray
    log_b: FloatArray
    w: FloatArray
    d1: FloatArray

    def loglik(self, beta: FloatArray) -> FloatArray:
        b = beta[:, None]
        return np.asarray(beta * self.d1 - (self.w * np.logaddexp(self.log_a, self.log_b + b))
                          .sum(axis=1), dtype=float)

    def score_info(self, beta: FloatArray) -> tuple[FloatArray, FloatArray]:
        p = special.expit(beta[:, None] + self.log_b - self.log_a)
        return (self.d1 - (self.w * p).sum(axis=1),
                np.asarray((self.w * p * (1 - p)).sum(axis=1), dtype=float))

    def limit(self, sign: float) -> FloatArray:
        """Partial log-likelihood as ``beta -> sign * inf`` (finite where it is monotone)."""
        keep_a = np.isfinite(self.log_a) if sign < 0 else ~np.isfinite(self.log_b)
        return np.asarray(-(self.w * np.where(keep_a, self.log_a, self.log_b)).sum(axis=1),
                          dtype=float)


def _cox_terms(rt: RiskTable, ties: str) -> _CoxTerms:
    """One term per event. Efron: the event of tie rank ``k`` in a group of ``d`` has
    ``A = n0 - k d0 / d``, ``B = n1 - k d1 / d``; Breslow: ``A = n0``, ``B = n1``."""
    if ties == "breslow":
        a, b = rt.n0, rt.n1
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(rt.event > 0, rt.tie_rank / rt.d_tie, 0.0)
        a = rt.n0 - frac * (rt.d_tie - rt.d1_tie)
        b = rt.n1 - frac * rt.d1_tie
    used = rt.event > 0
    with np.errstate(divide="ignore"):
        log_a = np.where(used, np.log(np.maximum(a, 0.0)), 0.0)
        log_b = np.where(used, np.log(np.maximum(b, 0.0)), 0.0)
    return _CoxTerms(log_a=log_a, log_b=log_b, w=rt.event, d1=rt.d1.sum(axis=1))


def _newton(terms: _CoxTerms, todo: BoolArray, tol: float = 1e-12,
            maxiter: int = 50) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Newton-Raphson with step halving for the concave partial likelihood (rows ``todo``)."""
    beta = np.zeros(todo.shape[0])
    iters = np.zeros(todo.shape[0])
    active = todo.copy()
    ll = terms.loglik(beta)
    for _ in range(maxiter):
        if not active.any():
            break
        score, info = terms.score_info(beta)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(active & (info > 0), score / info, 0.0)
        new, ll_new = beta + step, terms.loglik(beta + step)
        for _ in range(40):
            worse = active & (ll_new < ll - 1e-13 * (1 + np.abs(ll)))
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
            new = beta + step
            ll_new = np.where(worse, terms.loglik(new), ll_new)
        iters += active
        done = np.abs(step) <= tol * (1 + np.abs(beta))
        beta = np.where(active, new, beta)
        ll = np.where(active, ll_new, ll)
        active &= ~done
    return beta, iters, todo & ~active


def _cox(rt: RiskTable, ties: str, level: float) -> CoxResult[PerTrial]:
    terms = _cox_terms(rt, ties)
    reasons = _degenerate_reasons(rt)
    none_yet = ~np.any(list(reasons.values()), axis=0)
    d1_overlap = np.where(rt.n0 > 0, rt.d1, 0.0).sum(axis=1)
    d0_overlap = np.where(rt.n1 > 0, rt.d - rt.d1, 0.0).sum(axis=1)
    flat = none_yet & (d1_overlap == 0) & (d0_overlap == 0)
    reasons["no events while both arms were at risk"] = flat
    undefined = ~none_yet | flat
    to_zero = ~undefined & (d1_overlap == 0)
    to_inf = ~undefined & (d0_overlap == 0)
    regular = ~undefined & ~to_zero & ~to_inf

    beta, iters, converged = _newton(terms, regular)
    beta = np.where(to_zero, -np.inf, np.where(to_inf, np.inf, beta))
    ll0 = terms.loglik(np.zeros_like(beta))
    ll = np.where(regular, terms.loglik(np.where(regular, beta, 0.0)), ll0)
    ll = np.where(to_zero, terms.limit(-1.0), np.where(to_inf, terms.limit(1.0), ll))
    ll = np.where(undefined, ll0, ll)
    u0, i0 = terms.score_info(np.zeros_like(beta))
    _, info = terms.score_info(np.where(regular, beta, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        score_stat = np.where(i0 > 0, u0**2 / i0, 0.0)
        se = np.where(regular, 1 / np.sqrt(info), np.nan)
        z = np.where(regular, beta / se, np.nan)
    lrt = np.where(undefined, 0.0, np.maximum(2 * (ll - ll0), 0.0))
    p_wald = np.where(regular, two_sided_p(z), np.nan)
    p_score = np.where(undefined, 1.0, chi2_1_sf(score_stat))
    half = z_quantile(level) * se
    reasons["no events in the treated arm while controls were at risk"] = to_zero
    reasons["no events in the control arm while treated patients were at risk"] = to_inf
    consequences = {
        "an empty arm": "HR undefined (NaN), p = 1",
        "no events": "HR undefined (NaN), p = 1",
        "no events while both arms were at risk": "HR undefined (NaN), p = 1",
        "no events in the treated arm while controls were at risk":
            "the HR estimate is 0 (infinite log-HR); Wald CI undefined; p_value is the "
            "score (log-rank) test",
        "no events in the control arm while treated patients were at risk":
            "the HR estimate is inf (infinite log-HR); Wald CI undefined; p_value is the "
            "score (log-rank) test",
    }
    notes = tuple(
        next((f"Cox model: {r}: {consequences[r]}" for r, m in reasons.items() if m[i]), "")
        for i in range(beta.shape[0]))
    notes = tuple(note or ("" if converged[i] or not regular[i] else
                           "Cox model: Newton-Raphson did not converge")
                  for i, note in enumerate(notes))
    return CoxResult(
        estimate=np.where(undefined, np.nan, np.exp(beta)),
        ci_low=np.exp(beta - half), ci_high=np.exp(beta + half),
        p_value=np.where(regular, p_wald, p_score), log_hr=np.where(undefined, np.nan, beta),
        se=se, statistic=z, p_wald=p_wald, score_statistic=score_stat, p_score=p_score,
        lrt_statistic=lrt, p_lrt=np.where(undefined, 1.0, chi2_1_sf(lrt)), loglik_null=ll0,
        loglik=ll, n=rt.n_treated + rt.n_control, events=rt.d.sum(axis=1), iterations=iters,
        converged=converged | ~regular, defined=regular, notes=notes, ties=ties, level=level,
        method=f"Cox proportional hazards, arm only, {ties} ties (R coxph); Wald interval",
        warnings=())


def _check_ties(ties: str) -> str:
    if ties not in TIES:
        raise InputError(f"unknown ties method {ties!r}", field="ties",
                         hint="use one of " + ", ".join(TIES))
    return ties


def cox_ph_batch(time: ArrayLike, event: ArrayLike, arm: ArrayLike, *, ties: str = "efron",
                 level: float = 0.95) -> CoxResult[PerTrial]:
    """Cox models (arm only) of many replicate trials at once.

    Arguments:
        time, event, arm: as :func:`logrank_test_batch`.
        ties: ``"efron"`` (R default) or ``"breslow"``.
        level: confidence level.

    Returns:
        A batch :class:`CoxResult`; one summary :class:`StatisticsWarning` per kind of
        degenerate replicate.

    Raises:
        InputError: NaN/negative times, event or arm not 0/1, mismatched shapes, bad ties.
    """
    level, ties = check_level(level), _check_ties(ties)
    res = _cox(risk_table(*_survival_arrays(time, event, arm, 2)), ties, level)
    counts: dict[str, int] = {}
    for note in res.notes:
        if note:
            key = "replicates: " + note.removeprefix("Cox model: ")
            counts[key] = counts.get(key, 0) + 1
    return replace(res, warnings=emit(batch_summary("Cox model", len(res), counts)))


def cox_ph(time: ArrayLike, event: ArrayLike, arm: ArrayLike, *, ties: str = "efron",
           level: float = 0.95) -> CoxResult[float]:
    """Cox proportional-hazards model of one trial with the arm as covariate.

    Arguments:
        time, event, arm: 1-D arrays of equal length.
        ties: ``"efron"`` (R ``coxph`` default) or ``"breslow"``.
        level: confidence level.

    Returns:
        A :class:`CoxResult` (HR, Wald CI, Wald/score/likelihood-ratio tests). No events in
        one arm: HR 0 or inf, CI NaN, p_value = score test, with a warning; empty arm or no
        events: HR NaN, p = 1, with a warning.

    Raises:
        InputError: NaN/negative times, event or arm not 0/1, mismatched lengths, bad ties.
    """
    level, ties = check_level(level), _check_ties(ties)
    t, e, g = _survival_arrays(time, event, arm, 1)
    res = _cox(risk_table(t[None], e[None], g[None]), ties, level)[0]
    return replace(res, warnings=emit(res.warnings))



# ---------------------------------------------------------------- competing risks


@dataclass(frozen=True, eq=False, repr=False)
class CumulativeIncidenceResult(ResultMixin):
    """Aalen-Johansen cumulative incidence of competing events (R ``survfit`` with a factor
    status: ``pstate``).

    Attributes:
        table: one row per distinct event or censoring time: ``time``, ``n_risk``, then per
            cause ``events_<cause>``, ``cif_<cause>`` (the probability of having had that
            event by ``time``), its standard error ``se_<cause>`` (infinitesimal jackknife,
            as survfit's ``std.err``) and ``ci_low_<cause>``, ``ci_high_<cause>`` (survfit's
            default "log" interval, capped at 1; NaN where the incidence is 0), then
            ``event_free`` (no event of any cause yet) and ``se_event_free``.
        causes: the cause codes, in the order of the columns.
        level: confidence level of the intervals.
    """

    table: pd.DataFrame
    causes: tuple[int, ...]
    method: str
    warnings: tuple[str, ...]
    level: float = 0.95

    def at(self, times: ArrayLike, cause: int, column: str = "cif") -> FloatArray:
        """Column ``column`` (``cif``, ``se``, ``ci_low``, ``ci_high``) of ``cause`` at
        ``times``, a step function: before the first time the incidence and its standard
        error are 0 and the limits NaN."""
        t = np.asarray(times, dtype=float)
        grid = self.table.time.to_numpy(float)
        values = self.table[f"{column}_{cause}"].to_numpy(float)
        idx = np.searchsorted(grid, t, side="right") - 1
        before = 0.0 if column in ("cif", "se") else np.nan
        return np.where(idx >= 0, values[np.maximum(idx, 0)], before)


def cumulative_incidence(time: ArrayLike, status: ArrayLike, *,
                         level: float = 0.95) -> CumulativeIncidenceResult:
    """Aalen-Johansen estimator of the cumulative incidence of each competing event, with
    infinitesimal-jackknife standard errors and log-scale intervals (R ``survfit`` with a
    factor status: ``pstate``, ``std.err``, ``lower``, ``upper``).

    The standard error is the root of the summed squared influences of the patients: each
    patient's derivative of the estimate with respect to its case weight, through the
    event-free survival ``S(s-)`` and the cause-specific hazard ``d_c(s)/n(s)`` at every
    time ``s`` up to ``t`` (the variance survfit reports for unweighted, unclustered data).

    Arguments:
        time: time of the first event or of censoring (>= 0).
        status: 0 = censored, 1, 2, ... = the cause of the event.
        level: confidence level of the intervals.

    Returns:
        A :class:`CumulativeIncidenceResult`; with no censoring before the end of follow-up
        the incidence of each cause is the share of patients who had it.

    Raises:
        InputError: NaN or negative times, status not a non-negative integer, lengths differ,
            a level outside (0, 1).
    """
    level = check_level(level)
    t = as_float(time, "time")
    s = as_float(status, "status")
    if t.shape != s.shape:
        raise InputError(f"has {s.size} values, time has {t.size}", field="status")
    if np.any(t < 0):
        raise InputError("times must be >= 0", field="time")
    if np.any(s < 0) or np.any(s != np.round(s)):
        raise InputError("must be 0 (censored) or a cause 1, 2, ...", field="status")
    causes = tuple(int(c) for c in np.unique(s[s > 0]))
    grid = np.unique(t)
    at_risk = (t[:, None] >= grid[None, :]).astype(float)         # patients x times
    ends = t[:, None] == grid[None, :]
    n_risk = at_risk.sum(axis=0)
    own = {c: (ends & (s[:, None] == c)).astype(float) for c in causes}
    events = {c: own[c].sum(axis=0) for c in causes}
    total = sum(events.values(), np.zeros(grid.size))
    own_any = sum(own.values(), np.zeros_like(at_risk))
    z = z_quantile(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        risk = np.where(n_risk > 0, n_risk, np.inf)
        hazard = total / risk
        event_free = np.cumprod(1.0 - hazard)
        before = np.concatenate([[1.0], event_free[:-1]])
        # influence of each patient's weight on the all-cause hazard, then on S(s) by the
        # product rule S(s) = S(s-) (1 - hazard(s)), one time after the other (exact also
        # where the hazard is 1)
        d_hazard = own_any / risk - at_risk * total / risk**2
        d_before = np.zeros_like(at_risk)
        d_free = np.zeros_like(at_risk)
        for j in range(grid.size):
            d_before[:, j] = d_free[:, j - 1] if j else 0.0
            d_free[:, j] = d_before[:, j] * (1.0 - hazard[j]) - before[j] * d_hazard[:, j]
        columns: dict[str, FloatArray] = {"time": grid, "n_risk": n_risk}
        for c in causes:
            cause_hazard = events[c] / risk
            cif = np.cumsum(before * cause_hazard)
            d_cif = np.cumsum(d_before * cause_hazard[None, :] + before[None, :] * (
                own[c] / risk - at_risk * events[c] / risk**2), axis=1)
            se = np.sqrt((d_cif**2).sum(axis=0))
            spread = np.exp(z * se / cif)
            columns[f"events_{c}"] = events[c]
            columns[f"cif_{c}"] = cif
            columns[f"se_{c}"] = se
            columns[f"ci_low_{c}"] = np.where(cif > 0, cif / spread, np.nan)
            columns[f"ci_high_{c}"] = np.where(cif > 0, np.minimum(cif * spread, 1.0), np.nan)
    columns["event_free"] = np.asarray(event_free, dtype=np.float64)
    columns["se_event_free"] = np.sqrt((d_free**2).sum(axis=0))
    notes = () if causes else emit(["cumulative incidence: no events"])
    return CumulativeIncidenceResult(pd.DataFrame(columns), causes,
                                     "Aalen-Johansen (R survfit, multi-state); infinitesimal-"
                                     "jackknife standard errors, log-scale intervals", notes,
                                     level)
