"""Diagnostics of a fitted meta-analysis (metafor 3.8 semantics).

* :func:`cumulative` (``cumul``): the model refitted as studies accumulate, e.g. by
  publication date;
* :func:`leave_one_out` (``leave1out``);
* :func:`influence` (``influence.rma.uni``): externally standardised residuals, DFFITS,
  Cook's distances, covariance ratios, leave-one-out tau^2 and Q, hat values, weights,
  DFBETAS and metafor's "influential" flag;
* :func:`egger_test` (``regtest``): regression test for funnel-plot asymmetry, default
  ``model="rma"`` with the standard error as predictor; ``model="lm"`` is the classical
  Egger test (weighted least squares, t test);
* :func:`trim_and_fill` (``trimfill``): Duval & Tweedie's trim and fill, estimator
  ``L0`` by default, the side chosen as metafor does (sign of the slope of a
  meta-regression of yi on sqrt(vi): negative slope -> missing studies on the right).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mscsim._errors import InputError
from mscsim.evidence._effects import EffectSizes, ZeroCellHandling
from mscsim.evidence._meta import (
    FitControl,
    MetaRegressionResult,
    MetaResult,
    _f,
    _fit_uni,
    _ModelSpec,
    _pool,
    _studies_json,
    rma,
)

# --------------------------------------------------------------------------------------
# refitting helpers
# --------------------------------------------------------------------------------------


def _spec_of(result: MetaResult | MetaRegressionResult) -> _ModelSpec:
    spec = getattr(result, "_spec", None)
    if spec is None:
        raise InputError("this result cannot be refitted (it carries no model specification)",
                         field="result")
    return spec


def _used_effects(spec: _ModelSpec) -> tuple[EffectSizes, np.ndarray | None]:
    """The studies that entered the fit (and their moderator rows)."""
    eff = spec.effects
    if spec.kind != "uni":
        return eff, None
    used = eff.usable
    mods = spec.mods
    if mods is not None:
        used = used & np.all(np.isfinite(mods), axis=1)
        return eff.subset(used), mods[used]
    return eff.subset(used), None


def _refit(spec: _ModelSpec, effects: EffectSizes) -> MetaResult | None:
    """Refit on ``effects``; None where the model is not estimable (metafor: NA row)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _pool(effects, spec.method, spec.test, spec.level, spec.control, None)
        except InputError:
            return None


_ROW_KEYS = ("k", "estimate", "se", "statistic", "pval", "ci_low", "ci_high", "pi_low",
             "pi_high", "q", "q_pval", "tau2", "i2", "h2")


def _row(result: MetaResult | None, k: int = 0) -> dict[str, float]:
    if result is None:  # the refit is not estimable (e.g. MH with no events yet)
        return {key: (k if key == "k" else math.nan) for key in _ROW_KEYS}
    return {"k": result.k, "estimate": result.estimate, "se": result.se,
            "statistic": result.statistic, "pval": result.pval, "ci_low": result.ci_low,
            "ci_high": result.ci_high, "pi_low": result.pi_low, "pi_high": result.pi_high,
            "q": result.q, "q_pval": result.q_pval, "tau2": result.tau2, "i2": result.i2,
            "h2": result.h2}


@dataclass(frozen=True)
class DiagnosticTable:
    """A table of refits (cumulative or leave-one-out) with its provenance."""

    kind: str
    table: pd.DataFrame
    """Analysis-scale numbers (log scale for ratio measures)."""
    measure: str
    method: str
    test: str
    level: float
    zero_cell: ZeroCellHandling
    order_by: str | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_ratio(self) -> bool:
        return self.measure in ("RR", "OR", "PETO")

    def summary(self, natural: bool = True) -> pd.DataFrame:
        """The table, with estimate/CI/PI exponentiated for ratio measures if ``natural``."""
        df = self.table.copy()
        if natural and self.is_ratio:
            for c in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
                df[c] = np.exp(df[c])
        return df

    def to_dict(self) -> dict[str, Any]:
        nat = self.summary(natural=True)
        rows = []
        for (_, r), (_, raw) in zip(nat.iterrows(), self.table.iterrows(), strict=True):
            row = {c: (str(v) if c in ("study_id", "label", "order_value") else _f(v))
                   for c, v in r.items()}
            if "k" in row and row["k"] is not None:
                row["k"] = int(row["k"])
            if self.is_ratio:
                row["log_estimate"] = _f(raw["estimate"])
            rows.append(row)
        return {"kind": self.kind, "measure": self.measure, "method": self.method,
                "test": self.test, "level": self.level, "order_by": self.order_by,
                "zero_cell": self.zero_cell.to_dict(), "filters": dict(self.filters),
                "rows": rows}


def cumulative(result: MetaResult, order: Sequence[Any] | None = None, *,
               order_by: str | None = None, decreasing: bool = False) -> DiagnosticTable:
    """Cumulative meta-analysis: refit after adding studies one at a time.

    Arguments:
        result: a fitted :class:`MetaResult` (any method).
        order: one sortable value per study of the fit's input (e.g. publication dates);
            studies are added in increasing order (ties keep input order). Default: input
            order.
        order_by: the name of the ordering variable (recorded).
        decreasing: add studies in decreasing order instead.
    """
    spec = _spec_of(result)
    if not isinstance(result, MetaResult):
        raise InputError("cumulative meta-analysis needs an intercept-only model",
                         field="result")
    eff = spec.effects
    n = len(eff.study_id)
    keys: np.ndarray
    if order is None:
        keys = np.arange(n)
    else:
        keys_list = list(order)
        if len(keys_list) != n:
            raise InputError(f"order has {len(keys_list)} values for {n} studies",
                             field="order")
        missing_mask = pd.isna(pd.Series(keys_list)).to_numpy()
        if missing_mask.any():
            missing = [eff.study_id[i] for i in np.flatnonzero(missing_mask)]
            raise InputError("missing ordering value for " + ", ".join(missing),
                             field=order_by or "order")
        keys = np.asarray(keys_list, dtype=object)
    # stable sort (ties keep input order), as R's order()
    idx = np.array(sorted(range(n), key=lambda i: keys[i], reverse=decreasing), dtype=int)
    rows = []
    usable = eff.usable if spec.kind == "uni" else np.ones(n, dtype=bool)
    for j in range(n):
        i = idx[j]
        if not usable[i]:
            continue
        mask = np.zeros(n, dtype=bool)
        mask[idx[: j + 1]] = True
        sub = eff.subset(mask & usable)
        r = _refit(spec, sub)
        row = {"study_id": eff.study_id[i],
               "order_value": str(keys[i]) if order is not None else str(j + 1)}
        row.update(_row(r, len(sub.study_id)))
        rows.append(row)
    return DiagnosticTable("cumulative", pd.DataFrame(rows), result.measure, result.method,
                           result.test, result.level, result.zero_cell, order_by,
                           result.filters)


def leave_one_out(result: MetaResult) -> DiagnosticTable:
    """Refit the model leaving out each study in turn (``study_id`` = the omitted one)."""
    spec = _spec_of(result)
    if not isinstance(result, MetaResult):
        raise InputError("leave-one-out needs an intercept-only model", field="result")
    eff, _ = _used_effects(spec)
    n = len(eff.study_id)
    if n < 2:
        raise InputError("leave-one-out needs at least 2 studies", field="k")
    rows = []
    for i in range(n):
        mask = np.ones(n, dtype=bool)
        mask[i] = False
        r = _refit(spec, eff.subset(mask))
        row: dict[str, Any] = {"study_id": eff.study_id[i]}
        row.update(_row(r, n - 1))
        rows.append(row)
    return DiagnosticTable("leave_one_out", pd.DataFrame(rows), result.measure,
                           result.method, result.test, result.level, result.zero_cell,
                           None, result.filters)


# --------------------------------------------------------------------------------------
# influence
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InfluenceResult:
    """Case-deletion diagnostics (metafor ``influence.rma.uni``)."""

    table: pd.DataFrame
    """study_id, rstudent, dffits, cook_d, cov_r, tau2_del, qe_del, hat, weight, influential."""
    dfbetas: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for rec in self.table.to_dict(orient="records"):
            rows.append({k: (str(v) if k == "study_id" else bool(v) if k == "influential"
                             else _f(v)) for k, v in rec.items()})
        return {"rows": rows, "dfbetas": _studies_json(self.dfbetas)}


def influence(result: MetaResult | MetaRegressionResult) -> InfluenceResult:
    """Influence diagnostics of an inverse-variance model (metafor ``influence``)."""
    spec = _spec_of(result)
    if spec.kind != "uni":
        raise InputError("influence diagnostics need an inverse-variance model "
                         f"(not {spec.method})", field="method")
    eff, mods = _used_effects(spec)
    y, v = eff.yi, eff.vi
    k = y.size
    X = np.ones((k, 1)) if mods is None else np.column_stack([np.ones(k), mods])
    p = X.shape[1]
    if k - 1 < p + (0 if _is_fixed(spec.method) else 1) or k < 2:
        raise InputError(f"influence diagnostics need more studies (k={k})", field="k")
    full = _fit_uni(y, v, X, spec.method, spec.test, spec.level, spec.control)
    w = 1.0 / (v + full.tau2)
    wx = X * w[:, None]
    H = X @ np.linalg.inv(X.T @ wx) @ wx.T
    hat = np.minimum(np.diag(H), 1.0)
    weight = 100 * w / w.sum()
    pred_full = X @ full.beta
    svb = np.linalg.inv(full.vb)
    det_full = np.linalg.det(full.vb)
    out = {key: np.full(k, np.nan) for key in
           ("tau2_del", "qe_del", "delpred", "vdelpred", "s2w_del", "dffits", "cook_d",
            "cov_r")}
    dfbs = np.full((k, p), np.nan)
    for i in range(k):
        keep = np.arange(k) != i
        try:
            d = _fit_uni(y[keep], v[keep], X[keep], spec.method, spec.test, spec.level,
                         spec.control)
        except (InputError, np.linalg.LinAlgError):
            continue
        xi = X[i]
        out["tau2_del"][i] = d.tau2
        out["qe_del"][i] = d.qe
        out["delpred"][i] = xi @ d.beta
        out["vdelpred"][i] = xi @ d.vb @ xi
        out["s2w_del"][i] = d.s2w
        out["dffits"][i] = (pred_full[i] - out["delpred"][i]) / math.sqrt(
            d.s2w * hat[i] * (d.tau2 + v[i]))
        wd = 1.0 / (v + d.tau2)
        vb_del = np.linalg.inv(X.T @ (X * wd[:, None]))
        dfb = full.beta - d.beta
        dfbs[i] = dfb / np.sqrt(d.s2w * np.diag(vb_del))
        out["cook_d"][i] = float(dfb @ svb @ dfb)
        out["cov_r"][i] = float(np.linalg.det(d.vb) / det_full)
    resid = y - out["delpred"]
    resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0.0
    se_resid = np.sqrt(v * out["s2w_del"] + out["vdelpred"] + out["tau2_del"] * out["s2w_del"])
    rstudent = resid / se_resid
    with np.errstate(invalid="ignore"):
        infl = ((np.abs(out["dffits"]) > 3 * math.sqrt(p / (k - p)))
                | (stats.chi2.cdf(out["cook_d"], p) > 0.5) | (hat > 3 * p / k)
                | np.any(np.abs(dfbs) > 1, axis=1))
    table = pd.DataFrame({
        "study_id": list(eff.study_id), "rstudent": rstudent, "dffits": out["dffits"],
        "cook_d": out["cook_d"], "cov_r": out["cov_r"], "tau2_del": out["tau2_del"],
        "qe_del": out["qe_del"], "hat": hat, "weight": weight, "influential": infl,
    })
    names = ["intercept", *spec.mod_names]
    dfbetas = pd.DataFrame(dfbs, columns=names)
    dfbetas.insert(0, "study_id", list(eff.study_id))
    return InfluenceResult(table, dfbetas)


def _funnel_spec(result: MetaResult | MetaRegressionResult, what: str) -> _ModelSpec:
    """The spec of an intercept-only inverse-variance model, which the funnel-asymmetry
    analyses need (Egger, rank test, trim and fill)."""
    spec = _spec_of(result)
    if spec.kind != "uni" or not isinstance(result, MetaResult):
        raise InputError(f"{what} needs an intercept-only inverse-variance model",
                         field="method")
    return spec


def _funnel_effects(spec: _ModelSpec, what: str) -> EffectSizes:
    """The effects the model used, at least 3 studies."""
    eff, _ = _used_effects(spec)
    if eff.yi.size < 3:
        raise InputError(f"{what} needs at least 3 studies (k={eff.yi.size})", field="k")
    return eff


def _is_fixed(method: str) -> bool:
    from mscsim.evidence._meta import TAU2_ESTIMATORS

    reg = TAU2_ESTIMATORS.get(method)
    return bool(reg and reg.fixed)


# --------------------------------------------------------------------------------------
# Egger's regression test
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EggerResult:
    """Regression test for funnel-plot asymmetry (metafor ``regtest``)."""

    model: str
    predictor: str
    statistic: float
    pval: float
    df: float
    slope: float
    """Coefficient of the standard error (the asymmetry)."""
    limit_estimate: float
    """Intercept: the estimate as the standard error goes to 0."""
    limit_ci_low: float
    limit_ci_high: float
    method: str
    test: str
    k: int

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "predictor": self.predictor,
                "statistic": _f(self.statistic), "pval": _f(self.pval), "df": _f(self.df),
                "slope": _f(self.slope), "limit_estimate": _f(self.limit_estimate),
                "limit_ci": [_f(self.limit_ci_low), _f(self.limit_ci_high)],
                "method": self.method, "test": self.test, "k": self.k}


def egger_test(result: MetaResult, *, model: str = "rma") -> EggerResult:
    """Egger-type regression test with the standard error as predictor.

    ``model="rma"`` (metafor's default): the fitted model (same tau^2 method and test)
    with ``sqrt(vi)`` as moderator; z (or t with knha) test of its coefficient.
    ``model="lm"``: classical Egger test, weighted least squares with weights ``1/vi``
    and a t test on k - 2 degrees of freedom.
    """
    spec = _funnel_spec(result, "Egger's test")
    if model not in ("rma", "lm"):
        raise InputError(f"unknown Egger model {model!r}", field="model",
                         hint="use 'rma' or 'lm'")
    eff = _funnel_effects(spec, "Egger's test")
    y, v = eff.yi, eff.vi
    k = y.size
    X = np.column_stack([np.ones(k), np.sqrt(v)])
    if model == "rma":
        fit = _fit_uni(y, v, X, spec.method, spec.test, spec.level, spec.control)
        return EggerResult("rma", "sei", float(fit.stat[1]), float(fit.pval[1]), fit.df,
                           float(fit.beta[1]), float(fit.beta[0]), float(fit.ci_low[0]),
                           float(fit.ci_high[0]), spec.method, spec.test, k)
    w = 1.0 / v
    wx = X * w[:, None]
    A_inv = np.linalg.inv(X.T @ wx)
    beta = A_inv @ (wx.T @ y)
    df = k - 2
    sigma2 = float(np.sum(w * (y - X @ beta) ** 2)) / df
    se = np.sqrt(sigma2 * np.diag(A_inv))
    t = beta / se
    crit = float(stats.t.ppf(1 - (1 - spec.level) / 2, df))
    return EggerResult("lm", "sei", float(t[1]), float(2 * stats.t.sf(abs(t[1]), df)),
                       float(df), float(beta[1]), float(beta[0]),
                       float(beta[0] - crit * se[0]), float(beta[0] + crit * se[0]),
                       "lm", "t", k)


# --------------------------------------------------------------------------------------
# Begg and Mazumdar's rank correlation test
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankTestResult:
    """Rank correlation test for funnel-plot asymmetry (metafor ``ranktest``)."""

    tau: float
    """Kendall's tau (tau-b) between the standardised effects and their variances."""
    pval: float
    exact: bool
    """Whether the p-value is the exact null distribution (no ties) or the normal
    approximation with the tie-corrected variance (as R's ``cor.test``)."""
    k: int

    def to_dict(self) -> dict[str, Any]:
        return {"tau": _f(self.tau), "pval": _f(self.pval), "exact": self.exact, "k": self.k}


def rank_test(result: MetaResult) -> RankTestResult:
    """Begg and Mazumdar's rank correlation test (Biometrics 1994;50:1088-1101).

    The effects are standardised against the fixed-effect estimate, ``(y_i - theta) /
    sqrt(v_i - 1/sum w)``, and Kendall's tau between them and the variances ``v_i`` is tested:
    exactly when neither has ties, otherwise by the normal approximation (R ``cor.test(...,
    method = "kendall", exact = TRUE)``, which metafor's ``ranktest`` calls).
    """
    eff = _funnel_effects(_funnel_spec(result, "the rank test"), "the rank test")
    y, v = eff.yi, eff.vi
    k = y.size
    w = 1.0 / v
    theta = float(np.sum(w * y) / np.sum(w))
    y_star = (y - theta) / np.sqrt(v - 1.0 / np.sum(w))
    ties = len(np.unique(y_star)) < k or len(np.unique(v)) < k
    res = stats.kendalltau(y_star, v, method="asymptotic" if ties else "exact")
    return RankTestResult(float(res.statistic), float(res.pvalue), not ties, k)


# --------------------------------------------------------------------------------------
# trim and fill
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrimFillResult:
    """Trim-and-fill analysis: the estimated number of missing studies and the model
    refitted with the imputed ("filled") studies."""

    k0: int
    se_k0: float
    side: str
    estimator: str
    adjusted: MetaResult
    """The model with the filled studies; its ``studies`` table has a ``filled`` column."""
    original: MetaResult

    def to_dict(self) -> dict[str, Any]:
        return {"k0": self.k0, "se_k0": _f(self.se_k0), "side": self.side,
                "estimator": self.estimator, "adjusted": self.adjusted.to_dict(),
                "original": {key: val for key, val in self.original.to_dict().items()
                             if key != "studies"}}


def _fit_beta(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str,
              control: FitControl) -> np.ndarray:
    return _fit_uni(y, v, X, method, "z", 0.95, control).beta


def trim_and_fill(result: MetaResult, *, side: str | None = None, estimator: str = "L0",
                  maxiter: int = 100) -> TrimFillResult:
    """Duval & Tweedie trim and fill (metafor ``trimfill``).

    Arguments:
        result: an intercept-only inverse-variance :class:`MetaResult`.
        side: ``"left"`` or ``"right"`` (where studies are missing); default: chosen from
            the sign of the slope of ``yi ~ sqrt(vi)`` fitted with the same method.
        estimator: ``"L0"`` (default), ``"R0"`` or ``"Q0"``.
    """
    spec = _funnel_spec(result, "trim and fill")
    est = estimator.upper()
    if est not in ("L0", "R0", "Q0"):
        raise InputError(f"unknown trim-and-fill estimator {estimator!r}", field="estimator",
                         hint="use L0, R0 or Q0")
    eff = _funnel_effects(spec, "trim and fill")
    y0, v0 = eff.yi, eff.vi
    k = y0.size
    if side is None:
        b = _fit_beta(y0, v0, np.column_stack([np.ones(k), np.sqrt(v0)]), spec.method,
                      spec.control)
        side = "right" if b[1] < 0 else "left"
    elif side not in ("left", "right"):
        raise InputError(f"side must be 'left' or 'right', not {side!r}", field="side")
    yf = -y0 if side == "right" else y0.copy()
    ix = np.argsort(yf, kind="stable")
    ys, vs = yf[ix], v0[ix]
    k0, k0_prev, it = 0, -1, 0
    se_k0 = math.nan
    beta = math.nan
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise InputError("trim and fill did not converge", field="maxiter")
        n_keep = k - k0
        beta = float(_fit_beta(ys[:n_keep], vs[:n_keep], np.ones((n_keep, 1)), spec.method,
                               spec.control)[0])
        yc = ys - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)
        signed = np.sign(yc) * ranks
        if est == "R0":
            neg = signed[signed < 0]
            if neg.size == 0:
                raise InputError("trim and fill (R0): no study below the estimate",
                                 field="estimator", hint="use L0")
            k0f = (k - float(np.max(-neg))) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0f) + 2)
        else:
            sr = float(np.sum(signed[signed > 0]))
            if est == "L0":
                k0f = (4 * sr - k * (k + 1)) / (2 * k - 1)
            else:
                k0f = k - 0.5 - math.sqrt(2 * k**2 - 4 * sr + 0.25)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f
                      - 18 * k * k0f**2 - 18 * k * k0f + 6 * k**2 * k0f) / 24
            if est == "L0":
                se_k0 = 4 * math.sqrt(var_sr) / (2 * k - 1)
            else:
                se_k0 = 2 * math.sqrt(var_sr) / math.sqrt((k - 0.5) ** 2
                                                           - k0f * (2 * k - k0f - 1))
        k0 = max(0, int(np.round(k0f)))
        se_k0 = max(0.0, se_k0)
    if k0 == 0:
        studies = result.studies.copy()
        studies["filled"] = False
        adjusted = _with_studies(result, studies)
        return TrimFillResult(0, se_k0, side, est, adjusted, result)
    # mirror the k0 most extreme studies around the trimmed estimate
    fill_flipped = 2 * beta - ys[k - k0:]
    fill_y = -fill_flipped if side == "right" else fill_flipped
    fill_v = vs[k - k0:]
    all_y = np.concatenate([y0, fill_y])
    all_v = np.concatenate([v0, fill_v])
    ids = [*eff.study_id, *(f"Filled {j + 1}" for j in range(k0))]
    filled_eff = EffectSizes(
        measure=eff.measure, study_id=tuple(ids),
        ai=np.concatenate([eff.ai, np.full(k0, np.nan)]),
        n1=np.concatenate([eff.n1, np.full(k0, np.nan)]),
        ci=np.concatenate([eff.ci, np.full(k0, np.nan)]),
        n2=np.concatenate([eff.n2, np.full(k0, np.nan)]),
        yi=all_y, vi=all_v, corrected=np.concatenate([eff.corrected, np.zeros(k0, bool)]),
        double_zero=np.concatenate([eff.double_zero, np.zeros(k0, bool)]),
        zero_cell=eff.zero_cell)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adjusted = rma(filled_eff, method=spec.method, test=spec.test, level=spec.level,
                       control=spec.control, filters=result.filters)
    studies = adjusted.studies.copy()
    studies["filled"] = [False] * k + [True] * k0
    return TrimFillResult(k0, se_k0, side, est, _with_studies(adjusted, studies), result)


def _with_studies(result: MetaResult, studies: pd.DataFrame) -> MetaResult:
    from dataclasses import replace

    return replace(result, studies=studies)


# --------------------------------------------------------------------------------------
# funnel-plot table
# --------------------------------------------------------------------------------------


def funnel_table(result: MetaResult, *, trimfill: TrimFillResult | None = None,
                 level: float = 0.95) -> pd.DataFrame:
    """Points of a funnel plot: ``study_id, yi, sei, filled`` (analysis scale), plus the
    pooled ``estimate`` and the pseudo-confidence limits ``lower``/``upper`` at each
    study's standard error (``estimate -/+ z * sei``)."""
    src = trimfill.adjusted if trimfill is not None else result
    st = src.studies[src.studies["used"]].copy() if "used" in src.studies else src.studies
    sei = np.sqrt(st["vi"].to_numpy(dtype=float))
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    center = src.estimate
    return pd.DataFrame({
        "study_id": st["study_id"].astype(str).to_numpy(), "yi": st["yi"].to_numpy(float),
        "sei": sei,
        "filled": (st["filled"].to_numpy(bool) if "filled" in st else np.zeros(len(st), bool)),
        "estimate": center, "lower": center - z * sei, "upper": center + z * sei,
    })
