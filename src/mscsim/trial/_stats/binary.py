"""Binary endpoints: risk ratio, odds ratio, risk difference and Fisher's exact test.

Every function has a batch form taking arrays of counts (one 2x2 table per element) and a
scalar form that runs the batch code on one table. The table of an arm is
``(events, n)``; contrasts are treated versus control.

* Risk ratio and odds ratio: Wald interval on the log scale, ``log(est) +/- z * se``.
  When any of the four cells is zero, 0.5 is added to every cell (a
  :class:`StatisticsWarning` says so); this is metafor's ``escalc`` default
  (``add=1/2, to="only0"``). No events in either arm makes the RR (and OR) undefined, as
  does (for the OR) every patient having the event in both arms: NaN estimate and limits,
  p-value 1.
* Risk difference: estimate from the raw counts; Wald variance
  ``p1(1-p1)/n1 + p0(1-p0)/n0``, taken from the 0.5-corrected table when a cell is zero
  (otherwise a zero-event arm would contribute no variance). Two zero-event arms give
  RD = 0 with a non-degenerate interval and p-value 1.
* Fisher's exact test: two-sided p-value as R's ``fisher.test`` (sum of the null
  hypergeometric probabilities not larger than the observed one, relative tolerance
  1e-7); estimate and interval are the conditional maximum-likelihood odds ratio and the
  exact conditional limits, as in R.
* An empty arm gives NaN estimates and p-value 1 for every measure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from mscsim._errors import InputError
from mscsim.trial._stats.common import (
    BoolArray,
    FloatArray,
    as_counts,
    batch_summary,
    check_level,
    emit,
    two_sided_p,
    z_quantile,
)
from mscsim.trial._stats.result import BatchableResult, PerTrial, Value

CORRECTION = 0.5
"""Added to every cell of a table with a zero cell (RR, OR; RD variance only)."""

FISHER_REL_ERR = 1 + 1e-7
"""Relative tolerance of R's ``fisher.test`` when collecting tables as or more extreme."""


@dataclass(frozen=True, eq=False, repr=False)
class BinaryEffect(BatchableResult[Value]):
    """A treated-versus-control contrast of two proportions, of one 2x2 table or of a batch
    (numbers, or arrays with one entry per table; ``batch[i]`` is table ``i``).

    Attributes:
        measure: ``"risk ratio"``, ``"odds ratio"`` or ``"risk difference"``.
        estimate, ci_low, ci_high: the contrast and its Wald limits (ratios exponentiated).
        p_value: two-sided Wald p-value (1 where the contrast is undefined).
        se: standard error of the log ratio, or of the difference.
        statistic: Wald z.
        corrected: whether 0.5 was added to the cells.
        defined: False where the contrast is undefined (empty arm, or no/all events).
        notes: each table's warning text ('' when none).
        warnings: the messages warned about (a table's note; a batch's summary counts).
    """

    measure: str
    estimate: Value
    ci_low: Value
    ci_high: Value
    p_value: Value
    se: Value
    statistic: Value
    events_treated: Value
    n_treated: Value
    events_control: Value
    n_control: Value
    corrected: Value
    defined: Value
    notes: tuple[str, ...]
    level: float
    method: str
    warnings: tuple[str, ...]

    whole_numbers = ("events_treated", "n_treated", "events_control", "n_control")


@dataclass(frozen=True, eq=False, repr=False)
class FisherResult(BatchableResult[Value]):
    """Fisher's exact test (as R's ``fisher.test``) of one 2x2 table or of a batch.

    Attributes:
        estimate: conditional maximum-likelihood odds ratio (0 or inf at the edges of the
            support; NaN when the table has a single possible configuration).
        ci_low, ci_high: exact conditional confidence limits of the odds ratio.
        p_value: two-sided exact p-value.
        defined: False where the margins allow one table only; notes, warnings: as
            :class:`BinaryEffect`.
    """

    estimate: Value
    ci_low: Value
    ci_high: Value
    p_value: Value
    events_treated: Value
    n_treated: Value
    events_control: Value
    n_control: Value
    defined: Value
    notes: tuple[str, ...]
    level: float
    method: str
    warnings: tuple[str, ...]

    whole_numbers = ("events_treated", "n_treated", "events_control", "n_control")


# ---------------------------------------------------------------- input


def _tables(events_treated: ArrayLike, n_treated: ArrayLike, events_control: ArrayLike,
            n_control: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Validated, broadcast 1-D arrays ``(a, n1, c, n0)``.

    Raises:
        InputError: negative or fractional counts, events > n, shapes that do not broadcast,
            or more than one dimension.
    """
    raw = {"events_treated": events_treated, "n_treated": n_treated,
           "events_control": events_control, "n_control": n_control}
    arrs = {name: as_counts(value, name) for name, value in raw.items()}
    for name, arr in arrs.items():
        if arr.ndim > 1:
            raise InputError(f"must be a number or a 1-D array, got shape {arr.shape}",
                             field=name)
    try:
        a, n1, c, n0 = (np.atleast_1d(x).astype(float)
                        for x in np.broadcast_arrays(*arrs.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in arrs.items())
        raise InputError(f"count arrays have incompatible shapes: {shapes}",
                         field="n_control") from None
    for events, n, name in ((a, n1, "events_treated"), (c, n0, "events_control")):
        if np.any(events > n):
            i = int(np.flatnonzero(events > n)[0])
            raise InputError(f"events ({events[i]:g}) exceed patients ({n[i]:g}) "
                             f"in table {i}", field=name)
    return a, n1, c, n0


# ---------------------------------------------------------------- Wald contrasts


_UNDEFINED_REASON = {
    "risk ratio": "no events in either arm: the risk ratio is undefined",
    "odds ratio": "no events (or only events) in both arms: the odds ratio is undefined",
}


def _wald(measure: str, a: FloatArray, n1: FloatArray, c: FloatArray, n0: FloatArray,
          level: float) -> BinaryEffect[PerTrial]:
    """The shared computation of the three Wald contrasts (no warnings emitted)."""
    b, d = n1 - a, n0 - c
    empty = (n1 == 0) | (n0 == 0)
    if measure == "risk ratio":
        undefined = ~empty & (a == 0) & (c == 0)
    elif measure == "odds ratio":
        undefined = ~empty & (((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    else:
        undefined = np.zeros_like(empty)
    zero_cell = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    corrected = ~empty & ~undefined & zero_cell
    add = np.where(corrected, CORRECTION, 0.0)
    ac, bc, cc, dc = a + add, b + add, c + add, d + add
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "risk ratio":
            est = np.log(ac / (ac + bc)) - np.log(cc / (cc + dc))
            var = 1 / ac - 1 / (ac + bc) + 1 / cc - 1 / (cc + dc)
        elif measure == "odds ratio":
            est = np.log(ac) + np.log(dc) - np.log(bc) - np.log(cc)
            var = 1 / ac + 1 / bc + 1 / cc + 1 / dc
        else:
            est = a / n1 - c / n0
            p1, p0 = ac / (ac + bc), cc / (cc + dc)
            var = p1 * (1 - p1) / (ac + bc) + p0 * (1 - p0) / (cc + dc)
        se = np.sqrt(var)
        z = np.where(se > 0, est / se, 0.0)
    bad = empty | undefined
    est, se = np.where(bad, np.nan, est), np.where(bad, np.nan, se)
    z = np.where(bad, np.nan, z)
    p = np.where(bad, 1.0, two_sided_p(z))
    half = z_quantile(level) * se
    lo, hi = est - half, est + half
    if measure != "risk difference":
        est, lo, hi = np.exp(est), np.exp(lo), np.exp(hi)
    notes = _notes(measure, empty, undefined, corrected, n1, n0)
    return BinaryEffect(
        measure=measure, estimate=est, ci_low=lo, ci_high=hi, p_value=p, se=se,
        statistic=z, events_treated=a, n_treated=n1, events_control=c, n_control=n0,
        corrected=corrected, defined=~bad, notes=notes, level=level,
        method=_method(measure), warnings=())


def _method(measure: str) -> str:
    scale = "log scale" if measure != "risk difference" else "identity scale"
    return (f"{measure}, Wald interval on the {scale}; 0.5 added to every cell of tables "
            "with a zero cell")


def _notes(measure: str, empty: BoolArray, undefined: BoolArray, corrected: BoolArray,
           n1: FloatArray, n0: FloatArray) -> tuple[str, ...]:
    notes = []
    for i in range(empty.shape[0]):
        if empty[i]:
            notes.append(f"{measure}: an arm has no patients (n_treated={n1[i]:g}, "
                         f"n_control={n0[i]:g}): estimate undefined (NaN), p-value set to 1")
        elif undefined[i]:
            notes.append(f"{measure}: {_UNDEFINED_REASON[measure]} (NaN), p-value set to 1")
        elif corrected[i]:
            what = "to the cells for the variance" if measure == "risk difference" else \
                "to every cell"
            notes.append(f"{measure}: the 2x2 table has a zero cell; 0.5 added {what}")
        else:
            notes.append("")
    return tuple(notes)


def _summarise(batch: BinaryEffect[PerTrial] | FisherResult[PerTrial], what: str,
               counts: dict[str, int]) -> tuple[str, ...]:
    return emit(batch_summary(what, len(batch), counts))


def _wald_batch(measure: str, events_treated: ArrayLike, n_treated: ArrayLike,
                events_control: ArrayLike, n_control: ArrayLike,
                level: float) -> BinaryEffect[PerTrial]:
    a, n1, c, n0 = _tables(events_treated, n_treated, events_control, n_control)
    res = _wald(measure, a, n1, c, n0, check_level(level))
    empty = (n1 == 0) | (n0 == 0)
    counts = {"tables have an empty arm (NaN, p = 1)": int(empty.sum()),
              "tables have an undefined contrast (NaN, p = 1)":
                  int((~res.defined & ~empty).sum()),
              "tables have a zero cell (0.5 added)": int(res.corrected.sum())}
    return replace(res, warnings=_summarise(res, measure, counts))


def risk_ratio_batch(events_treated: ArrayLike, n_treated: ArrayLike,
                     events_control: ArrayLike, n_control: ArrayLike, *,
                     level: float = 0.95) -> BinaryEffect[PerTrial]:
    """Risk ratios (treated/control) of many 2x2 tables with Wald log-scale intervals.

    Arguments:
        events_treated, n_treated, events_control, n_control: counts (numbers or 1-D
            arrays, broadcast against each other).
        level: confidence level.

    Returns:
        A batch :class:`BinaryEffect`; one summary :class:`StatisticsWarning` per kind of
        degenerate table.

    Raises:
        InputError: negative/fractional counts, events > n, incompatible shapes.
    """
    return _wald_batch("risk ratio", events_treated, n_treated, events_control, n_control,
                       level)


def odds_ratio_batch(events_treated: ArrayLike, n_treated: ArrayLike,
                     events_control: ArrayLike, n_control: ArrayLike, *,
                     level: float = 0.95) -> BinaryEffect[PerTrial]:
    """Odds ratios (treated/control) of many 2x2 tables; see :func:`risk_ratio_batch`."""
    return _wald_batch("odds ratio", events_treated, n_treated, events_control, n_control,
                       level)


def risk_difference_batch(events_treated: ArrayLike, n_treated: ArrayLike,
                          events_control: ArrayLike, n_control: ArrayLike, *,
                          level: float = 0.95) -> BinaryEffect[PerTrial]:
    """Risk differences (treated - control) of many 2x2 tables; see
    :func:`risk_ratio_batch`."""
    return _wald_batch("risk difference", events_treated, n_treated, events_control,
                       n_control, level)


def _wald_scalar(measure: str, args: tuple[ArrayLike, ...], level: float) -> BinaryEffect[float]:
    for name, value in zip(("events_treated", "n_treated", "events_control", "n_control"),
                           args, strict=True):
        if np.ndim(value) != 0:
            raise InputError("must be a single count (use the *_batch function for arrays)",
                             field=name)
    a, n1, c, n0 = _tables(*args)
    res = _wald(measure, a, n1, c, n0, check_level(level))[0]
    return replace(res, warnings=emit(res.warnings))


def risk_ratio(events_treated: int, n_treated: int, events_control: int, n_control: int, *,
               level: float = 0.95) -> BinaryEffect[float]:
    """Risk ratio (treated/control) of one 2x2 table with a Wald log-scale interval.

    Arguments:
        events_treated, n_treated: events and patients in the treated arm.
        events_control, n_control: events and patients in the control arm.
        level: confidence level.

    Returns:
        A :class:`BinaryEffect`. Zero cell: 0.5 added to every cell, with a warning. No
        events in either arm or an empty arm: NaN estimate, p-value 1, with a warning.

    Raises:
        InputError: negative/fractional counts, events > n.
    """
    return _wald_scalar("risk ratio", (events_treated, n_treated, events_control, n_control),
                        level)


def odds_ratio(events_treated: int, n_treated: int, events_control: int, n_control: int, *,
               level: float = 0.95) -> BinaryEffect[float]:
    """Odds ratio (treated/control) of one 2x2 table; conventions as :func:`risk_ratio`."""
    return _wald_scalar("odds ratio", (events_treated, n_treated, events_control, n_control),
                        level)


def risk_difference(events_treated: int, n_treated: int, events_control: int,
                    n_control: int, *, level: float = 0.95) -> BinaryEffect[float]:
    """Risk difference (treated - control) of one 2x2 table with a Wald interval.

    The estimate uses the raw counts; with a zero cell the variance comes from the
    0.5-corrected table (warned). Two zero-event arms: RD = 0, p-value 1.
    """
    return _wald_scalar("risk difference",
                        (events_treated, n_treated, events_control, n_control), level)


# ---------------------------------------------------------------- Fisher


def _hypergeometric_support(a: FloatArray, n1: FloatArray, c: FloatArray,
                            n0: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Support grid ``x`` (tables x K) of the treated-arm event count given the margins,
    the log null probabilities (``-inf`` outside the support) and the bounds ``(lo, hi)``."""
    m = a + c
    lo = np.maximum(0.0, m - n0)
    hi = np.minimum(n1, m)
    k = int(np.max(hi - lo)) + 1 if a.size else 1
    x = lo[:, None] + np.arange(k, dtype=float)[None, :]
    inside = x <= hi[:, None]
    xs = np.where(inside, x, lo[:, None])
    logd = (_log_choose(n1[:, None], xs) + _log_choose(n0[:, None], m[:, None] - xs)
            - _log_choose((n1 + n0)[:, None], m[:, None]))
    return x, np.where(inside, logd, -np.inf), np.stack([lo, hi])


def _log_choose(n: FloatArray, k: FloatArray) -> FloatArray:
    return np.asarray(special.gammaln(n + 1) - special.gammaln(k + 1)
                      - special.gammaln(n - k + 1), dtype=float)


def _fisher_p(x: FloatArray, logd: FloatArray, a: FloatArray) -> FloatArray:
    d = np.exp(logd - np.max(logd, axis=1, keepdims=True))
    d_obs = np.take_along_axis(d, (a - x[:, 0]).astype(int)[:, None], axis=1)
    extreme = d <= d_obs * FISHER_REL_ERR
    return np.asarray(np.minimum(1.0, (d * extreme).sum(axis=1) / d.sum(axis=1)), dtype=float)


def _tilted(theta: FloatArray, x: FloatArray, logd: FloatArray) -> FloatArray:
    """Noncentral hypergeometric probabilities for log odds ratios ``theta``."""
    logw = logd + theta[:, None] * np.where(np.isfinite(logd), x, 0.0)
    logw -= np.max(logw, axis=1, keepdims=True)
    w = np.exp(logw)
    return np.asarray(w / w.sum(axis=1, keepdims=True), dtype=float)


def _solve_increasing(fn: Callable[[FloatArray], tuple[FloatArray, FloatArray]],
                      todo: BoolArray, start: FloatArray, tol: float = 1e-12,
                      maxiter: int = 200) -> FloatArray:
    """Roots of increasing functions of ``theta`` (one per row), safeguarded Newton.

    ``fn(theta)`` returns values and derivatives for every row; rows not in ``todo`` get NaN.
    Newton steps start at ``start`` and fall back to bisection of a bracket that begins at
    ``start +/- 4`` and is widened until it holds the root.
    """
    width = np.full(todo.shape[0], 4.0)
    lo, hi = start - width, start + width
    for _ in range(12):
        flo, fhi = fn(lo)[0], fn(hi)[0]
        widen_lo, widen_hi = todo & (flo > 0), todo & (fhi < 0)
        if not (widen_lo.any() or widen_hi.any()):
            break
        width *= 2
        lo = np.where(widen_lo, start - width, lo)
        hi = np.where(widen_hi, start + width, hi)
    theta = np.where(todo, start, 0.0)
    active = todo.copy()
    for _ in range(maxiter):
        if not active.any():
            break
        f, df = fn(theta)
        lo = np.where(active & (f < 0), theta, lo)
        hi = np.where(active & (f > 0), theta, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = theta - f / df
        mid = 0.5 * (lo + hi)
        new = np.where((df > 0) & (step > lo) & (step < hi), step, mid)
        done = (np.abs(new - theta) < tol * (1 + np.abs(theta))) | (f == 0) | (hi - lo < tol)
        theta = np.where(active, new, theta)
        active &= ~done
    return np.where(todo, theta, np.nan)


def _start_values(a: FloatArray, n1: FloatArray, c: FloatArray,
                  n0: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Empirical log odds ratio and its Wald SE with 0.5 added to every cell."""
    cells = [a + 0.5, n1 - a + 0.5, c + 0.5, n0 - c + 0.5]
    log_or = np.log(cells[0]) + np.log(cells[3]) - np.log(cells[1]) - np.log(cells[2])
    return log_or, np.sqrt(sum(1 / x for x in cells))


def _conditional_mle(x: FloatArray, logd: FloatArray, table: tuple[FloatArray, ...],
                     bounds: FloatArray, level: float) -> tuple[FloatArray, FloatArray,
                                                                FloatArray]:
    """Conditional MLE of the odds ratio and exact conditional limits, as R's fisher.test."""
    a = table[0]
    lo, hi = bounds
    single = lo == hi
    xv = np.where(np.isfinite(logd), x, 0.0)
    alpha = (1 - level) / 2

    def mean_eq(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        p = _tilted(theta, x, logd)
        mean = (p * xv).sum(axis=1)
        return mean - a, (p * xv**2).sum(axis=1) - mean**2

    def tail(theta: FloatArray, upper: bool) -> tuple[FloatArray, FloatArray]:
        p = _tilted(theta, x, logd)
        ind = (xv >= a[:, None]) if upper else (xv <= a[:, None])
        prob = (p * ind).sum(axis=1)
        mean = (p * xv).sum(axis=1)
        cov = (p * ind * xv).sum(axis=1) - prob * mean
        return (prob - alpha, cov) if upper else (alpha - prob, -cov)

    log_or, se = _start_values(*table)
    z = z_quantile(level)
    interior = ~single & (a > lo) & (a < hi)
    est = np.exp(_solve_increasing(mean_eq, interior, log_or))
    est = np.where(~single & (a == lo), 0.0, est)
    est = np.where(~single & (a == hi), np.inf, est)
    ci_lo = np.exp(_solve_increasing(lambda t: tail(t, True), ~single & (a > lo),
                                     log_or - z * se))
    ci_lo = np.where(single | (a == lo), 0.0, ci_lo)
    ci_hi = np.exp(_solve_increasing(lambda t: tail(t, False), ~single & (a < hi),
                                     log_or + z * se))
    ci_hi = np.where(single | (a == hi), np.inf, ci_hi)
    return est, ci_lo, ci_hi


def _fisher(a: FloatArray, n1: FloatArray, c: FloatArray, n0: FloatArray, level: float,
            estimate: bool) -> FisherResult[PerTrial]:
    x, logd, bounds = _hypergeometric_support(a, n1, c, n0)
    p = _fisher_p(x, logd, a)
    single = bounds[0] == bounds[1]
    if estimate:
        est, lo, hi = _conditional_mle(x, logd, (a, n1, c, n0), bounds, level)
        est = np.where(single, np.nan, est)
    else:
        est = lo = hi = np.full(a.shape, np.nan)
    empty = (n1 == 0) | (n0 == 0)
    notes = tuple(
        "Fisher's exact test: an arm has no patients: odds ratio undefined (NaN), p = 1"
        if empty[i] else
        "Fisher's exact test: the margins allow one table only (no events, or only events, "
        "in both arms): odds ratio undefined (NaN), p = 1" if single[i] else ""
        for i in range(a.shape[0]))
    return FisherResult(
        estimate=est, ci_low=lo, ci_high=hi, p_value=p, events_treated=a, n_treated=n1,
        events_control=c, n_control=n0, defined=~single, notes=notes, level=level,
        method="Fisher's exact test, two-sided (R fisher.test); conditional MLE odds ratio",
        warnings=())


def fisher_exact_batch(events_treated: ArrayLike, n_treated: ArrayLike,
                       events_control: ArrayLike, n_control: ArrayLike, *,
                       level: float = 0.95, estimate: bool = True) -> FisherResult[PerTrial]:
    """Fisher's exact test of many 2x2 tables at once.

    Arguments:
        events_treated, n_treated, events_control, n_control: counts (numbers or 1-D
            arrays, broadcast).
        level: confidence level of the conditional odds-ratio interval.
        estimate: also compute the conditional MLE and its limits (set False when only
            p-values are needed: it is several times faster).

    Returns:
        A batch :class:`FisherResult`.

    Raises:
        InputError: negative/fractional counts, events > n, incompatible shapes.
    """
    a, n1, c, n0 = _tables(events_treated, n_treated, events_control, n_control)
    res = _fisher(a, n1, c, n0, check_level(level), estimate)
    empty = (n1 == 0) | (n0 == 0)
    warned = _summarise(res, "Fisher's exact test", {
        "tables have an empty arm (odds ratio NaN, p = 1)": int(empty.sum()),
        "tables allow one configuration only (odds ratio NaN, p = 1)":
            int((~res.defined & ~empty).sum())})
    return replace(res, warnings=warned)


def fisher_exact(events_treated: int, n_treated: int, events_control: int, n_control: int,
                 *, level: float = 0.95) -> FisherResult[float]:
    """Fisher's exact test of one 2x2 table, as R's ``fisher.test`` (two-sided).

    Arguments:
        events_treated, n_treated, events_control, n_control: the counts.
        level: confidence level of the conditional odds-ratio interval.

    Returns:
        A :class:`FisherResult`: conditional MLE odds ratio, exact limits, p-value.

    Raises:
        InputError: negative/fractional counts, events > n.
    """
    args = (events_treated, n_treated, events_control, n_control)
    for name, value in zip(("events_treated", "n_treated", "events_control", "n_control"),
                           args, strict=True):
        if np.ndim(value) != 0:
            raise InputError("must be a single count (use fisher_exact_batch for arrays)",
                             field=name)
    a, n1, c, n0 = _tables(*args)
    res = _fisher(a, n1, c, n0, check_level(level), True)[0]
    return replace(res, warnings=emit(res.warnings))
