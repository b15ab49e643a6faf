"""Meta-analysis models: an ``rma``-like engine validated against R's metafor.

* Inverse-variance models (:func:`rma`): fixed effect (``FE``/``EE``) and random effects
  with a pluggable registry of tau^2 estimators (``DL``, ``REML``, ``ML``, ``PM``, ``HE``,
  ``SJ``; :func:`register_tau2_estimator` adds more), optional Hartung-Knapp(-Sidik-
  Jonkman) adjustment (``test="knha"``), prediction interval, Q, I^2, H^2 and the
  Q-profile confidence interval of tau^2 (metafor's ``confint``).
* Mantel-Haenszel (:func:`rma_mh`) and Peto (:func:`rma_peto`) fixed-effect models.
* Mixed-effects meta-regression (:func:`meta_regression`, metafor's ``rma(yi, vi,
  mods=~x)``) and subgroup analysis with a test for subgroup differences
  (:func:`subgroup_analysis`).
* :func:`meta_analysis`: the one-call entry point on a comparison table (counts), used
  by the CLI.

All models work on plain arrays; nothing here depends on the evidence dataset. Formulas
follow metafor 3.8 (Viechtbauer 2010, J Stat Softw 36(3)); see ``docs/meta_analysis.md``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from mscsim._errors import InputError
from mscsim.evidence._effects import (
    RATIO_MEASURES,
    EffectSizes,
    ZeroCellHandling,
    escalc,
    normalize_measure,
)

# --------------------------------------------------------------------------------------
# control and the tau^2 estimator registry
# --------------------------------------------------------------------------------------

TESTS: tuple[str, ...] = ("z", "knha")
"""Inference for the fixed effects: normal (``z``) or Hartung-Knapp (``knha``, t/F)."""


@dataclass(frozen=True)
class FitControl:
    """Numerical settings of the iterative estimators.

    The defaults are much tighter than metafor's (``threshold=1e-5`` for Fisher scoring,
    uniroot ``tol`` of about 1.2e-4) so that results are converged to ~1e-10; the
    R reference numbers are generated with equally tight settings.
    """

    threshold: float = 1e-12
    """Fisher scoring (ML/REML) stops when the change in tau^2 is below this."""
    maxiter: int = 1000
    root_tol: float = 1e-13
    """Absolute tolerance of the root finding (PM estimator, Q-profile CI)."""
    tau2_max: float | None = None
    """Upper end of the PM search interval (default: max(100, 10 * mad(yi)^2))."""
    ll0_tol: float = float(np.finfo(float).eps) ** 0.25
    """ML/REML: if the likelihood at tau^2 = 0 beats the optimum by more than this, use 0."""


@dataclass(frozen=True)
class Tau2Fit:
    """What a tau^2 estimator returns."""

    tau2: float
    se: float = math.nan
    iterations: int = 0
    converged: bool = True
    message: str = ""
    """A note for the result's warnings (e.g. a fallback was needed)."""


Tau2Estimator = Callable[[np.ndarray, np.ndarray, np.ndarray, FitControl], Tau2Fit]
"""``estimator(y, v, X, control) -> Tau2Fit``; ``X`` is the k x p design matrix."""


@dataclass(frozen=True)
class _Registered:
    func: Tau2Estimator
    description: str
    fixed: bool


TAU2_ESTIMATORS: dict[str, _Registered] = {}
"""Registry of tau^2 estimators by (upper-case) name."""


def register_tau2_estimator(
    name: str, func: Tau2Estimator | None = None, *, description: str = "",
    fixed: bool = False,
) -> Any:
    """Register a tau^2 estimator under ``name`` (usable as a decorator).

    ``fixed=True`` marks a fixed-effect method (tau^2 = 0, I^2/H^2 from Q as metafor does).
    """

    def deco(f: Tau2Estimator) -> Tau2Estimator:
        TAU2_ESTIMATORS[name.upper()] = _Registered(f, description, fixed)
        return f

    return deco if func is None else deco(func)


def tau2_methods() -> tuple[str, ...]:
    """Names of all registered inverse-variance methods."""
    return tuple(TAU2_ESTIMATORS)


POOLING_METHODS: tuple[str, ...] = ("MH", "PETO")
"""Fixed-effect methods working on the 2x2 counts rather than on yi/vi."""


def normalize_method(method: str) -> str:
    name = str(method).strip().upper()
    if name in TAU2_ESTIMATORS or name in POOLING_METHODS:
        return name
    raise InputError(f"unknown meta-analysis method {method!r}", field="method",
                     hint="use one of " + ", ".join((*TAU2_ESTIMATORS, *POOLING_METHODS)))


# --------------------------------------------------------------------------------------
# linear algebra helpers
# --------------------------------------------------------------------------------------


def _inv(a: np.ndarray) -> np.ndarray:
    return np.linalg.inv(a)


def _pmat(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """P = W - W X (X'WX)^-1 X'W for the diagonal weights ``w``."""
    wx = X * w[:, None]
    return np.diag(w) - wx @ _inv(X.T @ wx) @ wx.T


def _qe(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """The generalised Q statistic y'P(tau2)y."""
    P = _pmat(1.0 / (v + tau2), X)
    return float(y @ P @ y)


def _mad(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _pm_upper(y: np.ndarray, control: FitControl) -> float:
    if control.tau2_max is not None:
        return float(control.tau2_max)
    return max(100.0, 10.0 * _mad(y) ** 2)


# --------------------------------------------------------------------------------------
# the estimators (metafor 3.8, rma.uni)
# --------------------------------------------------------------------------------------


@register_tau2_estimator("FE", description="fixed effect (common effect), tau^2 = 0",
                         fixed=True)
def _tau2_fe(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl) -> Tau2Fit:
    return Tau2Fit(0.0)


register_tau2_estimator("EE", _tau2_fe, description="equal effects (metafor's name for FE)",
                        fixed=True)


@register_tau2_estimator("DL", description="DerSimonian-Laird (method of moments)")
def _tau2_dl(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl) -> Tau2Fit:
    k, p = X.shape
    P = _pmat(1.0 / v, X)
    trP = float(np.trace(P))
    tau2 = max(0.0, (float(y @ P @ y) - (k - p)) / trP)
    se = math.sqrt((2 * (k - p) + 4 * tau2 * trP + 2 * tau2**2 * float(np.sum(P * P)))
                   / trP**2)
    return Tau2Fit(tau2, se)


def _he_raw(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> tuple[float, np.ndarray]:
    k, p = X.shape
    P = np.eye(k) - X @ _inv(X.T @ X) @ X.T
    PV = P * v[None, :]
    return (float(y @ P @ y) - float(np.trace(PV))) / (k - p), PV


@register_tau2_estimator("HE", description="Hedges (unweighted method of moments)")
def _tau2_he(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl) -> Tau2Fit:
    k, p = X.shape
    raw, PV = _he_raw(y, v, X)
    tau2 = max(0.0, raw)
    se = math.sqrt((2 * float(np.sum(PV * PV.T)) + 4 * tau2 * float(np.trace(PV))
                    + 2 * tau2**2 * (k - p)) / (k - p) ** 2)
    return Tau2Fit(tau2, se)


@register_tau2_estimator("SJ", description="Sidik-Jonkman")
def _tau2_sj(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl) -> Tau2Fit:
    k, p = X.shape
    tau2_0 = float(np.mean((y - y.mean()) ** 2))
    P = _pmat(1.0 / (v + tau2_0), X)
    tau2 = max(0.0, tau2_0 * float(y @ P @ y) / (k - p))
    PV = P * v[None, :]
    se = math.sqrt(tau2_0**2 / (k - p) ** 2
                   * (2 * float(np.sum(PV * PV.T)) + 4 * tau2 * float(np.sum(PV * P))
                      + 2 * tau2**2 * float(np.sum(P * P))))
    return Tau2Fit(tau2, se)


@register_tau2_estimator("PM", description="Paule-Mandel (generalised Q = k - p)")
def _tau2_pm(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl) -> Tau2Fit:
    k, p = X.shape
    target = k - p
    if _qe(0.0, y, v, X) < target:
        tau2 = 0.0
    else:
        hi = _pm_upper(y, control)
        if _qe(hi, y, v, X) > target:
            raise InputError(f"Paule-Mandel: tau^2 exceeds the search bound {hi:g}",
                             field="method", hint="try another method or raise tau2_max")
        tau2 = float(optimize.brentq(lambda t: _qe(t, y, v, X) - target, 0.0, hi,
                                     xtol=control.root_tol, rtol=4 * np.finfo(float).eps,
                                     maxiter=control.maxiter))
    w = 1.0 / (v + tau2)
    se = math.sqrt(2 * k**2 / (k - p) / float(np.sum(w)) ** 2)
    return Tau2Fit(tau2, se)


def _loglik(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray, reml: bool) -> float:
    k, p = X.shape
    w = 1.0 / (v + tau2)
    wx = X * w[:, None]
    A = X.T @ wx
    beta = np.linalg.solve(A, wx.T @ y)
    rss = float(np.sum(w * (y - X @ beta) ** 2))
    if reml:
        return float(-0.5 * (k - p) * math.log(2 * math.pi) - 0.5 * np.sum(np.log(v + tau2))
                     - 0.5 * np.linalg.slogdet(A)[1] - 0.5 * rss)
    return float(-0.5 * k * math.log(2 * math.pi) - 0.5 * np.sum(np.log(v + tau2))
                 - 0.5 * rss)


def _score(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray, reml: bool) -> float:
    """Derivative of the (restricted) log-likelihood with respect to tau^2 (times 2)."""
    w = 1.0 / (v + tau2)
    P = _pmat(w, X)
    Py = P @ y
    return float(Py @ Py) - (float(np.trace(P)) if reml else float(np.sum(w)))


def _fisher_iterations(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl,
                       reml: bool, stepadj: float) -> tuple[float, int, bool]:
    """metafor's Fisher scoring from the HE start; returns (tau2, iterations, converged)."""
    tau2 = max(0.0, _he_raw(y, v, X)[0])
    change, it = math.inf, 0
    while change > control.threshold:
        it += 1
        if it > control.maxiter:
            return tau2, it - 1, False
        w = 1.0 / (v + tau2)
        P = _pmat(w, X)
        PP = P @ P
        if reml:
            adj = (float(y @ PP @ y) - float(np.trace(P))) / float(np.trace(PP))
        else:
            adj = (float(y @ PP @ y) - float(np.sum(w))) / float(np.sum(w**2))
        adj = adj * stepadj if math.isfinite(adj) else 0.0
        while tau2 + adj < 0:
            adj /= 2.0
        old, tau2 = tau2, tau2 + adj
        change = abs(old - tau2)
    return tau2, it, True


def _score_root(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl,
                reml: bool) -> float:
    """Global maximiser of the (restricted) likelihood on [0, upper] via the roots of the
    score (used only when Fisher scoring fails to converge)."""
    upper = _pm_upper(y, control)
    grid = np.concatenate([[0.0], np.geomspace(1e-8, upper, 400)])
    sc = np.array([_score(t, y, v, X, reml) for t in grid])
    candidates = [0.0] if sc[0] <= 0 else []
    for a, b, sa, sb in zip(grid[:-1], grid[1:], sc[:-1], sc[1:], strict=True):
        if sa > 0 >= sb:  # a local maximum in (a, b]
            candidates.append(float(optimize.brentq(
                lambda t: _score(t, y, v, X, reml), a, b, xtol=control.root_tol,
                rtol=4 * np.finfo(float).eps, maxiter=control.maxiter)))
    if not candidates:
        raise InputError("maximum likelihood estimate of tau^2 not found", field="method",
                         hint="try method DL, PM or HE")
    return max(candidates, key=lambda t: _loglik(t, y, v, X, reml))


def _fisher_scoring(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl,
                    reml: bool) -> Tau2Fit:
    """ML/REML as metafor: Fisher scoring (step 1). If it does not converge (it can
    oscillate), retry with half steps (metafor's ``stepadj=0.5`` remedy), then fall back
    to the roots of the score; both find the same maximiser when it is unique."""
    message = ""
    tau2, it, ok = _fisher_iterations(y, v, X, control, reml, 1.0)
    if not ok:
        tau2, it2, ok = _fisher_iterations(y, v, X, control, reml, 0.5)
        it += it2
        message = ("Fisher scoring did not converge; converged with half steps "
                   "(metafor: control=list(stepadj=0.5))")
        if not ok:
            tau2 = _score_root(y, v, X, control, reml)
            message = ("Fisher scoring did not converge; tau^2 found as the root of the "
                       "likelihood score")
    # metafor's 'll0check': a boundary solution at 0 that beats the found optimum
    if _loglik(0.0, y, v, X, reml) - _loglik(tau2, y, v, X, reml) > control.ll0_tol and \
            tau2 > control.threshold:
        tau2 = 0.0
    tau2 = max(0.0, tau2)
    w = 1.0 / (v + tau2)
    if reml:
        P = _pmat(w, X)
        se = math.sqrt(2.0 / float(np.sum(P * P)))
    else:
        se = math.sqrt(2.0 / float(np.sum(w**2)))
    return Tau2Fit(tau2, se, iterations=it, converged=True, message=message)


@register_tau2_estimator("REML", description="restricted maximum likelihood (Fisher scoring)")
def _tau2_reml(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl) -> Tau2Fit:
    return _fisher_scoring(y, v, X, control, reml=True)


@register_tau2_estimator("ML", description="maximum likelihood (Fisher scoring)")
def _tau2_ml(y: np.ndarray, v: np.ndarray, X: np.ndarray, control: FitControl) -> Tau2Fit:
    return _fisher_scoring(y, v, X, control, reml=False)


# --------------------------------------------------------------------------------------
# the inverse-variance model fit (intercept-only or with moderators)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _UniFit:
    """Everything an inverse-variance fit produces (internal)."""

    k: int
    p: int
    beta: np.ndarray
    vb: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    crit: float
    df: float
    tau2: float
    se_tau2: float
    fixed: bool
    qe: float
    qe_df: int
    qe_pval: float
    i2: float
    h2: float
    vt: float
    s2w: float
    qm: float
    qm_df: tuple[float, float]
    qm_pval: float
    w: np.ndarray
    note: str = ""


def _fit_uni(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, test: str,
             level: float, control: FitControl) -> _UniFit:
    k, p = X.shape
    reg = TAU2_ESTIMATORS[method]
    if k == 1:
        tfit = Tau2Fit(0.0)
    else:
        if not reg.fixed and p + 1 > k:
            raise InputError(f"{k} studies are too few to estimate tau^2 and {p} coefficient(s)",
                             field="k", hint="use method FE or fewer moderators")
        if reg.fixed and p > k:
            raise InputError(f"{k} studies are too few for {p} coefficients", field="k")
        tfit = reg.func(y, v, X, control)
    tau2 = 0.0 if reg.fixed else float(tfit.tau2)
    w = 1.0 / (v + tau2)
    wx = X * w[:, None]
    vb = _inv(X.T @ wx)
    beta = vb @ (wx.T @ y)
    s2w = 1.0
    use_t = test == "knha" and k > p
    if test == "knha":
        rss = float(np.sum(w * (y - X @ beta) ** 2))
        if k > p:
            s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
        vb = s2w * vb
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    alpha = 1.0 - level
    if use_t:
        df = float(k - p)
        crit = float(stats.t.ppf(1 - alpha / 2, df))
        pval = 2 * stats.t.sf(np.abs(stat), df)
    else:
        df = math.nan
        crit = float(stats.norm.ppf(1 - alpha / 2))
        pval = 2 * stats.norm.sf(np.abs(stat))
    # omnibus test of the moderators (all coefficients but the intercept)
    if p > 1:
        idx = np.arange(1, p)
        b = beta[idx]
        qm = float(b @ np.linalg.solve(vb[np.ix_(idx, idx)], b))
        m = p - 1
        if use_t:
            qm /= m
            qm_df: tuple[float, float] = (float(m), float(k - p))
            qm_pval = float(stats.f.sf(qm, m, k - p))
        else:
            qm_df = (float(m), math.nan)
            qm_pval = float(stats.chi2.sf(qm, m))
    else:
        qm, qm_df, qm_pval = math.nan, (math.nan, math.nan), math.nan
    # heterogeneity, always from the fixed-effect weights
    if k > p:
        P = _pmat(1.0 / v, X)
        qe = max(0.0, float(y @ P @ y))
        qe_pval = float(stats.chi2.sf(qe, k - p))
        vt = (k - p) / float(np.trace(P))
        if reg.fixed:
            i2 = max(0.0, 100.0 * (qe - (k - p)) / qe) if qe > 0 else 0.0
            h2 = qe / (k - p)
        else:
            i2 = 100.0 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1.0
    else:
        qe, qe_pval, i2, h2, vt = 0.0, 1.0, 0.0, 1.0, 0.0
    return _UniFit(k=k, p=p, beta=beta, vb=vb, se=se, stat=stat, pval=np.asarray(pval),
                   ci_low=beta - crit * se, ci_high=beta + crit * se, crit=crit, df=df,
                   tau2=tau2, se_tau2=math.nan if reg.fixed else float(tfit.se),
                   fixed=reg.fixed, qe=qe, qe_df=k - p, qe_pval=qe_pval, i2=i2, h2=h2,
                   vt=vt, s2w=s2w, qm=qm, qm_df=qm_df, qm_pval=qm_pval, w=w,
                   note=tfit.message)


def tau2_qprofile_ci(y: np.ndarray, v: np.ndarray, X: np.ndarray | None = None, *,
                     tau2: float = 0.0, level: float = 0.95,
                     control: FitControl | None = None) -> tuple[float, float]:
    """Q-profile confidence interval of tau^2 (Viechtbauer 2007; metafor ``confint``).

    Bounds are where the generalised Q statistic crosses the chi^2_{k-p} quantiles;
    a bound below 0 is truncated at 0 (both bounds 0 when even tau^2 = 0 gives Q below
    the lower quantile).
    """
    control = control or FitControl()
    y = np.asarray(y, float)
    v = np.asarray(v, float)
    X = np.ones((y.size, 1)) if X is None else np.asarray(X, float)
    k, p = X.shape
    if k <= p:
        return math.nan, math.nan
    alpha = 1.0 - level
    crit_u = float(stats.chi2.ppf(1 - alpha / 2, k - p))
    crit_l = float(stats.chi2.ppf(alpha / 2, k - p))
    lo_end, hi_end = min(0.0, tau2), max(100.0, 10.0 * tau2)
    q_min, q_max = _qe(lo_end, y, v, X), _qe(hi_end, y, v, X)

    def root(target: float) -> float:
        return float(optimize.brentq(lambda t: _qe(t, y, v, X) - target, lo_end, hi_end,
                                     xtol=control.root_tol, rtol=4 * np.finfo(float).eps,
                                     maxiter=control.maxiter))

    if q_min < crit_l:
        lb = ub = lo_end
    else:
        ub = hi_end if q_max > crit_l else root(crit_l)
    if q_max > crit_u:
        lb = ub = hi_end
    elif q_min < crit_u:
        lb = lo_end
    else:
        lb = root(crit_u)
    return lb, ub


# --------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------


def _f(x: Any) -> float | None:
    """JSON-friendly float: NaN/inf -> None."""
    if x is None:
        return None
    xf = float(x)
    return xf if math.isfinite(xf) else None


@dataclass(frozen=True)
class _ModelSpec:
    """What is needed to refit a model on a subset of studies (diagnostics)."""

    kind: str  # "uni", "mh" or "peto"
    effects: EffectSizes
    method: str
    test: str
    level: float
    control: FitControl
    mods: np.ndarray | None = None  # k x (p-1) moderator matrix (no intercept), or None
    mod_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetaResult:
    """A pooled estimate (intercept-only model) with heterogeneity and provenance.

    Numbers are on the analysis scale: the log scale for ratio measures (RR, OR, PETO),
    the risk-difference scale for RD. :meth:`natural` and :meth:`to_dict` give the
    exponentiated values for ratio measures.
    """

    measure: str
    method: str
    test: str
    level: float
    k: int
    estimate: float
    se: float
    statistic: float
    pval: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    df: float
    tau2: float
    tau2_se: float
    tau2_ci_low: float
    tau2_ci_high: float
    i2: float
    i2_ci_low: float
    i2_ci_high: float
    h2: float
    h2_ci_low: float
    h2_ci_high: float
    q: float
    q_df: int
    q_pval: float
    studies: pd.DataFrame
    zero_cell: ZeroCellHandling
    filters: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    source: Mapping[str, Any] = field(default_factory=dict)
    """Where the studies came from (e.g. outcome and timepoint of the evidence dataset)."""
    _spec: _ModelSpec | None = field(default=None, repr=False, compare=False)

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2) if self.tau2 >= 0 else math.nan

    @property
    def scale(self) -> str:
        return "log" if self.is_ratio else "identity"

    def _tr(self, x: float) -> float:
        return math.exp(x) if self.is_ratio and math.isfinite(x) else x

    def natural(self) -> dict[str, float]:
        """Estimate, CI and PI on the natural scale (exponentiated for ratio measures)."""
        return {name: self._tr(getattr(self, name))
                for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}

    def summary(self) -> pd.DataFrame:
        """One row per reported quantity: the pooled effect and the heterogeneity."""
        nat = self.natural()
        rows = [
            {"quantity": f"pooled {self.measure}" + (" (log)" if self.is_ratio else ""),
             "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high},
            {"quantity": f"pooled {self.measure}", "estimate": nat["estimate"],
             "ci_low": nat["ci_low"], "ci_high": nat["ci_high"]},
            {"quantity": "prediction interval", "estimate": nat["estimate"],
             "ci_low": nat["pi_low"], "ci_high": nat["pi_high"]},
            {"quantity": "tau^2", "estimate": self.tau2, "ci_low": self.tau2_ci_low,
             "ci_high": self.tau2_ci_high},
            {"quantity": "I^2 (%)", "estimate": self.i2, "ci_low": self.i2_ci_low,
             "ci_high": self.i2_ci_high},
            {"quantity": "H^2", "estimate": self.h2, "ci_low": self.h2_ci_low,
             "ci_high": self.h2_ci_high},
            {"quantity": f"Q (df={self.q_df})", "estimate": self.q, "ci_low": math.nan,
             "ci_high": math.nan},
        ]
        if not self.is_ratio:
            rows.pop(1)
        return pd.DataFrame(rows).set_index("quantity")

    def provenance(self) -> dict[str, Any]:
        return {"measure": self.measure, "method": self.method, "test": self.test,
                "level": self.level, "k": self.k, "zero_cell": self.zero_cell.to_dict(),
                "filters": dict(self.filters), "source": dict(self.source)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the ``mscsim evidence meta --json`` output)."""
        nat = self.natural()
        out: dict[str, Any] = {
            "measure": self.measure, "method": self.method, "test": self.test,
            "level": self.level, "scale": self.scale, "k": self.k,
            "estimate": _f(nat["estimate"]), "ci_low": _f(nat["ci_low"]),
            "ci_high": _f(nat["ci_high"]), "pi_low": _f(nat["pi_low"]),
            "pi_high": _f(nat["pi_high"]),
        }
        if self.is_ratio:
            out["log_estimate"] = _f(self.estimate)
            out["log_ci_low"] = _f(self.ci_low)
            out["log_ci_high"] = _f(self.ci_high)
        out.update({
            "se": _f(self.se), "statistic": _f(self.statistic), "pval": _f(self.pval),
            "df": _f(self.df),
            "tau2": _f(self.tau2), "tau2_se": _f(self.tau2_se),
            "tau2_ci": [_f(self.tau2_ci_low), _f(self.tau2_ci_high)],
            "tau": _f(self.tau),
            "i2": _f(self.i2), "i2_ci": [_f(self.i2_ci_low), _f(self.i2_ci_high)],
            "h2": _f(self.h2), "h2_ci": [_f(self.h2_ci_low), _f(self.h2_ci_high)],
            "q": _f(self.q), "q_df": self.q_df, "q_pval": _f(self.q_pval),
            "zero_cell": self.zero_cell.to_dict(), "filters": dict(self.filters),
            "source": dict(self.source),
            "extra": {key: (_f(val) if isinstance(val, float | int | np.floating) else val)
                      for key, val in self.extra.items()},
            "warnings": list(self.warnings),
            "studies": _studies_json(self.studies),
        })
        return out


def _studies_json(df: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for rec in df.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for col, val in rec.items():
            key = str(col)
            if key == "study_id":
                row[key] = str(val)
            elif isinstance(val, bool | np.bool_):
                row[key] = bool(val)
            elif key in ("ai", "n1", "ci", "n2") and _f(val) is not None and \
                    float(val).is_integer():
                row[key] = int(val)
            else:
                row[key] = _f(val)
        rows.append(row)
    return rows


@dataclass(frozen=True)
class MetaRegressionResult:
    """A mixed-effects meta-regression (metafor ``rma(yi, vi, mods = ~ x)``)."""

    measure: str
    method: str
    test: str
    level: float
    k: int
    coefficients: pd.DataFrame
    """One row per coefficient: estimate, se, statistic, pval, ci_low, ci_high."""
    tau2: float
    tau2_se: float
    i2: float
    h2: float
    r2: float
    """Pseudo R^2 (%): proportional reduction of tau^2 against the intercept-only model."""
    qe: float
    qe_df: int
    qe_pval: float
    qm: float
    qm_df: tuple[float, float]
    qm_pval: float
    df: float
    studies: pd.DataFrame
    zero_cell: ZeroCellHandling
    filters: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    vcov: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    _spec: _ModelSpec | None = field(default=None, repr=False, compare=False)

    def summary(self) -> pd.DataFrame:
        return self.coefficients.copy()

    def predict(self, x: float | Sequence[float]) -> pd.DataFrame:
        """Predicted effect (analysis scale) at moderator value(s), one-moderator models."""
        if self.coefficients.shape[0] != 2:
            raise InputError("predict() supports models with one moderator", field="mods")
        xs = np.atleast_1d(np.asarray(x, float))
        Xn = np.column_stack([np.ones(xs.size), xs])
        pred = Xn @ self.coefficients["estimate"].to_numpy()
        se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, self.vcov, Xn))
        crit = (stats.t.ppf(1 - (1 - self.level) / 2, self.df) if self.test == "knha"
                else stats.norm.ppf(1 - (1 - self.level) / 2))
        return pd.DataFrame({"x": xs, "estimate": pred, "se": se,
                             "ci_low": pred - crit * se, "ci_high": pred + crit * se,
                             "pi_low": pred - crit * np.sqrt(se**2 + self.tau2),
                             "pi_high": pred + crit * np.sqrt(se**2 + self.tau2)})

    def to_dict(self) -> dict[str, Any]:
        coefs = [{"term": str(idx), **{c: _f(v) for c, v in row.items()}}
                 for idx, row in self.coefficients.iterrows()]
        return {"measure": self.measure, "method": self.method, "test": self.test,
                "level": self.level, "k": self.k, "coefficients": coefs,
                "tau2": _f(self.tau2), "tau2_se": _f(self.tau2_se), "i2": _f(self.i2),
                "h2": _f(self.h2), "r2": _f(self.r2), "qe": _f(self.qe), "qe_df": self.qe_df,
                "qe_pval": _f(self.qe_pval), "qm": _f(self.qm),
                "qm_df": [_f(d) for d in self.qm_df], "qm_pval": _f(self.qm_pval),
                "zero_cell": self.zero_cell.to_dict(), "filters": dict(self.filters),
                "warnings": list(self.warnings), "studies": _studies_json(self.studies)}


@dataclass(frozen=True)
class SubgroupResult:
    """Separate pooled estimates per subgroup and tests for subgroup differences.

    ``q_between`` compares the subgroup estimates (each with its own tau^2) with a
    fixed-effect Q test (Borenstein et al. 2009; metafor: ``rma(est, sei=se, mods=~group,
    method="FE")``). ``qm`` is the moderator test of the mixed-effects model with a
    common tau^2 (metafor: ``rma(yi, vi, mods=~factor(group))``).
    """

    variable: str
    groups: tuple[str, ...]
    results: Mapping[str, MetaResult]
    overall: MetaResult
    q_between: float
    q_between_df: int
    q_between_pval: float
    qm: float
    qm_df: tuple[float, float]
    qm_pval: float
    tau2_common: float
    warnings: tuple[str, ...] = ()

    def summary(self) -> pd.DataFrame:
        rows = []
        for name in self.groups:
            r = self.results[name]
            nat = r.natural()
            rows.append({"subgroup": name, "k": r.k, "estimate": nat["estimate"],
                         "ci_low": nat["ci_low"], "ci_high": nat["ci_high"],
                         "tau2": r.tau2, "i2": r.i2, "q": r.q})
        nat = self.overall.natural()
        rows.append({"subgroup": "overall", "k": self.overall.k, "estimate": nat["estimate"],
                     "ci_low": nat["ci_low"], "ci_high": nat["ci_high"],
                     "tau2": self.overall.tau2, "i2": self.overall.i2, "q": self.overall.q})
        return pd.DataFrame(rows).set_index("subgroup")

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.variable, "groups": list(self.groups),
                "subgroups": {g: self.results[g].to_dict() for g in self.groups},
                "overall": self.overall.to_dict(),
                "test_for_subgroup_differences": {
                    "q_between": _f(self.q_between), "df": self.q_between_df,
                    "pval": _f(self.q_between_pval)},
                "moderator_test_common_tau2": {
                    "qm": _f(self.qm), "df": [_f(d) for d in self.qm_df],
                    "pval": _f(self.qm_pval), "tau2": _f(self.tau2_common)},
                "warnings": list(self.warnings)}


# --------------------------------------------------------------------------------------
# building blocks shared by the public functions
# --------------------------------------------------------------------------------------


def _coerce_effects(effects: EffectSizes | Sequence[float] | np.ndarray,
                    vi: Sequence[float] | np.ndarray | None,
                    study_id: Sequence[Any] | None, measure: str | None) -> EffectSizes:
    if isinstance(effects, EffectSizes):
        if vi is not None:
            raise InputError("give either EffectSizes or yi and vi, not both", field="vi")
        return effects
    if vi is None:
        raise InputError("sampling variances vi are required with plain yi", field="vi")
    y = np.asarray(effects, float).reshape(-1)
    v = np.asarray(vi, float).reshape(-1)
    if y.size != v.size:
        raise InputError(f"yi has {y.size} values but vi has {v.size}", field="vi")
    if np.any(np.isfinite(v) & (v <= 0)):
        raise InputError("sampling variances must be > 0", field="vi")
    ids = (tuple(str(s) for s in study_id) if study_id is not None
           else tuple(str(i + 1) for i in range(y.size)))
    if len(ids) != y.size:
        raise InputError(f"expected {y.size} study ids, got {len(ids)}", field="study_id")
    nan = np.full(y.size, np.nan)
    return EffectSizes(measure=(measure or "GEN").upper(), study_id=ids, ai=nan, n1=nan,
                       ci=nan, n2=nan, yi=y, vi=v, corrected=np.zeros(y.size, bool),
                       double_zero=np.zeros(y.size, bool),
                       zero_cell=ZeroCellHandling(add=0.0, to="none"))


def _check_test(test: str) -> str:
    t = str(test).strip().lower()
    if t not in TESTS:
        raise InputError(f"unknown test {test!r}", field="test", hint="use 'z' or 'knha'")
    return t


def check_level(level: float) -> float:
    lv = float(level)
    if lv > 1:
        lv /= 100.0  # metafor-style 95
    if not 0 < lv < 1:
        raise InputError(f"confidence level must be in (0, 1), got {level!r}", field="level")
    return lv


def _no_studies(what: str) -> InputError:
    return InputError(f"no studies left to analyse ({what})", field="k",
                      hint="relax the filters or choose another outcome/time point")


def _studies_frame(effects: EffectSizes, used: np.ndarray, weight_pct: np.ndarray) -> pd.DataFrame:
    df = effects.summary()[["study_id", "ai", "n1", "ci", "n2", "yi", "vi"]].copy()
    w = np.full(len(df), np.nan)
    w[used] = weight_pct
    df["weight"] = w
    df["used"] = used
    df["double_zero"] = effects.double_zero
    return df


def _degenerate_warning(k: int) -> str:
    return (f"only k={k} study: the pooled estimate is that study's estimate; tau^2 is set to "
            "0 and heterogeneity (Q, I^2, H^2) is undefined")


def _make_result(effects: EffectSizes, used: np.ndarray, fit: _UniFit, method: str,
                 test: str, level: float, control: FitControl,
                 filters: Mapping[str, Any] | None, warn: list[str]) -> MetaResult:
    y, v = effects.yi[used], effects.vi[used]
    k = fit.k
    est, se = float(fit.beta[0]), float(fit.se[0])
    if k >= 2:
        pi_half = fit.crit * math.sqrt(se**2 + fit.tau2)
        pi_low, pi_high = est - pi_half, est + pi_half
    else:
        pi_low = pi_high = math.nan
    if not fit.fixed and k >= 2:
        lb, ub = tau2_qprofile_ci(y, v, None, tau2=fit.tau2, level=level, control=control)
        i2l, i2u = (100 * t / (fit.vt + t) for t in (lb, ub))
        h2l, h2u = (t / fit.vt + 1 for t in (lb, ub))
    else:
        lb = ub = i2l = i2u = h2l = h2u = math.nan
    q, qdf, qp, i2, h2 = fit.qe, fit.qe_df, fit.qe_pval, fit.i2, fit.h2
    if fit.note:
        warn = [*warn, fit.note]
    test_used = test
    if k == 1:
        q = qp = i2 = h2 = math.nan
        test_used = "z"
    return MetaResult(
        measure=effects.measure, method=method, test=test_used, level=level, k=k,
        estimate=est, se=se, statistic=float(fit.stat[0]), pval=float(fit.pval[0]),
        ci_low=float(fit.ci_low[0]), ci_high=float(fit.ci_high[0]),
        pi_low=pi_low, pi_high=pi_high, df=fit.df,
        tau2=fit.tau2, tau2_se=fit.se_tau2, tau2_ci_low=lb, tau2_ci_high=ub,
        i2=i2, i2_ci_low=i2l, i2_ci_high=i2u, h2=h2, h2_ci_low=h2l, h2_ci_high=h2u,
        q=q, q_df=qdf, q_pval=qp,
        studies=_studies_frame(effects, used, 100 * fit.w / fit.w.sum()),
        zero_cell=effects.zero_cell, filters=dict(filters or {}),
        extra={"s2w": fit.s2w} if test == "knha" else {},
        warnings=tuple(warn),
        _spec=_ModelSpec("uni", effects, method, test, level, control),
    )


def _usable_or_raise(effects: EffectSizes) -> np.ndarray:
    used = effects.usable
    if effects.k == 0:
        n = len(effects.study_id)
        if n == 0:
            raise _no_studies("k = 0")
        raise InputError(
            f"the {effects.measure} cannot be estimated for any of the {n} studies "
            "(zero or double-zero cells)", field="measure",
            hint="use a continuity correction (add > 0, to='only0'), keep double-zero "
                 "studies (drop00=False) or use measure RD")
    return used


# --------------------------------------------------------------------------------------
# public model functions
# --------------------------------------------------------------------------------------


def rma(
    effects: EffectSizes | Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray | None = None,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    study_id: Sequence[Any] | None = None,
    measure: str | None = None,
    control: FitControl | None = None,
    filters: Mapping[str, Any] | None = None,
) -> MetaResult:
    """Inverse-variance fixed- or random-effects meta-analysis (metafor ``rma.uni``).

    Arguments:
        effects: :class:`EffectSizes` from :func:`escalc`, or the effect sizes ``yi``.
        vi: sampling variances (only with plain ``yi``).
        method: a registered tau^2 estimator: ``FE``/``EE``, ``DL``, ``REML`` (default,
            as metafor), ``ML``, ``PM``, ``HE``, ``SJ``.
        test: ``"z"`` (default) or ``"knha"`` (Hartung-Knapp: t_{k-1} CI, scaled SE).
        level: confidence level of CI, PI and the tau^2 CI (0.95).
        study_id, measure: labels when plain arrays are given.
        control: numerical settings (:class:`FitControl`).
        filters: recorded in the result (provenance).

    Studies with non-finite ``yi``/``vi`` are left out (``k`` counts the used ones).
    With k = 1 the result is the single study (tau^2 = 0, Q/I^2/H^2 NaN) and a warning.
    """
    eff = _coerce_effects(effects, vi, study_id, measure)
    meth = normalize_method(method)
    if meth in POOLING_METHODS:
        raise InputError(f"method {meth} needs the 2x2 counts: use rma_mh/rma_peto or "
                         "meta_analysis()", field="method")
    tst = _check_test(test)
    lvl = check_level(level)
    control = control or FitControl()
    used = _usable_or_raise(eff)
    y, v = eff.yi[used], eff.vi[used]
    warn = _dropped_warnings(eff)
    if used.sum() == 1:
        warn.append(_degenerate_warning(1))
        warnings.warn(warn[-1], stacklevel=2)
    fit = _fit_uni(y, v, np.ones((y.size, 1)), meth, tst, lvl, control)
    return _make_result(eff, used, fit, meth, tst, lvl, control, filters, warn)


def _dropped_warnings(eff: EffectSizes) -> list[str]:
    out = []
    bad = ~eff.usable
    if bad.any():
        ids = ", ".join(s for s, b in zip(eff.study_id, bad, strict=True) if b)
        why = ("double-zero studies dropped (drop00)" if eff.zero_cell.drop00
               and np.all(eff.double_zero[bad]) else "effect size not estimable")
        out.append(f"{int(bad.sum())} stud{'y' if bad.sum() == 1 else 'ies'} left out "
                   f"({why}): {ids}")
    return out


def rma_mh(
    effects: EffectSizes,
    *,
    correct: bool = True,
    level: float = 0.95,
    filters: Mapping[str, Any] | None = None,
) -> MetaResult:
    """Mantel-Haenszel fixed-effect model (metafor ``rma.mh``), measures OR, RR, RD.

    The pooled estimate uses the raw counts of all studies (no continuity correction, as
    metafor's default ``add=c(1/2, 0)``, ``to=c("only0", "none")``); ``effects`` (yi/vi,
    computed with the recorded zero-cell handling; metafor's default drops double-zero
    studies there) only feed Q, I^2 and H^2. Variances: Robins-Breslow-Greenland (OR),
    Greenland-Robins (RR, RD). ``extra`` holds the Cochran-Mantel-Haenszel test and,
    for OR, Tarone's test of homogeneity.
    """
    if effects.measure not in ("OR", "RR", "RD"):
        raise InputError(f"Mantel-Haenszel needs measure OR, RR or RD, not {effects.measure}",
                         field="measure")
    lvl = check_level(level)
    if np.any(np.isnan(effects.ai)):
        raise InputError("Mantel-Haenszel needs the 2x2 counts", field="ai")
    ai, n1, ci, n2 = effects.ai, effects.n1, effects.ci, effects.n2
    if ai.size == 0:
        raise _no_studies("k = 0")
    bi, di = n1 - ai, n2 - ci
    N = n1 + n2
    z = float(stats.norm.ppf(1 - (1 - lvl) / 2))
    extra: dict[str, Any] = {}
    meas = effects.measure
    if meas == "OR":
        R = float(np.sum(ai * di / N))
        S = float(np.sum(bi * ci / N))
        if R == 0 or S == 0:
            raise _unsupported_mh(meas)
        beta = math.log(R / S)
        Pi, Qi = (ai + di) / N, (bi + ci) / N
        Ri, Si = ai * di / N, bi * ci / N
        se = math.sqrt(0.5 * (np.sum(Pi * Ri) / R**2 + np.sum(Pi * Si + Qi * Ri) / (R * S)
                              + np.sum(Qi * Si) / S**2))
        wts = bi * ci / N
        xt, yt = ai + ci, bi + di
        if xt.sum() > 0 and yt.sum() > 0:
            num = (abs(float(np.sum(ai - n1 / N * xt))) - (0.5 if correct else 0.0)) ** 2
            cmh = num / float(np.sum((n1 / N) * (n2 / N) * (xt * (yt / (N - 1)))))
            extra["cmh"] = cmh
            extra["cmh_pval"] = float(stats.chi2.sf(cmh, 1))
        extra.update(_tarone(ai, n1, n2, N, xt, yt, R / S))
    elif meas == "RR":
        R = float(np.sum(ai * n2 / N))
        S = float(np.sum(ci * n1 / N))
        if ai.sum() == 0 or ci.sum() == 0:
            raise _unsupported_mh(meas)
        beta = math.log(R / S)
        se = math.sqrt(float(np.sum((n1 / N) * (n2 / N) * (ai + ci) - (ai / N) * ci)) / (R * S))
        wts = ci * n1 / N
    else:
        wsum = float(np.sum(n1 * n2 / N))
        beta = float(np.sum(ai * (n2 / N) - ci * (n1 / N))) / wsum
        se = math.sqrt((beta * float(np.sum(ci * (n1 / N) ** 2 - ai * (n2 / N) ** 2
                                             + (n1 / N) * (n2 / N) * (n2 - n1) / 2))
                        + float(np.sum(ai * (n2 - ci) / N + ci * (n1 - ai) / N)) / 2)
                       / wsum**2)
        wts = n1 * n2 / N
    return _pooled_fixed_result(effects, "MH", beta, se, z, lvl, wts, extra, filters)


def _unsupported_mh(measure: str) -> InputError:
    return InputError(f"the Mantel-Haenszel {measure} is not estimable: no events in one "
                      "of the arms across all studies", field="measure",
                      hint="use measure RD or an inverse-variance method with a continuity "
                           "correction")


def _tarone(ai: np.ndarray, n1: np.ndarray, n2: np.ndarray, N: np.ndarray, xt: np.ndarray,
            yt: np.ndarray, psi: float) -> dict[str, float]:
    """Breslow-Day test with Tarone's correction (metafor's ``TA``)."""
    if psi == 1:
        n11 = n1 / N * xt
    else:
        A = psi * (n1 + xt) + (n2 - xt)
        B = np.sqrt(A**2 - 4 * n1 * xt * psi * (psi - 1))
        n11 = (A - B) / (2 * (psi - 1))
    pos = (n11 > 0) & (xt > 0) & (yt > 0)
    kp = int(pos.sum())
    if kp < 2:
        return {}
    e11 = n11[pos]
    e12, e21 = n1[pos] - e11, xt[pos] - e11
    e22 = e11 - n1[pos] - xt[pos] + N[pos]
    varinv = 1 / e11 + 1 / e12 + 1 / e21 + 1 / e22
    dev = ai[pos] - e11
    bd = max(0.0, float(np.sum(dev**2 * varinv)))
    ta = max(0.0, bd - float(np.sum(dev)) ** 2 / float(np.sum(1 / varinv)))
    return {"breslow_day": bd, "breslow_day_pval": float(stats.chi2.sf(bd, kp - 1)),
            "tarone": ta, "tarone_pval": float(stats.chi2.sf(ta, kp - 1))}


def rma_peto(
    effects: EffectSizes,
    *,
    level: float = 0.95,
    filters: Mapping[str, Any] | None = None,
) -> MetaResult:
    """Peto's one-step fixed-effect log odds ratio (metafor ``rma.peto``).

    The pooled estimate uses the raw counts (``sum(O - E) / sum(V)``); ``effects`` (Peto
    yi/vi with the recorded zero-cell handling) only label the study rows.
    """
    lvl = check_level(level)
    if np.any(np.isnan(effects.ai)):
        raise InputError("Peto's method needs the 2x2 counts", field="ai")
    ai, n1, ci, n2 = effects.ai, effects.n1, effects.ci, effects.n2
    if ai.size == 0:
        raise _no_studies("k = 0")
    N = n1 + n2
    xt, yt = ai + ci, (n1 - ai) + (n2 - ci)
    Ei = xt * n1 / N
    with np.errstate(divide="ignore", invalid="ignore"):
        Vi = xt * yt * (n1 / N) * (n2 / N) / (N - 1)
    Vi = np.where(np.isfinite(Vi), Vi, 0.0)
    if float(Vi.sum()) == 0:
        raise InputError("Peto's odds ratio is not estimable: no study has both events and "
                         "non-events", field="measure", hint="use measure RD")
    beta = float(np.sum(ai - Ei)) / float(Vi.sum())
    se = math.sqrt(1.0 / float(Vi.sum()))
    z = float(stats.norm.ppf(1 - (1 - lvl) / 2))
    if effects.measure == "PETO":
        peto_eff = effects
    else:  # per-study Peto yi/vi with the same zero-cell handling
        zc = effects.zero_cell
        peto_eff = escalc("PETO", ai, n1, ci, n2, study_id=effects.study_id, add=zc.add,
                          to=zc.to, drop00=zc.drop00, correction=zc.correction)
    pos = Vi > 0
    qe = max(0.0, float(np.sum((ai - Ei)[pos] ** 2 / Vi[pos]))
             - float(np.sum(ai - Ei)) ** 2 / float(Vi[pos].sum()))
    return _pooled_fixed_result(peto_eff, "PETO", beta, se, z, lvl, Vi, {}, filters,
                                qe_override=(qe, int(pos.sum())))


def _pooled_fixed_result(effects: EffectSizes, method: str, beta: float, se: float,
                         crit: float, level: float, wts: np.ndarray, extra: dict[str, Any],
                         filters: Mapping[str, Any] | None,
                         qe_override: tuple[float, int] | None = None) -> MetaResult:
    used_yi = effects.usable
    k_yi = int(used_yi.sum())
    y, v = effects.yi[used_yi], effects.vi[used_yi]
    if qe_override is not None:
        qe, kpos = qe_override
        qok = kpos > 1
    else:
        qe = max(0.0, float(np.sum((y - beta) ** 2 / v))) if k_yi > 1 else 0.0
        qok = k_yi > 1
    if qok:
        qp = float(stats.chi2.sf(qe, k_yi - 1))
        i2 = max(0.0, 100 * (qe - (k_yi - 1)) / qe) if qe > 0 else 0.0
        h2 = qe / (k_yi - 1)
    else:
        qe = qp = i2 = h2 = math.nan
    k = int(effects.ai.size)
    warn = _dropped_warnings(effects)
    if k == 1:
        warn.append(_degenerate_warning(1))
        warnings.warn(warn[-1], stacklevel=3)
    stat = beta / se
    all_used = np.ones(k, dtype=bool)
    studies = _studies_frame(effects, all_used, 100 * wts / wts.sum())
    return MetaResult(
        measure=effects.measure, method=method, test="z", level=level, k=k,
        estimate=beta, se=se, statistic=stat, pval=float(2 * stats.norm.sf(abs(stat))),
        ci_low=beta - crit * se, ci_high=beta + crit * se,
        pi_low=beta - crit * se if k > 1 else math.nan,
        pi_high=beta + crit * se if k > 1 else math.nan, df=math.nan,
        tau2=0.0, tau2_se=math.nan, tau2_ci_low=math.nan, tau2_ci_high=math.nan,
        i2=i2, i2_ci_low=math.nan, i2_ci_high=math.nan, h2=h2, h2_ci_low=math.nan,
        h2_ci_high=math.nan, q=qe, q_df=max(k_yi - 1, 0), q_pval=qp, studies=studies,
        zero_cell=effects.zero_cell, filters=dict(filters or {}), extra=extra,
        warnings=tuple(warn),
        _spec=_ModelSpec(method.lower(), effects, method, "z", level, FitControl()),
    )


def _moderator_matrix(mods: Any, k: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(mods, pd.DataFrame):
        return mods.to_numpy(dtype=float), tuple(str(c) for c in mods.columns)
    if isinstance(mods, pd.Series):
        return mods.to_numpy(dtype=float)[:, None], (str(mods.name or "x"),)
    if isinstance(mods, Mapping):
        names = tuple(str(n) for n in mods)
        cols = [np.asarray(mods[n], float).reshape(-1) for n in mods]
        return np.column_stack(cols), names
    arr = np.asarray(mods, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    return arr, tuple(f"x{i + 1}" for i in range(arr.shape[1]))


def meta_regression(
    effects: EffectSizes,
    mods: Any,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    control: FitControl | None = None,
    filters: Mapping[str, Any] | None = None,
) -> MetaRegressionResult:
    """Mixed-effects meta-regression, ``yi = b0 + b1 x1 + ... + u_i + e_i``.

    Arguments:
        effects: :class:`EffectSizes`.
        mods: the moderators, one row per study: a 1-D array, a k x m array, a Series,
            a DataFrame or a mapping name -> values. Studies with a missing moderator
            value are left out (with a warning).
        method, test, level, control: as in :func:`rma`.
    """
    meth = normalize_method(method)
    if meth in POOLING_METHODS:
        raise InputError("meta-regression needs an inverse-variance method", field="method")
    tst = _check_test(test)
    lvl = check_level(level)
    control = control or FitControl()
    M, names = _moderator_matrix(mods, len(effects.study_id))
    if M.shape[0] != len(effects.study_id):
        raise InputError(f"moderators have {M.shape[0]} rows for {len(effects.study_id)} "
                         "studies", field="mods")
    used = _usable_or_raise(effects)
    warn = _dropped_warnings(effects)
    miss = used & ~np.all(np.isfinite(M), axis=1)
    if miss.any():
        ids = ", ".join(s for s, m in zip(effects.study_id, miss, strict=True) if m)
        warn.append(f"{int(miss.sum())} stud{'y' if miss.sum() == 1 else 'ies'} without a "
                    f"value of {', '.join(names)} left out: {ids}")
    used = used & ~miss
    if not used.any():
        raise _no_studies("no study has the moderator")
    y, v = effects.yi[used], effects.vi[used]
    X = np.column_stack([np.ones(int(used.sum())), M[used]])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError("the moderator does not vary across the studies (model matrix not of "
                         "full rank)", field="mods")
    fit = _fit_uni(y, v, X, meth, tst, lvl, control)
    if fit.note:
        warn.append(fit.note)
    if fit.fixed:
        r2 = _adj_r2_weighted(y, X, fit.beta, fit.w)
    else:
        base = _fit_uni(y, v, np.ones((y.size, 1)), meth, tst, lvl, control)
        r2 = 0.0 if base.tau2 == 0 else max(0.0, 100 * (base.tau2 - fit.tau2) / base.tau2)
    terms = ("intercept", *names)
    coefs = pd.DataFrame({"estimate": fit.beta, "se": fit.se, "statistic": fit.stat,
                          "pval": fit.pval, "ci_low": fit.ci_low, "ci_high": fit.ci_high},
                         index=pd.Index(terms, name="term"))
    return MetaRegressionResult(
        measure=effects.measure, method=meth, test=tst, level=lvl, k=fit.k,
        coefficients=coefs, tau2=fit.tau2, tau2_se=fit.se_tau2, i2=fit.i2, h2=fit.h2, r2=r2,
        qe=fit.qe, qe_df=fit.qe_df, qe_pval=fit.qe_pval, qm=fit.qm, qm_df=fit.qm_df,
        qm_pval=fit.qm_pval, df=fit.df,
        studies=_studies_frame(effects, used, 100 * fit.w / fit.w.sum()),
        zero_cell=effects.zero_cell, filters=dict(filters or {}), warnings=tuple(warn),
        vcov=fit.vb,
        _spec=_ModelSpec("uni", effects, meth, tst, lvl, control, mods=M, mod_names=names),
    )


def _adj_r2_weighted(y: np.ndarray, X: np.ndarray, beta: np.ndarray, w: np.ndarray) -> float:
    """metafor's R^2 for fixed-effect meta-regression: adjusted R^2 (%) of the weighted
    least-squares fit, truncated at 0."""
    k, p = X.shape
    if np.var(y) == 0 or k <= p:
        return 0.0
    fitted = X @ beta
    rss = float(np.sum(w * (y - fitted) ** 2))
    mss = float(np.sum(w * (fitted - np.sum(w * fitted) / np.sum(w)) ** 2))
    r2 = mss / (mss + rss)
    return max(0.0, 100.0 * (1.0 - (1.0 - r2) * (k - 1) / (k - p)))


def subgroup_analysis(
    effects: EffectSizes,
    groups: Sequence[Any],
    *,
    variable: str = "subgroup",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    control: FitControl | None = None,
    filters: Mapping[str, Any] | None = None,
) -> SubgroupResult:
    """Pool each subgroup separately and test for subgroup differences.

    Arguments:
        effects: :class:`EffectSizes` (the counts are needed for ``MH``/``PETO``).
        groups: the subgroup label of each study (missing labels become ``"unknown"``).
        variable: the name of the grouping variable (for reports and plots).
        method: any method of :func:`meta_analysis` (``MH``/``PETO`` included).
    """
    meth = normalize_method(method)
    lvl = check_level(level)
    tst = _check_test(test)
    labels = np.array(["unknown" if (g is None or (isinstance(g, float) and math.isnan(g)))
                       else str(g) for g in groups], dtype=object)
    if labels.size != len(effects.study_id):
        raise InputError(f"{labels.size} subgroup labels for {len(effects.study_id)} studies",
                         field="groups")
    order = list(dict.fromkeys(labels.tolist()))
    warn: list[str] = []
    results: dict[str, MetaResult] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for g in order:
            sub = effects.subset(labels == g)
            try:
                results[g] = _pool(sub, meth, tst, lvl, control, filters)
            except InputError as err:
                warn.append(f"subgroup {g!r} not estimable: {err.message}")
        overall = _pool(effects, meth, tst, lvl, control, filters)
    for g, r in results.items():
        if r.k == 1:
            warn.append(f"subgroup {g!r} has a single study")
    est = np.array([results[g].estimate for g in results])
    se = np.array([results[g].se for g in results])
    G = len(results)
    if G >= 2:
        w = 1 / se**2
        pooled = float(np.sum(w * est) / np.sum(w))
        qb = float(np.sum(w * (est - pooled) ** 2))
        qbp = float(stats.chi2.sf(qb, G - 1))
    else:
        qb, qbp = math.nan, math.nan
        warn.append("fewer than two estimable subgroups: no test for subgroup differences")
    # mixed-effects moderator test with a common tau^2 (inverse-variance methods only)
    qm, qm_df, qmp, tau2c = math.nan, (math.nan, math.nan), math.nan, math.nan
    if meth not in POOLING_METHODS and G >= 2:
        used = effects.usable
        levels = [g for g in order if np.any(labels[used] == g)]
        if len(levels) >= 2:
            dummies = np.column_stack([(labels == g).astype(float) for g in levels[1:]])
            try:
                mr = meta_regression(effects, dummies, method=meth, test=tst, level=lvl,
                                     control=control)
                qm, qm_df, qmp, tau2c = mr.qm, mr.qm_df, mr.qm_pval, mr.tau2
            except InputError as err:
                warn.append(f"moderator test not available: {err.message}")
    return SubgroupResult(variable=variable, groups=tuple(results), results=results,
                          overall=overall, q_between=qb, q_between_df=max(G - 1, 0),
                          q_between_pval=qbp, qm=qm, qm_df=qm_df, qm_pval=qmp,
                          tau2_common=tau2c, warnings=tuple(warn))


def _pool(effects: EffectSizes, method: str, test: str, level: float,
          control: FitControl | None, filters: Mapping[str, Any] | None) -> MetaResult:
    if method == "MH":
        return rma_mh(effects, level=level, filters=filters)
    if method == "PETO":
        return rma_peto(effects, level=level, filters=filters)
    return rma(effects, method=method, test=test, level=level, control=control,
               filters=filters)


def default_drop00(method: str) -> bool:
    """metafor's default ``drop00``: True for ``rma.mh``/``rma.peto``, False otherwise."""
    return normalize_method(method) in POOLING_METHODS


def pooled_measure(measure: str | None, method: str) -> str:
    """The effect measure ``method`` pools when ``measure`` is asked for: ``None`` means
    ``RR`` (``PETO`` with ``method="PETO"``); Peto's method pools odds ratios as ``PETO``.

    Raises:
        InputError: an unknown method or measure, or a measure the method cannot pool.
    """
    meth = normalize_method(method)
    meas = normalize_measure(measure if measure is not None else
                             ("PETO" if meth == "PETO" else "RR"))
    if meth == "PETO" and meas not in ("PETO", "OR"):
        raise InputError(f"Peto's method estimates an odds ratio, not a {meas}",
                         field="measure", hint="use --measure PETO (or OR)")
    if meth == "MH" and meas == "PETO":
        raise InputError("Mantel-Haenszel needs measure OR, RR or RD", field="measure")
    return "PETO" if meth == "PETO" else meas


def meta_analysis(
    table: pd.DataFrame,
    *,
    measure: str | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool | None = None,
    correction: str = "constant",
    filters: Mapping[str, Any] | None = None,
    control: FitControl | None = None,
) -> MetaResult:
    """Meta-analysis of a comparison table (one row per study; ``study_id, ai, n1, ci, n2``).

    Computes the effect sizes with the given zero-cell handling and dispatches to
    :func:`rma` (inverse variance, any registered tau^2 method), :func:`rma_mh`
    (``method="MH"``) or :func:`rma_peto` (``method="PETO"``, implies measure PETO).
    ``measure=None`` means ``RR`` (``PETO`` with ``method="PETO"``); ``drop00=None``
    means metafor's default for the method.
    """
    meth = normalize_method(method)
    meas = pooled_measure(measure, meth)
    if table is None or len(table) == 0:
        raise _no_studies("k = 0 after filtering")
    d00 = default_drop00(meth) if drop00 is None else bool(drop00)
    from mscsim.evidence._effects import escalc_frame

    eff = escalc_frame(table, meas, add=add, to=to, drop00=d00, correction=correction)
    return _pool(eff, meth, test, level, control, filters)


def effects_from_table(table: pd.DataFrame, measure: str = "RR", **zero_cell: Any) -> EffectSizes:
    """:func:`escalc` on a comparison table (``study_id, ai, n1, ci, n2``)."""
    from mscsim.evidence._effects import escalc_frame

    return escalc_frame(table, measure, **zero_cell)

