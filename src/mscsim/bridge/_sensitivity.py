"""Global sensitivity (Sobol indices, SALib) of the predicted mortality benefit of MSCs in a
reference trial to the model's parameters.

The output is the benefit ``mean(p_control - p_msc)`` over a fixed cohort of the reference
replica (common random numbers: the same patients for every sample). Factors are MSC
pharmacodynamics (the calibrated Emax scale and EC50), MSC pharmacokinetics and the main
disease parameters (population-wide multipliers on each patient's value). The patients
enrolled stay those screened under the base model: a disease multiplier changes their
course after randomisation, not who is eligible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim.bridge._calibrate import EMAX_PARAMETERS
from mscsim.bridge._risk import RiskTask, risk_tasks, run_risks
from mscsim.engine import EngineLike
from mscsim.model import load_model


@dataclass(frozen=True)
class Factor:
    """One uncertain input: uniform on ``[low, high]`` (log-uniform when ``log``)."""

    name: str
    low: float
    high: float
    log: bool
    group: str  # "MSC PD", "MSC PK" or "disease"
    how: str  # "set" a model parameter, "scale" a patient column, "emax" scale the Emax set
    measure: str  # what a trial could measure to pin it down

    def value(self, unit: np.ndarray) -> np.ndarray:
        """Map SALib's unit samples to this factor's scale."""
        if self.log:
            return np.asarray(np.exp(np.log(self.low) + unit * np.log(self.high / self.low)))
        return np.asarray(self.low + unit * (self.high - self.low))


def default_factors() -> list[Factor]:
    """The factors of the bridge's sensitivity analysis; ranges are the parameter table's
    bounds (assumption: uniform, log-uniform for rates spanning decades) except the disease
    multipliers, 0.5-2 (assumption)."""
    table = load_model().required_parameter_table()

    def bounds(name: str) -> tuple[float, float]:
        p = table[name]
        return float(p.lower), float(p.upper)

    pk = [("k_msc_lung_entrap", "lung entrapment of infused cells (labelled-cell imaging)"),
          ("k_msc_lung_death", "persistence of lung MSC (labelled-cell imaging)"),
          ("k_secretome", "secretome release per cell (TSG-6/PGE2 in plasma or BAL)"),
          ("secretome_tnf_ec", "inflammatory activation of MSC (TNF and secretome together)")]
    disease = [("p_ifn", "interferon response (IFN-alpha/beta, interferon-stimulated genes)"),
               ("k_cd8_kill", "cytotoxic T-cell clearance (viral load decline, CD8 counts)"),
               ("p_il6_mac", "macrophage IL-6 production (serial IL-6)"),
               ("hazard_multiplier", "baseline risk of death (control-arm mortality)")]
    out = [Factor("emax_scale", 0.0, 2.0, False, "MSC PD", "emax",
                  "size of the anti-inflammatory effect (TNF/IL-6 suppression after infusion)"),
           Factor("msc_ec50", *bounds("msc_ec50"), True, "MSC PD", "set",
                  "exposure-response: effect at two doses")]
    out += [Factor(n, *bounds(n), True, "MSC PK", "set", m) for n, m in pk]
    out += [Factor(n, 0.5, 2.0, True, "disease", "scale", m) for n, m in disease]
    return out


#: bootstrap resamples behind the indices' 95% intervals
SOBOL_RESAMPLES = 200


def sobol_indices(evaluate: Callable[[np.ndarray], np.ndarray], factors: list[Factor], n: int,
                  seed: int, *, resamples: int = SOBOL_RESAMPLES) -> pd.DataFrame:
    """First-order and total Sobol indices of ``evaluate`` (Saltelli sampling, SALib).

    Arguments:
        evaluate: maps a ``(samples, factors)`` array of factor values to one output each.
        n: base sample size (a power of two); ``n * (factors + 2)`` evaluations.
        seed: seeds the Sobol sequence scrambling and the bootstrap of the intervals.

    Returns:
        One row per factor: ``factor, S1, S1_conf, ST, ST_conf`` (95% bootstrap half-widths).
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if n < 2 or n & (n - 1):
        raise InputError(f"the Sobol base sample must be a power of two >= 2, got {n}",
                         field="sobol_n")
    problem = {"num_vars": len(factors), "names": [f.name for f in factors],
               "bounds": [[0.0, 1.0]] * len(factors)}
    unit = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    values = np.column_stack([f.value(unit[:, j]) for j, f in enumerate(factors)])
    y = np.asarray(evaluate(values), dtype=float)
    finite = np.isfinite(y)
    if not finite.all():
        y = np.where(finite, y, np.nanmean(y))
    res = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=resamples,
                                seed=seed, print_to_console=False)
    return pd.DataFrame({"factor": [f.name for f in factors],
                         "group": [f.group for f in factors],
                         "S1": res["S1"], "S1_conf": res["S1_conf"],
                         "ST": res["ST"], "ST_conf": res["ST_conf"],
                         "measure": [f.measure for f in factors],
                         "low": [f.low for f in factors], "high": [f.high for f in factors]})


def benefit_model(parameters: pd.DataFrame, enrol_days: np.ndarray,
                  doses: list[list[tuple[float, float]]], follow_up: float,
                  factors: list[Factor], *, engine: EngineLike = "process",
                  workers: int | None = None,
                  chunk_size: int = 50, progress: Callable[[int, int], None] | None = None
                  ) -> Callable[[np.ndarray], np.ndarray]:
    """The function ``factor values -> mortality benefit`` over a fixed cohort."""
    table = load_model().required_parameter_table()
    base = {n: float(table[n].value) for n in EMAX_PARAMETERS}
    none: list[list[tuple[float, float]]] = [[] for _ in doses]

    def evaluate(values: np.ndarray) -> np.ndarray:
        tasks: list[RiskTask] = []
        for i, row in enumerate(values):
            pats = parameters.copy()
            overrides: dict[str, float] = {}
            for f, v in zip(factors, row, strict=True):
                if f.how == "scale":
                    pats[f.name] = pats[f.name].to_numpy(float) * float(v)
                elif f.how == "emax":
                    overrides.update({n: b * float(v) for n, b in base.items()})
                else:
                    overrides[f.name] = float(v)
            tasks += risk_tasks((i, 1), pats, enrol_days, doses, follow_up, overrides,
                                chunk_size)
            tasks += risk_tasks((i, 0), pats, enrol_days, none, follow_up, overrides,
                                chunk_size)
        risks = run_risks(tasks, engine=engine, workers=workers, progress=progress)
        return np.array([np.nanmean(risks[(i, 0)] - risks[(i, 1)])
                         for i in range(len(values))])
    return evaluate


def indices_out_of_range(indices: pd.DataFrame) -> int:
    """How many first- and total-order indices lie outside 0-1 by more than their 95%
    half-width: no Sobol index can, so the sample is too small for the estimator."""
    values = indices[["S1", "ST"]].to_numpy(float)
    conf = indices[["S1_conf", "ST_conf"]].to_numpy(float)
    return int(((values + conf < 0) | (values - conf > 1) | ~np.isfinite(values + conf)).sum())


def resolved_leaders(indices: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """The factors (at most ``top``, largest total index first) whose total-order index stands
    apart: the 95% interval of each lies above zero and above the interval of every factor
    left out. Empty when the ranking is not resolved: the largest interval reaches zero or
    overlaps another factor's, or an index lies outside 0-1 (:func:`indices_out_of_range`)."""
    ranked = indices.sort_values("ST", ascending=False).reset_index(drop=True)
    if indices_out_of_range(ranked):
        return ranked.iloc[:0]
    low = (ranked.ST - ranked.ST_conf).to_numpy(float)
    high = (ranked.ST + ranked.ST_conf).to_numpy(float)
    for k in range(min(top, len(ranked)), 0, -1):
        if low[:k].min() > max([0.0, *high[k:]]):
            return ranked.iloc[:k]
    return ranked.iloc[:0]


def _index_text(r: Any) -> str:
    return f"{r.factor} (total index {r.ST:.2f} ± {r.ST_conf:.2f})"


def precision_text(indices: pd.DataFrame, base_sample: int, patients: int | None,
                   resamples: int = SOBOL_RESAMPLES) -> str:
    """How precise the indices are, in words: sample, patients, interval widths."""
    factors = len(indices)
    cohort = f"each over the same {patients} virtual patients" if patients else \
        "each over the same virtual patients"
    conf = indices.ST_conf.to_numpy(float)
    value = indices.ST.to_numpy(float)
    text = (f"Saltelli base sample N = {base_sample}: {base_sample * (factors + 2)} model "
            f"evaluations of {factors} factors, {cohort} with and without MSC. Each ± is a "
            f"95% bootstrap half-width ({resamples} resamples). The total indices' half-widths "
            + (f"are all {conf[0]:.2g}" if f"{conf.min():.2g}" == f"{conf.max():.2g}" else
               f"run from {conf.min():.2g} to {conf.max():.2g} (median {np.median(conf):.2g})")
            + f"; in {int((conf > np.abs(value)).sum())} of {factors} factors the half-width "
              f"is larger than the index itself.")
    outside = indices_out_of_range(indices)
    if outside:
        text += (f" {outside} of the {2 * factors} indices lie outside 0-1 beyond their "
                 f"interval, where no Sobol index can be: the sample is too small for the "
                 f"estimator.")
    return text


def recommendation_text(indices: pd.DataFrame, top: int = 3) -> str:
    """What a next trial should measure, or why these indices do not say (see
    :func:`resolved_leaders`)."""
    leaders = resolved_leaders(indices, top)
    ranked = indices.sort_values("ST", ascending=False).reset_index(drop=True)
    if leaders.empty:
        first = ranked.iloc[0]
        low = first.ST - first.ST_conf
        overlapping = ranked.iloc[1:][ranked.ST.iloc[1:] + ranked.ST_conf.iloc[1:] >= low]
        if indices_out_of_range(ranked):
            reason = "indices lie outside 0-1, so the sample is too small for the estimator"
        elif low <= 0:
            reason = f"the interval of the largest total index, {_index_text(first)}, " \
                     f"reaches zero"
        else:
            reason = (f"the interval of the largest total index, {_index_text(first)}, "
                      f"overlaps those of {len(overlapping)} other factors (the next: "
                      f"{_index_text(overlapping.iloc[0])})")
        return (f"The ranking is not resolved at this precision: {reason}. These indices do "
                f"not say which parameter a next trial should measure; a larger base sample "
                f"(--sobol-n) and cohort (--sobol-cohort) narrow the intervals.")
    low = (leaders.ST - leaders.ST_conf).to_numpy(float)
    high = (leaders.ST + leaders.ST_conf).to_numpy(float)
    order = " (their order among themselves is not resolved)" \
        if (low[:-1] <= high[1:]).any() else ""
    named = "; ".join(f"{_index_text(r)}: {r.measure}" for r in leaders.itertuples())
    apart = "1 factor stands" if len(leaders) == 1 else f"{len(leaders)} factors stand"
    return (f"{apart} apart from the other {len(ranked) - len(leaders)}: the 95% interval of "
            f"the total index above zero and above every other factor's{order}. A next trial "
            f"should measure: {named}.")
