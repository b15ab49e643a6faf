"""Calibration of the MSC pharmacodynamic parameters on arm-level deaths: binomial likelihood
on a parameter grid, profile likelihood intervals, fit diagnostics.

Pure functions on tables: ``risks`` has one row per (study, grid point) with the model's
expected arm mortality ``p_treated`` and ``p_control`` (the mean of the patients' death
probabilities, :mod:`mscsim.bridge._risk`); ``observed`` has one row per study with the
published counts ``ai, n1, ci, n2``. Only the studies passed in ``observed`` enter the
likelihood, so a study left out (published after the cut-off) cannot move the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import gammaln

from mscsim._errors import InputError

#: calibrated parameters (grid axes) and what they act on
GRID_PARAMETERS = ("emax_scale", "msc_ec50")
#: MSC effect sizes multiplied together by ``emax_scale`` (1 = the parameter table's values)
EMAX_PARAMETERS = ("msc_emax_tnf", "msc_emax_il6", "msc_emax_il10", "msc_emax_repair",
                   "k_treg_msc")
#: 95% likelihood-ratio threshold for one parameter: chi-square(1) 0.95 quantile / 2
LR_HALF_CHI2_95 = 1.9207294103470320
#: likelihoods: the model's absolute arm risks, or its risk ratio with free control risks
LIKELIHOODS = ("absolute", "relative")
P_FLOOR = 1e-12


def binomial_loglik(events: ArrayLike, n: ArrayLike, p: ArrayLike) -> np.ndarray:
    """Binomial log-probability of ``events`` of ``n`` at risk ``p`` (elementwise, with the
    binomial coefficient). Risks are clipped to ``[1e-12, 1 - 1e-12]``."""
    k = np.asarray(events, dtype=float)
    m = np.asarray(n, dtype=float)
    q = np.clip(np.asarray(p, dtype=float), P_FLOOR, 1 - P_FLOOR)
    coef = gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1)
    return np.asarray(coef + k * np.log(q) + (m - k) * np.log1p(-q))


def relative_loglik(ai: int, n1: int, ci: int, n2: int, rr: float) -> tuple[float, float]:
    """Profile log-likelihood of one study when only the model's risk ratio ``rr`` is
    trusted: the control risk ``q`` is a free nuisance parameter, the MSC arm's risk is
    ``rr * q``. Returns the maximum over ``q`` of ``Bin(ci | n2, q) + Bin(ai | n1, rr q)``
    and the maximising ``q`` (the log-likelihood is concave in ``q``, so bounded Brent
    search finds it)."""
    from scipy.optimize import minimize_scalar

    rr = max(float(rr), P_FLOOR)
    upper = min(1.0, 1.0 / rr)

    def neg(q: float) -> float:
        return -float(binomial_loglik(ci, n2, q) + binomial_loglik(ai, n1, rr * q))

    res = minimize_scalar(neg, bounds=(0.0, upper), method="bounded",
                          options={"xatol": 1e-10})
    return -float(res.fun), float(res.x)


def _study_terms(risks: pd.DataFrame, observed: pd.DataFrame, likelihood: str
                 ) -> pd.DataFrame:
    """Per study and grid point: log-likelihood terms and fitted arm risks."""
    if likelihood not in LIKELIHOODS:
        raise InputError(f"unknown likelihood {likelihood!r}", field="likelihood",
                         hint="choose one of: " + ", ".join(LIKELIHOODS))
    missing = sorted(set(observed.study_id) - set(risks.study_id))
    if missing:
        raise InputError(f"no model risks for {', '.join(missing)}", field="risks")
    merged = risks.merge(observed[["study_id", "ai", "n1", "ci", "n2"]], on="study_id")
    if likelihood == "absolute":
        merged["fit_treated"] = merged.p_treated
        merged["fit_control"] = merged.p_control
        merged["ll_t"] = binomial_loglik(merged.ai.to_numpy(), merged.n1.to_numpy(),
                                         merged.p_treated.to_numpy())
        merged["ll_c"] = binomial_loglik(merged.ci.to_numpy(), merged.n2.to_numpy(),
                                         merged.p_control.to_numpy())
        return merged
    rr = (merged.p_treated / merged.p_control).to_numpy(float)
    fits = [relative_loglik(int(a), int(m), int(c), int(k), float(r)) for a, m, c, k, r in
            zip(merged.ai, merged.n1, merged.ci, merged.n2, rr, strict=True)]
    merged["ll_t"] = [f[0] for f in fits]
    merged["ll_c"] = 0.0
    merged["fit_control"] = [f[1] for f in fits]
    merged["fit_treated"] = np.minimum(rr * merged.fit_control.to_numpy(float), 1.0)
    return merged


def grid_loglik(risks: pd.DataFrame, observed: pd.DataFrame,
                likelihood: str = "absolute") -> pd.DataFrame:
    """Total log-likelihood of the ``observed`` studies at every grid point.

    Arguments:
        likelihood: ``absolute`` (the model's arm risks as they are) or ``relative`` (the
            model's risk ratio with a free control risk per study, see
            :func:`relative_loglik`).

    Returns:
        One row per grid point: ``grid``, the grid parameters, ``loglik`` and
        ``loglik_treated`` (absolute: the MSC arms' part, the only part that depends on the
        parameters; relative: equal to ``loglik``).

    Raises:
        InputError: a study in ``observed`` has no model risks; an unknown likelihood.
    """
    merged = _study_terms(risks, observed, likelihood)
    keys = ["grid", *GRID_PARAMETERS]
    out = merged.groupby(keys, sort=True)[["ll_t", "ll_c"]].sum().reset_index()
    out["loglik"] = out.ll_t + out.ll_c
    return out.rename(columns={"ll_t": "loglik_treated"}).drop(columns="ll_c")


def grid_weights(loglik: np.ndarray) -> np.ndarray:
    """Normalised likelihood over the grid: the posterior under a flat prior on the grid."""
    ll = np.asarray(loglik, dtype=float)
    w = np.exp(ll - np.max(ll))
    return np.asarray(w / w.sum())


@dataclass(frozen=True)
class Profile:
    """Profile likelihood of one grid parameter."""

    parameter: str
    values: np.ndarray
    loglik: np.ndarray  # maximised over the other parameters
    estimate: float
    ci_low: float
    ci_high: float
    identifiable: str  # "yes", "bounded one side", "no"

    def to_dict(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "estimate": self.estimate,
                "ci_low": self.ci_low, "ci_high": self.ci_high,
                "identifiable": self.identifiable,
                "values": [float(v) for v in self.values],
                "profile_loglik": [float(v) for v in self.loglik]}


def profile(grid: pd.DataFrame, parameter: str) -> Profile:
    """Profile of ``parameter`` on the grid and its 95% likelihood-ratio interval.

    The interval is the set of grid values whose profile log-likelihood is within
    ``chi2(1, 0.95) / 2`` of the maximum, widened to linear interpolation between grid
    values at the threshold crossing. A parameter whose interval reaches both ends of its
    grid is reported as not identifiable; one end only: bounded on one side.
    """
    prof = grid.groupby(parameter, sort=True)["loglik"].max()
    values, ll = prof.index.to_numpy(float), prof.to_numpy(float)
    best = int(np.argmax(ll))
    cut = ll[best] - LR_HALF_CHI2_95
    inside = ll >= cut

    def edge(step: int) -> float:
        i = best
        while 0 <= i + step < len(values) and inside[i + step]:
            i += step
        j = i + step
        if not 0 <= j < len(values):
            return float(values[i])
        frac = (ll[i] - cut) / (ll[i] - ll[j])
        return float(values[i] + frac * (values[j] - values[i]))

    lo, hi = edge(-1), edge(+1)
    at_lo = bool(inside[0]) and len(values) > 1
    at_hi = bool(inside[-1]) and len(values) > 1
    flat = len(values) == 1
    ident = "no" if (at_lo and at_hi) or flat else "bounded one side" if (at_lo or at_hi) \
        else "yes"
    return Profile(parameter, values, ll, float(values[best]), lo, hi, ident)


def fit_table(risks: pd.DataFrame, observed: pd.DataFrame, grid_index: int,
              likelihood: str = "absolute") -> pd.DataFrame:
    """Observed versus fitted arm mortality at one grid point, one row per study and arm,
    with the binomial 2.5-97.5% range of deaths expected under the fit (``relative``: the
    control risk fitted per study, the MSC arm's risk the model's risk ratio times it)."""
    from scipy.stats import binom

    at = _study_terms(risks[risks.grid == grid_index], observed, likelihood)
    rows = []
    for _, r in at.iterrows():
        for arm, events, n, p in (("msc", r.ai, r.n1, r.fit_treated),
                                  ("control", r.ci, r.n2, r.fit_control)):
            lo, hi = binom.ppf([0.025, 0.975], int(n), float(p))
            rows.append({"study_id": r.study_id, "arm": arm, "deaths": int(events),
                         "n": int(n), "observed": events / n, "fitted": float(p),
                         "expected_deaths_lo": float(lo), "expected_deaths_hi": float(hi),
                         "within_95": bool(lo <= events <= hi)})
    return pd.DataFrame(rows)


def goodness_of_fit(fit: pd.DataFrame, n_parameters: int) -> dict[str, float]:
    """Deviance of the fitted arms against the saturated model and its chi-square p-value
    (a rough check: small arms make the chi-square approximation loose)."""
    from scipy.stats import chi2

    k, n, p = fit.deaths.to_numpy(float), fit.n.to_numpy(float), fit.fitted.to_numpy(float)
    sat = binomial_loglik(k, n, k / n)
    mod = binomial_loglik(k, n, p)
    deviance = float(2 * np.sum(sat - mod))
    df = max(len(fit) - n_parameters, 1)
    return {"deviance": deviance, "df": float(df), "p_value": float(chi2.sf(deviance, df)),
            "arms": float(len(fit)), "arms_outside_95": float((~fit.within_95).sum())}


def reproduction(fit: pd.DataFrame) -> dict[str, Any]:
    """Does the fitted model reproduce the calibration studies' arm mortality?

    Per arm type: pooled observed mortality, the model's expected mortality at the same arm
    sizes, ``z = (O - E) / sqrt(sum n p (1 - p))`` on total deaths, and the arms outside
    their model 95% binomial range. ``reproduced`` is False when ``|z| > 1.96``.
    """
    out: dict[str, Any] = {}
    for arm, group in fit.groupby("arm", sort=True):
        n = group.n.to_numpy(float)
        p = group.fitted.to_numpy(float)
        deaths = float(group.deaths.sum())
        expected = float(np.sum(n * p))
        sd = float(np.sqrt(np.sum(n * p * (1 - p))))
        z = (deaths - expected) / sd if sd > 0 else float("nan")
        out[str(arm)] = {"patients": int(n.sum()), "deaths": int(deaths),
                         "observed_mortality": deaths / n.sum(),
                         "model_mortality": expected / n.sum(), "z": z,
                         "arms": len(group),
                         "arms_outside_95": int((~group.within_95.astype(bool)).sum()),
                         "reproduced": bool(np.isfinite(z) and abs(z) <= 1.96)}
    return out


def reproduction_text(checks: dict[str, Any]) -> list[str]:
    """One sentence per arm type, with numbers."""
    lines = []
    for arm, c in checks.items():
        verdict = "reproduces" if c["reproduced"] else "does NOT reproduce"
        lines.append(f"The model {verdict} the {arm}-arm mortality of the calibration "
                     f"studies: {100 * c['model_mortality']:.1f}% expected vs "
                     f"{100 * c['observed_mortality']:.1f}% observed ({c['deaths']} deaths in "
                     f"{c['patients']} patients, z = {c['z']:.2f}); {c['arms_outside_95']} of "
                     f"{c['arms']} arms fall outside the model's 95% binomial range.")
    return lines
