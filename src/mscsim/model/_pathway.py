"""The care pathway: hospital admission, respiratory support, intensive care, discharge and the
WHO clinical progression scale, as explicit rules applied to a simulated course.

The ODE model describes physiology (oxygenation, lung injury, inflammation, organ
dysfunction). What clinicians do about it has memory — a patient is put on oxygen after
hypoxaemia has lasted some hours, weaned only after it has resolved for a day — so it cannot
be an algebraic rule of the current state. These rules run over the output grid of one or many
trajectories (vectorised over patients, stepping through time). Every threshold and duration
is a parameter of the model's table (value, unit, source), so a result's model hash covers them.

Support levels (:data:`SUPPORT_LEVELS`): 0 none, 1 low-flow oxygen, 2 high-flow nasal oxygen
or non-invasive ventilation, 3 invasive mechanical ventilation. A condition is *sustained*
when it has held at every grid point of the stated duration, the current one included.

Rules (thresholds in the parameter table, names in brackets):

- Admission: the first time either hypoxaemia (SpO2 < ``spo2_oxygen``) has been sustained
  ``admit_hypoxaemia_days``, or pneumonia without hypoxaemia (symptomatic, lung damage >=
  ``admit_damage_threshold``) has been sustained ``admit_pneumonia_days`` (admitted without
  oxygen: WHO level 4).
- Symptomatic (:func:`symptomatic`): type-I IFN >= ``ifn_symptom_threshold`` (the systemic
  flu-like symptoms of early infection) or IL-6 >= ``il6_symptom_threshold`` (the inflammatory
  symptoms of patients whose interferon response is weak).
- In hospital, escalation to oxygen when SpO2 < ``spo2_oxygen`` is sustained
  ``escalate_oxygen_days``; to HFNC/NIV when P/F < ``pf_hfnc`` is sustained
  ``escalate_hfnc_days``; to invasive ventilation when P/F < ``pf_imv`` is sustained
  ``escalate_imv_days`` or, on HFNC/NIV, P/F < ``pf_niv_failure`` is sustained
  ``niv_failure_days`` (failure of non-invasive support). Never above the patient's ceiling of
  care (``imv_available`` = 0: at most HFNC/NIV, on the ward).
- De-escalation one level at a time: extubation when P/F >= ``pf_extubation`` is sustained
  ``wean_days``; HFNC/NIV to oxygen when P/F >= ``pf_wean_hfnc`` is sustained ``wean_days``;
  oxygen off when SpO2 >= ``spo2_oxygen`` is sustained ``wean_days``.
- Intensive care (patients with ``imv_available`` = 1): admitted at the first escalation to
  HFNC/NIV or invasive ventilation, or on clinical deterioration, when organ dysfunction has
  stayed at least ``od_icu`` for ``icu_deterioration_days`` (developing extra-pulmonary organ
  dysfunction in a patient on the ward, whatever the oxygen need); discharged to the ward
  after ``icu_step_down_days`` neither on HFNC/NIV or ventilation nor above ``od_icu``.
- Discharge alive: out of intensive care, off oxygen for ``discharge_off_oxygen_days``, at
  least ``min_stay_days`` after admission and ``post_icu_ward_days`` after leaving intensive
  care.
- WHO level while alive (Marshall et al. 2020 Lancet Infect Dis doi:10.1016/S1473-3099(20)
  30483-7): outside hospital 2 when symptomatic, 1 when
  PCR-detectable viral RNA (``viral_rna_log10``) is at least ``viral_detection_log10``, 0
  otherwise; in hospital 4 (no
  oxygen), 5 (oxygen), 6 (HFNC/NIV), 7 (ventilated, P/F >= 150), 8 (ventilated, P/F < 150),
  9 (ventilated, P/F < 150 with organ failure: organ dysfunction >= ``od_organ_failure`` or
  IL-6 >= ``il6_organ_failure``); 10 from the day of death.
- Death under support: each increment of the ODE's cumulative death hazard accrued while the
  patient is on invasive ventilation is multiplied by ``imv_hazard_factor`` (ventilation
  relieves the hypoxaemic part of the risk that the ODE's P/F-driven hazard carries). The
  support comes from the pathway run without death, so the hazard stays proportional to the
  patient's hazard multiplier (which the population calibration relies on); the patient dies
  when that hazard reaches the patient's threshold, and the pathway is run again up to then
  (:func:`pathway_and_death`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

#: support level names, index = level (the strings of ``support_at_admission``/``max_support``)
SUPPORT_LEVELS = ("none", "oxygen", "hfnc_niv", "imv")
NONE, OXYGEN, HFNC_NIV, IMV = range(4)
#: model outputs the pathway reads
PATHWAY_INPUTS = ("pf_ratio_mmhg", "spo2_pct", "lung_damage_frac", "il6_pg_ml", "ifn_pg_ml",
                  "viral_rna_log10", "organ_dysfunction")
WHO_DEAD = 10


@dataclass(frozen=True)
class PathwayRules:
    """The pathway's thresholds (units as in the parameter table: %, mmHg, fraction, pg/mL,
    log10 copies/mL; durations in days)."""

    spo2_oxygen: float
    admit_hypoxaemia_days: float
    admit_damage_threshold: float
    admit_pneumonia_days: float
    escalate_oxygen_days: float
    pf_hfnc: float
    escalate_hfnc_days: float
    pf_imv: float
    escalate_imv_days: float
    pf_niv_failure: float
    niv_failure_days: float
    pf_extubation: float
    pf_wean_hfnc: float
    wean_days: float
    od_icu: float
    icu_deterioration_days: float
    icu_step_down_days: float
    discharge_off_oxygen_days: float
    min_stay_days: float
    post_icu_ward_days: float
    il6_symptom_threshold: float
    ifn_symptom_threshold: float
    viral_detection_log10: float
    od_organ_failure: float
    il6_organ_failure: float
    imv_hazard_factor: float

    @classmethod
    def from_parameters(cls, values: Mapping[str, float]) -> PathwayRules:
        """The rules held in a model's parameter values (defaults or a patient's).

        Raises:
            KeyError: the model lacks one of the pathway's parameters.
        """
        return cls(**{f.name: float(values[f.name]) for f in fields(cls)})


def has_pathway(parameter_names: set[str] | Mapping[str, float]) -> bool:
    """Whether a model defines every parameter of the care pathway."""
    return all(f.name in parameter_names for f in fields(PathwayRules))


@dataclass
class Pathway:
    """The care pathway of ``n`` patients on an output grid of ``t`` times.

    ``support``, ``who`` (n, t) integer arrays (``who`` is 10 from death on; ``support`` is -1
    outside hospital); ``icu`` (n, t) bool; per patient (days after infection, NaN when the
    event does not happen): ``admission_day``, ``icu_day``, ``ventilation_day`` (first
    invasive ventilation), ``discharge_day``; ``support_at_admission`` and ``max_support``
    (levels, -1 for never admitted); ``icu_indicated`` (bool): the rule for intensive care
    was met in hospital, whether or not a ceiling of care kept the patient on the ward.
    """

    support: np.ndarray
    who: np.ndarray
    icu: np.ndarray
    admission_day: np.ndarray
    icu_day: np.ndarray
    ventilation_day: np.ndarray
    discharge_day: np.ndarray
    support_at_admission: np.ndarray
    max_support: np.ndarray
    icu_indicated: np.ndarray

    @staticmethod
    def level_names(levels: np.ndarray) -> np.ndarray:
        """Support levels as strings (``none`` ... ``imv``), None where not admitted."""
        names = np.array([*SUPPORT_LEVELS, None], dtype=object)
        return names[np.where(levels < 0, len(SUPPORT_LEVELS), levels)]


def symptomatic(outputs: Mapping[str, np.ndarray], rules: PathwayRules) -> np.ndarray:
    """Where each trajectory is symptomatic (bool, the shape of ``outputs``' arrays): type-I
    IFN (``ifn_pg_ml``) at least ``ifn_symptom_threshold`` or IL-6 (``il6_pg_ml``) at least
    ``il6_symptom_threshold``."""
    return ((np.asarray(outputs["ifn_pg_ml"], dtype=float) >= rules.ifn_symptom_threshold)
            | (np.asarray(outputs["il6_pg_ml"], dtype=float) >= rules.il6_symptom_threshold))


def _steps(days: float, dt: float) -> int:
    """Grid points a condition must hold to count as sustained for ``days``."""
    return max(1, int(np.ceil(days / dt - 1e-9)))


def _first_time(mask: np.ndarray, times: np.ndarray) -> np.ndarray:
    hit = mask.any(axis=1)
    return np.where(hit, times[mask.argmax(axis=1)], np.nan)


def care_pathway(outputs: Mapping[str, np.ndarray], times: np.ndarray,
                 imv_available: np.ndarray, rules: PathwayRules,
                 death_day: np.ndarray | None = None) -> Pathway:
    """Apply the care pathway to ``n`` trajectories.

    Arguments:
        outputs: each of :data:`PATHWAY_INPUTS`, an (n, t) array on ``times``.
        times: the output grid (days after infection), evenly spaced.
        imv_available: per patient, 1 when invasive ventilation would be offered.
        death_day: per patient, day of death (NaN: survives); the pathway stops there.
    """
    times = np.asarray(times, dtype=float)
    pf = np.asarray(outputs["pf_ratio_mmhg"], dtype=float)
    n, n_t = pf.shape
    dt = float(times[1] - times[0]) if n_t > 1 else 1.0
    spo2 = np.asarray(outputs["spo2_pct"], dtype=float)
    damage = np.asarray(outputs["lung_damage_frac"], dtype=float)
    il6 = np.asarray(outputs["il6_pg_ml"], dtype=float)
    viral = np.asarray(outputs["viral_rna_log10"], dtype=float)
    organ = np.asarray(outputs["organ_dysfunction"], dtype=float)
    death = np.full(n, np.inf) if death_day is None else \
        np.where(np.isfinite(death_day), death_day, np.inf)
    ceiling = np.where(np.asarray(imv_available, dtype=float) >= 0.5, IMV, HFNC_NIV)

    symptoms = symptomatic(outputs, rules)
    hypoxaemic = spo2 < rules.spo2_oxygen
    pneumonia = symptoms & (damage >= rules.admit_damage_threshold)
    need = {  # (condition, grid points it must be sustained)
        "admit_hypoxaemia": (hypoxaemic, _steps(rules.admit_hypoxaemia_days, dt)),
        "admit_pneumonia": (pneumonia, _steps(rules.admit_pneumonia_days, dt)),
        "oxygen": (hypoxaemic, _steps(rules.escalate_oxygen_days, dt)),
        "hfnc": (pf < rules.pf_hfnc, _steps(rules.escalate_hfnc_days, dt)),
        "imv": (pf < rules.pf_imv, _steps(rules.escalate_imv_days, dt)),
        "niv_failure": (pf < rules.pf_niv_failure, _steps(rules.niv_failure_days, dt)),
        "deteriorating": (organ >= rules.od_icu,
                          _steps(rules.icu_deterioration_days, dt)),
        "extubate": (pf >= rules.pf_extubation, _steps(rules.wean_days, dt)),
        "wean_hfnc": (pf >= rules.pf_wean_hfnc, _steps(rules.wean_days, dt)),
        "wean_oxygen": (~hypoxaemic, _steps(rules.wean_days, dt)),
    }
    runs = {k: np.zeros(n, dtype=int) for k in need}
    on_hfnc_run = np.zeros(n, dtype=int)  # sustained P/F < niv threshold counted on HFNC/NIV
    niv_steps = need["niv_failure"][1]
    step_down = _steps(rules.icu_step_down_days, dt)
    off_oxygen_steps = _steps(rules.discharge_off_oxygen_days, dt)

    support = np.full((n, n_t), -1, dtype=np.int8)
    icu = np.zeros((n, n_t), dtype=bool)
    level = np.full(n, -1, dtype=int)          # -1: not in hospital
    admitted_at = np.full(n, np.nan)
    discharged_at = np.full(n, np.nan)
    in_icu = np.zeros(n, dtype=bool)
    icu_indicated = np.zeros(n, dtype=bool)
    icu_left_at = np.full(n, -np.inf)
    low_support_run = np.zeros(n, dtype=int)   # grid points in ICU without a reason to stay
    off_oxygen_run = np.zeros(n, dtype=int)
    admission_level = np.full(n, -1, dtype=int)

    for j in range(n_t):
        now = times[j]
        for key, (cond, _) in need.items():
            runs[key] = np.where(cond[:, j], runs[key] + 1, 0)
        sustained = {key: runs[key] >= steps for key, (_, steps) in need.items()}
        alive = now < death
        # admission
        eligible = (level < 0) & np.isnan(admitted_at) & alive
        by_hypoxaemia = eligible & sustained["admit_hypoxaemia"]
        by_pneumonia = eligible & ~by_hypoxaemia & sustained["admit_pneumonia"]
        admit = by_hypoxaemia | by_pneumonia
        level = np.where(by_hypoxaemia, OXYGEN, np.where(by_pneumonia, NONE, level))
        admitted_at = np.where(admit, now, admitted_at)
        inside = level >= 0
        # escalation (never above the ceiling), then de-escalation one level at a time
        on_hfnc_run = np.where((level == HFNC_NIV) & need["niv_failure"][0][:, j],
                               on_hfnc_run + 1, 0)
        target = level.copy()
        target = np.where(inside & (target < OXYGEN) & sustained["oxygen"], OXYGEN, target)
        target = np.where(inside & (target < HFNC_NIV) & sustained["hfnc"], HFNC_NIV, target)
        to_imv = inside & (target < IMV) & (sustained["imv"] | (on_hfnc_run >= niv_steps))
        target = np.where(to_imv, IMV, target)
        target = np.where(inside, np.minimum(target, ceiling), target)
        escalated = target > level
        wean = inside & ~escalated
        target = np.where(wean & (level == IMV) & sustained["extubate"], HFNC_NIV, target)
        target = np.where(wean & (level == HFNC_NIV) & sustained["wean_hfnc"], OXYGEN, target)
        target = np.where(wean & (level == OXYGEN) & sustained["wean_oxygen"], NONE, target)
        changed = target != level
        for key in ("extubate", "wean_hfnc", "wean_oxygen"):  # a new level needs a new run
            runs[key] = np.where(changed, 0, runs[key])
        level = target
        # intensive care
        high_support = level >= HFNC_NIV
        critical_now = high_support | need["deteriorating"][0][:, j]
        indicated = inside & alive & (high_support | sustained["deteriorating"])
        icu_indicated |= indicated
        enter_icu = indicated & ~in_icu & (ceiling == IMV)
        in_icu |= enter_icu
        low_support_run = np.where(in_icu & ~critical_now, low_support_run + 1, 0)
        leave_icu = in_icu & (low_support_run >= step_down)
        in_icu &= ~leave_icu
        icu_left_at = np.where(leave_icu, now, icu_left_at)
        # discharge alive
        off_oxygen_run = np.where(inside & (level == NONE), off_oxygen_run + 1, 0)
        discharge = (inside & ~in_icu & alive & (off_oxygen_run >= off_oxygen_steps)
                     & (now - admitted_at >= rules.min_stay_days - 1e-9)
                     & (now - icu_left_at >= rules.post_icu_ward_days - 1e-9))
        discharged_at = np.where(discharge, now, discharged_at)
        admission_level = np.where(admit, level, admission_level)
        record = inside & alive & ~discharge
        support[:, j] = np.where(record, level, -1)
        icu[:, j] = in_icu & record
        level = np.where(discharge | ~alive, -1, level)
        in_icu &= ~(discharge | ~alive)

    who = _who(support, pf, organ, il6, viral, symptoms, rules)
    who[times[None, :] >= death[:, None]] = WHO_DEAD
    max_support = np.where(np.isfinite(admitted_at), support.max(axis=1), -1)
    return Pathway(support=support, who=who, icu=icu, admission_day=admitted_at,
                   icu_day=_first_time(icu, times),
                   ventilation_day=_first_time(support == IMV, times),
                   discharge_day=discharged_at,
                   support_at_admission=admission_level.astype(int),
                   max_support=max_support.astype(int), icu_indicated=icu_indicated)


def supported_hazard(cum_hazard: np.ndarray, support: np.ndarray,
                     imv_hazard_factor: float) -> np.ndarray:
    """The cumulative death hazard (n, t) with each increment accrued on invasive ventilation
    scaled by ``imv_hazard_factor``; the increment from one grid time to the next takes the
    support level at the first of them."""
    cum = np.asarray(cum_hazard, dtype=float)
    scale = np.where(np.asarray(support)[:, :-1] == IMV, imv_hazard_factor, 1.0)
    out = np.empty_like(cum)
    out[:, :1] = cum[:, :1]
    out[:, 1:] = cum[:, :1] + np.cumsum(np.diff(cum, axis=1) * scale, axis=1)
    return out


def death_time(cum_hazard: np.ndarray, times: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """First time each row's cumulative hazard reaches its threshold (linear interpolation
    between output times; NaN when it never does)."""
    crossed = cum_hazard >= threshold[:, None]
    hit = crossed.any(axis=1)
    j = crossed.argmax(axis=1)
    rows = np.arange(len(threshold))
    j_prev = np.maximum(j - 1, 0)
    h0, h1 = cum_hazard[rows, j_prev], cum_hazard[rows, j]
    t0, t1 = times[j_prev], times[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(h1 > h0, (threshold - h0) / (h1 - h0), 0.0)
    return np.where(hit, t0 + np.clip(frac, 0, 1) * (t1 - t0), np.nan)


@dataclass
class Fate:
    """The care pathway of patients up to death, with the hazard that decided it:
    ``hazard`` (n, t) the cumulative death hazard under support (:func:`supported_hazard`),
    ``death_day`` (NaN: survives the simulated course)."""

    pathway: Pathway
    hazard: np.ndarray
    death_day: np.ndarray


def hazard_under_support(outputs: Mapping[str, np.ndarray], cum_hazard: np.ndarray,
                         times: np.ndarray, imv_available: np.ndarray,
                         rules: PathwayRules) -> np.ndarray:
    """The ODE's cumulative hazard ``cum_hazard`` (n, t) under the support of the pathway run
    without death (:func:`supported_hazard`): what decides each patient's death."""
    untimed = care_pathway(outputs, np.asarray(times, dtype=float), imv_available, rules)
    return supported_hazard(cum_hazard, untimed.support, rules.imv_hazard_factor)


def pathway_and_death(outputs: Mapping[str, np.ndarray], cum_hazard: np.ndarray,
                      times: np.ndarray, imv_available: np.ndarray, rules: PathwayRules,
                      thresholds: np.ndarray) -> Fate:
    """Each patient's death and care pathway: the pathway without death gives the support
    under which the ODE's hazard ``cum_hazard`` accrues; the patient dies where that hazard
    reaches ``thresholds`` (unit-exponential draws); the pathway then stops there."""
    times = np.asarray(times, dtype=float)
    hazard = hazard_under_support(outputs, cum_hazard, times, imv_available, rules)
    death_day = death_time(hazard, times, np.asarray(thresholds, dtype=float))
    return Fate(pathway=care_pathway(outputs, times, imv_available, rules, death_day),
                hazard=hazard, death_day=death_day)


def _who(support: np.ndarray, pf: np.ndarray, organ: np.ndarray, il6: np.ndarray,
         viral: np.ndarray, symptomatic: np.ndarray, rules: PathwayRules) -> np.ndarray:
    outside = np.where(symptomatic, 2, np.where(viral >= rules.viral_detection_log10, 1, 0))
    failure = (organ >= rules.od_organ_failure) | (il6 >= rules.il6_organ_failure)
    ventilated = np.where(pf >= 150, 7, np.where(failure, 9, 8))
    inside = np.select([support == NONE, support == OXYGEN, support == HFNC_NIV,
                        support == IMV], [4, 5, 6, ventilated], default=0)
    return np.where(support >= 0, inside, outside).astype(np.int8)
