"""Endpoint analysis: a small registry mapping an endpoint kind to its statistic.

Every analyser has a scalar form (one trial: a plain dict with ``estimate, ci_low, ci_high,
p_value, measure, method, n_treated, n_control`` and per-arm figures) and a batch form
(many replicate trials as ``(replicates, patients)`` arrays: ``estimate, ci_low, ci_high,
p_value`` arrays). Both call the statistics library of :mod:`mscsim.trial`; where it has a
batch function the batch form uses it, otherwise it loops over the scalar function.
Arms: 1 = treated (MSC), 0 = control.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mscsim.trial._stats.binary import (
    fisher_exact,
    fisher_exact_batch,
    risk_ratio,
    risk_ratio_batch,
)
from mscsim.trial._stats.common import StatisticsWarning
from mscsim.trial._stats.continuous import (
    ancova,
    wilcoxon_rank_sum,
    wilcoxon_rank_sum_batch,
    worst_rank_test,
    worst_rank_test_batch,
)
from mscsim.trial._stats.ordinal import proportional_odds
from mscsim.trial._stats.survival import cox_ph, cox_ph_batch, logrank_test, logrank_test_batch
from mscsim.trial._stats.win import win_ratio

Data = dict[str, np.ndarray]


@dataclass(frozen=True)
class AnalysisOptions:
    level: float = 0.95
    binary_test: str = "fisher"


@dataclass(frozen=True)
class BatchEstimates:
    """One analysis per replicate: arrays of shape ``(replicates,)``."""

    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray


@dataclass(frozen=True)
class Analyser:
    """How one kind of endpoint is analysed.

    Attributes:
        measure: the effect measure (``"risk ratio"``...); ``null`` its no-effect value.
        scalar: ``(data, arm, options) -> dict``.
        batch: ``(data, arm, options) -> BatchEstimates`` (data arrays ``(R, N)``).
    """

    kind: str
    measure: str
    null: float
    scalar: Callable[[Data, np.ndarray, AnalysisOptions], dict[str, Any]]
    batch: Callable[[Data, np.ndarray, AnalysisOptions], BatchEstimates]


ANALYSERS: dict[str, Analyser] = {}


def register_analyser(analyser: Analyser) -> Analyser:
    """Add (or replace) the analyser of ``analyser.kind``."""
    ANALYSERS[analyser.kind] = analyser
    return analyser


def _common(res: Any, measure: str, arm: np.ndarray) -> dict[str, Any]:
    return {"measure": measure, "estimate": float(res.estimate), "ci_low": float(res.ci_low),
            "ci_high": float(res.ci_high), "p_value": float(res.p_value),
            "method": res.method, "n_treated": int((arm == 1).sum()),
            "n_control": int((arm == 0).sum()), "warnings": list(res.warnings)}


# ------------------------------------------------------------------ binary
def _binary_scalar(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> dict[str, Any]:
    e = data["event"]
    a, n1 = int(e[arm == 1].sum()), int((arm == 1).sum())
    c, n0 = int(e[arm == 0].sum()), int((arm == 0).sum())
    rr = risk_ratio(a, n1, c, n0, level=opt.level)
    out = _common(rr, "risk ratio", arm)
    if opt.binary_test == "fisher":
        fisher = fisher_exact(a, n1, c, n0, level=opt.level)
        out["p_value"] = float(fisher.p_value)
        out["method"] += "; p-value: Fisher's exact test"
        out["warnings"] += list(fisher.warnings)
    out.update(events_treated=a, events_control=c, risk_treated=a / n1 if n1 else None,
               risk_control=c / n0 if n0 else None)
    return out


def _binary_batch(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> BatchEstimates:
    e = data["event"]
    a, n1 = (e * (arm == 1)).sum(axis=1), (arm == 1).sum(axis=1)
    c, n0 = (e * (arm == 0)).sum(axis=1), (arm == 0).sum(axis=1)
    rr = risk_ratio_batch(a, n1, c, n0, level=opt.level)
    p = rr.p_value
    if opt.binary_test == "fisher":
        p = fisher_exact_batch(a, n1, c, n0, estimate=False).p_value
    return BatchEstimates(rr.estimate, rr.ci_low, rr.ci_high, np.asarray(p, float))


# ------------------------------------------------------------------ survival
# The reported effect is Cox's hazard ratio (Efron ties, Wald interval), the estimate readers
# assume; the test is the log-rank test (Cox's score test), the usual pre-specified one. Peto's
# one-step estimate exp((O-E)/V) is given beside it, as is the log-rank statistic.
SURVIVAL_METHOD = ("hazard ratio: Cox proportional hazards, Efron ties, Wald interval; "
                   "p-value: log-rank test")


def _survival_scalar(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> dict[str, Any]:
    cox = cox_ph(data["time"], data["event"], arm, level=opt.level)
    logrank = logrank_test(data["time"], data["event"], arm, level=opt.level)
    out = _common(cox, "hazard ratio", arm)
    out.update(p_value=float(logrank.p_value), method=SURVIVAL_METHOD,
               warnings=list(dict.fromkeys([*cox.warnings, *logrank.warnings])),
               p_wald=float(cox.p_wald), peto_estimate=float(logrank.estimate),
               peto_ci_low=float(logrank.ci_low), peto_ci_high=float(logrank.ci_high),
               logrank_statistic=float(logrank.statistic),
               events_treated=int(data["event"][arm == 1].sum()),
               events_control=int(data["event"][arm == 0].sum()))
    return out


def _survival_batch(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> BatchEstimates:
    cox = cox_ph_batch(data["time"], data["event"], arm, level=opt.level)
    logrank = logrank_test_batch(data["time"], data["event"], arm, level=opt.level)
    return BatchEstimates(cox.estimate, cox.ci_low, cox.ci_high, logrank.p_value)


# ------------------------------------------------------------------ ordinal
def _ordinal_scalar(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> dict[str, Any]:
    res = proportional_odds(data["value"], arm, levels=range(11), level=opt.level)
    out = _common(res, "common odds ratio (higher WHO level)", arm)
    v = data["value"]
    out.update(median_treated=float(np.median(v[arm == 1])) if (arm == 1).any() else None,
               median_control=float(np.median(v[arm == 0])) if (arm == 0).any() else None)
    return out


# ------------------------------------------------------------------ rank
def _rank_scalar(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> dict[str, Any]:
    res = wilcoxon_rank_sum(data["value"], arm)
    out = _common(res, "Hodges-Lehmann shift", arm)
    v = data["value"]
    out.update(median_treated=float(np.median(v[arm == 1])) if (arm == 1).any() else None,
               median_control=float(np.median(v[arm == 0])) if (arm == 0).any() else None)
    return out


def _rank_batch(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> BatchEstimates:
    res = wilcoxon_rank_sum_batch(data["value"], arm, estimate=True)
    return BatchEstimates(res.estimate, res.ci_low, res.ci_high, res.p_value)


# ------------------------------------------------------------------ win ratio
#: direction of each win-ratio comparison (``data`` holds them in the hierarchy's order)
WIN_DIRECTIONS: dict[str, Literal["higher", "lower"]] = {
    "death_d28": "higher", "vfd_d28": "higher", "who_d28": "lower"}


def _win_scalar(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> dict[str, Any]:
    res = win_ratio([(values, WIN_DIRECTIONS[name]) for name, values in data.items()], arm,
                    level=opt.level)
    out = _common(res, "win ratio", arm)
    out.update(wins=res.wins, losses=res.losses, ties=res.ties,
               decided_by=dict(zip(data, res.decided_by, strict=True)),
               net_benefit=res.net_benefit)
    return out


# ------------------------------------------------------------------ change (ANCOVA)
def _change_scalar(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> dict[str, Any]:
    y, base = data["outcome"], data["baseline"]
    keep = np.isfinite(y) & np.isfinite(base)
    res = ancova(y[keep], base[keep], arm[keep], level=opt.level)
    out = _common(res, "baseline-adjusted mean difference of the change", arm[keep])
    out["excluded_dead"] = int((~keep).sum())
    change = y - base
    for label, g in (("treated", 1), ("control", 0)):
        sel = keep & (arm == g)
        out[f"mean_change_{label}"] = float(change[sel].mean()) if sel.any() else None
    return out


# ------------------------------------------------------------------ change, worst rank
WORST_RANK_MEASURE = "probability that MSC does better"


def _worst_rank_scalar(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> dict[str, Any]:
    value, death, change = data["value"], data["death"], data["change"]
    keep = np.isfinite(value) | np.isfinite(death)  # a failed simulation has neither
    res = worst_rank_test(value[keep], death[keep], arm[keep], level=opt.level)
    out = _common(res, WORST_RANK_MEASURE, arm[keep])
    out.update(deaths_treated=res.deaths_treated, deaths_control=res.deaths_control,
               excluded_no_outcome=int((~keep).sum()))
    for label, g in (("treated", 1), ("control", 0)):
        sel = np.isfinite(change) & (arm == g)
        out[f"median_change_survivors_{label}"] = float(np.median(change[sel])) \
            if sel.any() else None
    return out


def _worst_rank_batch(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> BatchEstimates:
    res = worst_rank_test_batch(data["value"], data["death"], arm, level=opt.level)
    return BatchEstimates(res.estimate, res.ci_low, res.ci_high, res.p_value)


def _loop(scalar: Callable[[Data, np.ndarray, AnalysisOptions], dict[str, Any]]
          ) -> Callable[[Data, np.ndarray, AnalysisOptions], BatchEstimates]:
    def batch(data: Data, arm: np.ndarray, opt: AnalysisOptions) -> BatchEstimates:
        n = arm.shape[0]
        out = np.full((4, n), np.nan)
        for r in range(n):
            res = scalar({k: v[r] for k, v in data.items()}, arm[r], opt)
            out[:, r] = (res["estimate"], res["ci_low"], res["ci_high"], res["p_value"])
        return BatchEstimates(*out)
    return batch


register_analyser(Analyser("binary", "risk ratio", 1.0, _binary_scalar, _binary_batch))
register_analyser(Analyser("survival", "hazard ratio", 1.0, _survival_scalar,
                           _survival_batch))
register_analyser(Analyser("ordinal", "common odds ratio", 1.0, _ordinal_scalar,
                           _loop(_ordinal_scalar)))
register_analyser(Analyser("rank", "Hodges-Lehmann shift", 0.0, _rank_scalar, _rank_batch))
register_analyser(Analyser("win", "win ratio", 1.0, _win_scalar, _loop(_win_scalar)))
register_analyser(Analyser("change", "mean difference", 0.0, _change_scalar,
                           _loop(_change_scalar)))
register_analyser(Analyser("worst_rank", WORST_RANK_MEASURE, 0.5, _worst_rank_scalar,
                           _worst_rank_batch))


def analyse(kind: str, data: Data, arm: np.ndarray, options: AnalysisOptions,
            *, quiet: bool = False) -> dict[str, Any]:
    """Analyse one trial's endpoint with the registered analyser of ``kind``."""
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", StatisticsWarning)
        return ANALYSERS[kind].scalar(data, np.asarray(arm), options)


def analyse_batch(kind: str, data: Data, arm: np.ndarray,
                  options: AnalysisOptions) -> BatchEstimates:
    """Analyse many replicate trials (degenerate-replicate warnings are silenced: they are
    expected in power simulations and the statistics stay defined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        return ANALYSERS[kind].batch(data, np.asarray(arm), options)
