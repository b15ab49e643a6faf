"""Clinical course of each patient, derived from its simulated trajectory and the model's care
pathway (:mod:`mscsim.model` ``care_pathway``: admission, respiratory support, intensive care,
discharge and the WHO scale as explicit rules).

Definitions (days after infection; NaN when the event does not happen):

- ``symptom_onset_day``: first time the patient is symptomatic (type-I IFN or IL-6 at least
  its symptom threshold: :func:`mscsim.model.symptomatic`).
- ``admission_day``: hospital admission by the care pathway (sustained hypoxaemia, or
  symptomatic pneumonia without hypoxaemia); ``support_at_admission``, ``max_support``: the
  respiratory support then and at its highest (``none``, ``oxygen``, ``hfnc_niv``, ``imv``;
  missing for patients never admitted).
- ``icu_day``: first day in intensive care; ``ventilation_day``: first invasive ventilation.
- ``discharge_day``: discharge alive; ``death_day``: first time the cumulative hazard under
  support (the ODE's hazard, each increment on invasive ventilation scaled by the model's
  ``imv_hazard_factor``; :func:`mscsim.model.pathway_and_death`) reaches the patient's
  unit-exponential threshold (linear interpolation between output times). A treatment
  changes a patient's fate only through the hazard, because the threshold is fixed per
  patient. ``cum_hazard_end``, ``death_probability``: that hazard at the end of the course,
  and ``1 - exp(-it)``.
- ``recovery_day``: for admitted survivors, first time after the lowest P/F at which
  SpO2 >= 94% and P/F >= 300 (off oxygen).
- ``viral_clearance_day``: first time after the peak of PCR-detectable RNA
  (``viral_rna_log10``, which outlasts replicating virus) from which it stays below the
  detection limit (100 copies/mL) to the end of the simulation. ``peak_viral_load_log10`` and
  ``peak_viral_load_day`` are those of replicating virus (``viral_load_log10``).
- ``peak_il6_pg_ml``, ``peak_ifn_pg_ml``: highest plasma IL-6 and type-I IFN (model scale).
- ``peak_who``: highest WHO level while alive, 10 if the patient died.
- ``cd4_nadir_1e6_l``, ``cd8_nadir_1e6_l``, ``t_cell_nadir_1e6_l``: lowest blood CD4, CD8 and
  CD4+CD8 counts (cells/uL) over the course.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from mscsim.model import PATHWAY_INPUTS, Pathway, PathwayRules, pathway_and_death, symptomatic
from mscsim.simulate import BatchResult

COURSE_OUTPUTS = tuple(dict.fromkeys((*PATHWAY_INPUTS, "viral_load_log10", "lymphocytes_1e9_l",
                                      "cd4_blood_1e6_l", "cd8_blood_1e6_l", "cum_hazard")))
# Guan 2020 NEJM counted lymphocytopenia as < 1,500 per mm3 (Table 3, as recalled)
LYMPHOPENIA_1E9_L = 1.5


def _first(mask: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Time of the first True along axis 1 (NaN when none)."""
    hit = mask.any(axis=1)
    index = mask.argmax(axis=1)
    return np.where(hit, times[index], np.nan)


def _at(values: np.ndarray, times: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Value of each row at its time ``when`` (a grid time or NaN)."""
    out = np.full(len(values), np.nan)
    ok = np.isfinite(when)
    index = np.searchsorted(times, when[ok])
    out[ok] = values[np.flatnonzero(ok), index]
    return out


def clinical_course(batch: BatchResult, thresholds: np.ndarray, imv_available: np.ndarray,
                    rules: PathwayRules) -> pd.DataFrame:
    """One row per patient of ``batch`` with the events and summaries defined above.

    Arguments:
        imv_available: per patient, whether invasive ventilation would be offered.
        rules: the care pathway's rules (from the model's parameters).

    Rows of patients whose simulation failed (``~batch.ok``) hold no information; callers
    keep only successful rows.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _course(batch, thresholds, imv_available, rules)


def viral_clearance(viral_load_log10: np.ndarray, times: np.ndarray,
                    detection_log10: float) -> np.ndarray:
    """First time after the peak from which the load stays below ``detection_log10``."""
    peak = np.nanargmax(np.where(np.isfinite(viral_load_log10), viral_load_log10, -np.inf),
                        axis=1)
    detected = (viral_load_log10 >= detection_log10) | (np.arange(len(times))[None, :]
                                                        <= peak[:, None])
    last = len(times) - 1 - np.argmax(detected[:, ::-1], axis=1)
    cleared = ~detected[:, -1]
    index = np.minimum(last + 1, len(times) - 1)
    return np.where(cleared, times[index], np.nan)


def _course(batch: BatchResult, thresholds: np.ndarray, imv_available: np.ndarray,
            rules: PathwayRules) -> pd.DataFrame:
    t = batch.times
    get = batch.output
    pf, spo2 = get("pf_ratio_mmhg"), get("spo2_pct")
    vl, il6, lym = get("viral_load_log10"), get("il6_pg_ml"), get("lymphocytes_1e9_l")
    cd4, cd8 = get("cd4_blood_1e6_l"), get("cd8_blood_1e6_l")
    inputs = {name: get(name) for name in PATHWAY_INPUTS}
    fate = pathway_and_death(inputs, get("cum_hazard"), t, imv_available, rules, thresholds)
    death_day, path = fate.death_day, fate.pathway
    alive = ~(t[None, :] > np.where(np.isfinite(death_day), death_day, np.inf)[:, None])
    onset = _first(symptomatic(inputs, rules), t)
    admission = path.admission_day
    lowest = np.nanargmin(np.where(np.isfinite(pf), pf, np.inf), axis=1)
    after_lowest = t[None, :] >= t[lowest][:, None]
    recovered = (spo2 >= 94) & (pf >= 300) & after_lowest & alive
    recovery = np.where(np.isfinite(admission) & ~np.isfinite(death_day),
                        _first(recovered, t), np.nan)
    who = path.who.astype(float)
    peak_who = np.nanmax(np.where(alive, who, np.nan), axis=1)
    peak_who = np.where(np.isfinite(death_day), 10.0, peak_who)
    lym_at_admission = _at(lym, t, admission)
    course = pd.DataFrame({
        "symptom_onset_day": onset,
        "admission_day": admission,
        "icu_day": path.icu_day,
        "ventilation_day": path.ventilation_day,
        "discharge_day": path.discharge_day,
        "recovery_day": recovery,
        "death_day": death_day,
        "died": np.isfinite(death_day),
        "hospitalised": np.isfinite(admission),
        "icu": np.isfinite(path.icu_day),
        "icu_indicated": path.icu_indicated,
        "ventilated": np.isfinite(path.ventilation_day),
        "support_at_admission": Pathway.level_names(path.support_at_admission),
        "max_support": Pathway.level_names(path.max_support),
        "peak_who": peak_who,
        "peak_viral_load_log10": np.nanmax(vl, axis=1),
        "peak_viral_load_day": t[np.nanargmax(np.where(np.isfinite(vl), vl, -np.inf), axis=1)],
        "viral_clearance_day": viral_clearance(inputs["viral_rna_log10"], t,
                                               rules.viral_detection_log10),
        "peak_il6_pg_ml": np.nanmax(il6, axis=1),
        "peak_ifn_pg_ml": np.nanmax(inputs["ifn_pg_ml"], axis=1),
        "min_lymphocytes_1e9_l": np.nanmin(lym, axis=1),
        "cd4_nadir_1e6_l": np.nanmin(cd4, axis=1),
        "cd8_nadir_1e6_l": np.nanmin(cd8, axis=1),
        "t_cell_nadir_1e6_l": np.nanmin(cd4 + cd8, axis=1),
        "min_pf_ratio_mmhg": np.nanmin(pf, axis=1),
        "il6_at_admission_pg_ml": _at(il6, t, admission),
        "lymphocytes_at_admission_1e9_l": lym_at_admission,
        "lymphopenia_at_admission": lym_at_admission < LYMPHOPENIA_1E9_L,
        "cum_hazard_end": fate.hazard[:, -1],
        "death_probability": -np.expm1(-fate.hazard[:, -1]),
    })
    return course
