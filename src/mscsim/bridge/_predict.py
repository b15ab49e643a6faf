"""Prediction of the studies published after the cut-off, from a bridge folder.

Predictive distribution of each study's arm deaths: a grid point drawn with the calibrated
likelihood weights (parameter uncertainty), then binomial deaths at the published arm sizes
with the model's arm risks there. Risk ratios use the evidence module's zero-cell rule
(add 0.5 to every cell of a table with a zero cell, metafor's ``to="only0"``) for the
observed and the predicted tables alike. Pooled: the observed meta-analysis of the
predicted studies (``mscsim.evidence.meta_analysis``) against the distribution of the same
meta-analysis over predictive draws of all their tables.

With the ``relative`` likelihood only the model's risk ratio is trusted, so a study's
control risk is drawn from the posterior given its own control arm: the prediction is then
of the MSC arm and the RR given the trial's baseline (its control counts are conditioned on,
never used to tune a parameter), and the control-arm coverage is not a test of the model.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mscsim._errors import InputError
from mscsim._random import seeded_generator
from mscsim.bridge._calibrate import grid_weights
from mscsim.bridge._run import PREDICT_STREAM, BridgeResult, read_bridge
from mscsim.evidence import escalc, meta_analysis

ADD = 0.5


def risk_ratio(ai: ArrayLike, n1: ArrayLike, ci: ArrayLike, n2: ArrayLike) -> np.ndarray:
    """Risk ratio of each table by the evidence module's :func:`mscsim.evidence.escalc`
    (0.5 added to every cell of tables with a zero cell; double-zero tables kept)."""
    ai, n1, ci, n2 = np.broadcast_arrays(*(np.asarray(x, dtype=float)
                                           for x in (ai, n1, ci, n2)))
    eff = escalc("RR", ai, n1, ci, n2, add=ADD, to="only0", drop00=False)
    return np.asarray(np.exp(eff.yi))


def covered(observed: float, lo: float, hi: float) -> bool:
    """Whether ``observed`` lies in the closed interval ``[lo, hi]``."""
    return bool(np.isfinite(observed) and lo <= observed <= hi)


@dataclass
class Prediction:
    """Predictions of the post-cut-off studies (see :func:`predict`)."""

    cutoff: str
    level: float
    draws: int
    studies: pd.DataFrame
    pooled: dict[str, Any]

    @property
    def coverage(self) -> float:
        c = self.studies["covered"]
        return float(c.mean()) if len(c) else float("nan")

    def to_dict(self) -> dict[str, Any]:
        rows = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                 for k, v in r.items()} for r in self.studies.to_dict("records")]
        return {"cutoff": self.cutoff, "level": self.level, "draws": self.draws,
                "coverage": None if not np.isfinite(self.coverage) else self.coverage,
                "covered": int(self.studies["covered"].sum()) if len(self.studies) else 0,
                "predicted": len(self.studies), "studies": rows, "pooled": self.pooled}


def study_draws(seed: int, study_id: str, weights: np.ndarray, p_treated: np.ndarray,
                p_control: float, n1: int, n2: int, draws: int,
                control_deaths: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictive draws of one study: grid index, treated deaths, control deaths.

    With ``control_deaths`` (the relative likelihood), the control risk of each draw comes
    from its Jeffreys posterior ``Beta(ci + 1/2, n2 - ci + 1/2)`` given the study's own control
    arm, and the MSC arm's risk is the model's risk ratio times it."""
    gen = seeded_generator(seed, PREDICT_STREAM, zlib.crc32(study_id.encode()))
    g = gen.choice(len(weights), size=draws, p=weights)
    if control_deaths is None:
        dt = gen.binomial(n1, np.clip(p_treated[g], 0, 1))
        dc = gen.binomial(n2, np.clip(p_control, 0, 1), size=draws)
        return g, dt, dc
    q = gen.beta(control_deaths + 0.5, n2 - control_deaths + 0.5, size=draws)
    rr = p_treated[g] / p_control
    dt = gen.binomial(n1, np.clip(rr * q, 0, 1))
    dc = gen.binomial(n2, q)
    return g, dt, dc


def calibration_effects(result: BridgeResult) -> pd.DataFrame:
    """Calibration studies: observed risk ratio against the model's at the estimate and
    averaged over the likelihood weights (a relative-effect check that is blind to the
    baseline mortality)."""
    lik = result.likelihood.sort_values("grid")
    weights = pd.Series(grid_weights(lik.loglik.to_numpy(float)), index=lik.grid.to_numpy())
    best = int(result.calibration["mle_grid"])
    reps = result.replicas.set_index("study_id")
    rows = []
    for sid in result.calibration["calibration_studies"]:
        risk = result.risks[result.risks.study_id == sid].set_index("grid")
        model_rr = risk.p_treated / risk.p_control
        r = reps.loc[sid]
        ai, n1, ci, n2 = (int(r[k]) for k in ("ai", "n1", "ci", "n2"))
        rows.append({"study_id": sid, "observed_rr": float(risk_ratio([ai], n1, [ci], n2)[0]),
                     "model_rr_at_estimate": float(model_rr.loc[best]),
                     "model_rr_weighted": float((model_rr * weights.loc[risk.index]).sum())})
    return pd.DataFrame(rows)


def _meta(table: pd.DataFrame, method: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(np.exp(meta_analysis(table, method=method).estimate))
        except InputError:
            return float("nan")


def predict_result(result: BridgeResult, *, draws: int = 2000, level: float = 0.95,
                   method: str = "REML", pooled_draws: int = 400) -> Prediction:
    """Predictive distributions of the post-cut-off studies of a calibrated ``result``."""
    if draws < 10 or not 0.5 < level < 1:
        raise InputError("draws must be >= 10 and level in (0.5, 1)", field="draws")
    lik = result.likelihood.sort_values("grid")
    weights = grid_weights(lik.loglik.to_numpy(float))
    grids = lik.grid.to_numpy(int)
    reps = result.replicas.set_index("study_id")
    seed = int(result.manifest.get("seed", 0))
    alpha = (1 - level) / 2
    rows, sims = [], {}
    for sid in result.calibration["prediction_studies"]:
        risk = result.risks[result.risks.study_id == sid].set_index("grid").loc[grids]
        r = reps.loc[sid]
        ai, n1, ci, n2 = (int(r[k]) for k in ("ai", "n1", "ci", "n2"))
        pt = risk.p_treated.to_numpy(float)
        pc = float(risk.p_control.iloc[0])
        relative = result.calibration.get("likelihood", "absolute") == "relative"
        g, dt, dc = study_draws(seed, sid, weights, pt, pc, n1, n2, draws,
                                control_deaths=ci if relative else None)
        rr = risk_ratio(dt, n1, dc, n2)
        sims[sid] = (dt, dc, n1, n2)
        obs = float(risk_ratio(np.array([ai]), n1, np.array([ci]), n2)[0])
        lo, med, hi = np.quantile(rr, [alpha, 0.5, 1 - alpha])
        mt = np.quantile(dt / n1, [alpha, 0.5, 1 - alpha])
        mc = np.quantile(dc / n2, [alpha, 0.5, 1 - alpha])
        rows.append({"study_id": sid, "pub_date": str(r["pub_date"]),
                     "ai": ai, "n1": n1, "ci": ci, "n2": n2,
                     "observed_rr": obs, "pred_rr_median": float(med),
                     "pred_lo": float(lo), "pred_hi": float(hi),
                     "covered": covered(obs, float(lo), float(hi)),
                     "model_risk_treated": float(np.sum(weights * pt)),
                     "model_risk_control": pc,
                     "observed_mortality_treated": ai / n1,
                     "pred_mortality_treated_lo": float(mt[0]),
                     "pred_mortality_treated_median": float(mt[1]),
                     "pred_mortality_treated_hi": float(mt[2]),
                     "observed_mortality_control": ci / n2,
                     "pred_mortality_control_lo": float(mc[0]),
                     "pred_mortality_control_median": float(mc[1]),
                     "pred_mortality_control_hi": float(mc[2]),
                     "control_covered": covered(ci / n2, float(mc[0]), float(mc[2])),
                     "treated_covered": covered(ai / n1, float(mt[0]), float(mt[2]))})
    studies = pd.DataFrame(rows)
    pooled: dict[str, Any] = {"method": method, "measure": "RR", "k": len(rows)}
    if rows:
        obs_table = studies[["study_id", "ai", "n1", "ci", "n2"]]
        pooled["observed_rr"] = _meta(obs_table, method)
        m = min(pooled_draws, draws)
        values = []
        for d in range(m):
            table = pd.DataFrame([{"study_id": sid, "ai": int(s[0][d]), "n1": s[2],
                                   "ci": int(s[1][d]), "n2": s[3]}
                                  for sid, s in sims.items()])
            values.append(_meta(table, method))
        arr = np.array(values)
        arr = arr[np.isfinite(arr)]
        if arr.size:
            lo, med, hi = np.quantile(arr, [alpha, 0.5, 1 - alpha])
            pooled.update({"pred_rr_median": float(med), "pred_lo": float(lo),
                           "pred_hi": float(hi), "draws": int(arr.size),
                           "covered": covered(pooled["observed_rr"], float(lo), float(hi))})
    return Prediction(result.calibration["cutoff"], level, draws, studies, pooled)


def predict(folder: str | Path, *, draws: int = 2000, level: float = 0.95,
            method: str = "REML") -> Prediction:
    """Predict the post-cut-off studies of the bridge folder ``folder`` (no simulation:
    the arm risks on the grid and the likelihood were stored by ``calibrate``).

    Raises:
        InputError: not a bridge folder; bad ``draws`` or ``level``.
    """
    return predict_result(read_bridge(folder), draws=draws, level=level, method=method)
