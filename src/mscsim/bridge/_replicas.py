"""In silico replicas of the published studies: a trial spec generated from each dataset row.

Each row of the evidence dataset (``studies.csv``) with a mortality comparison
(:func:`mscsim.evidence.comparisons`) becomes a :class:`mscsim.trial.TrialSpec` when its design
can be expressed in the model; the others are listed with the reason. The mapping from the
dataset's words to the model's eligibility rules is :data:`SEVERITY_RULES` (documented in
``docs/bridge.md``); every choice the dataset does not pin down is recorded in the replica's
``assumptions``.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim.evidence import comparisons, load_outcomes, load_studies
from mscsim.trial import MAX_FOLLOW_UP_DAYS, MORTALITY_DAYS, TrialSpec, spec_from_dict

#: Eligibility of each severity class of the dataset, in the trial spec's terms (P/F in mmHg,
#: judged on the untreated course at randomisation). Assumptions: WHO severe = hypoxaemic
#: (SpO2 < 94% or P/F < 300) and not ventilated; critical = ARDS with P/F < 200 (ventilated
#: when the study says so); moderate = admitted but P/F >= 300 at randomisation.
SEVERITY_RULES: dict[str, dict[str, Any]] = {
    "moderate": {"hypoxaemia": False, "ards": ["none"], "ventilated": False},
    "severe": {"hypoxaemia": True, "ventilated": False},
    "critical": {"hypoxaemia": True, "ards": ["moderate", "severe"]},
    "mixed": {"hypoxaemia": True},
}
#: days between infusions when a study gives the number of infusions but not their days:
#: the median interval of the studies that report them (assumption)
ASSUMED_INTERVAL_DAYS = 3.0
#: randomisation within this window after the anchor (days), as the shipped trial specs: after
#: admission, or for studies of ventilated patients after intubation (the care pathway of
#: model v2 intubates days after admission, so a window from admission finds almost nobody)
ENROLMENT_WINDOW = (0.0, 2.0)
CONTROL_ARM, MSC_ARM = "control", "msc"


@dataclass(frozen=True)
class Replica:
    """One published study and its virtual replica (``spec``; None when not replicable)."""

    study_id: str
    pub_date: dt.date
    spec: TrialSpec | None
    reason: str = ""
    assumptions: tuple[str, ...] = ()
    observed: dict[str, int] = field(default_factory=dict)  # ai, n1, ci, n2
    timepoint_days: int = 0

    @property
    def replicable(self) -> bool:
        return self.spec is not None

    def row(self) -> dict[str, Any]:
        """A flat table row (``replicas.csv``)."""
        out: dict[str, Any] = {"study_id": self.study_id, "pub_date": self.pub_date.isoformat(),
                               "replicable": self.replicable, "reason": self.reason,
                               "assumptions": "; ".join(self.assumptions),
                               "timepoint_days": self.timepoint_days or None}
        out.update({k: self.observed.get(k) for k in ("ai", "n1", "ci", "n2")})
        if self.spec is not None:
            arm = self.spec.treated
            el = self.spec.eligibility
            out.update({"dose_cells_per_kg": arm.dose_cells_per_kg, "dose_cells": arm.dose_cells,
                        "doses": arm.doses, "interval_days": arm.interval_days,
                        "hypoxaemia": el.hypoxaemia,
                        "ards": "/".join(el.ards) if el.ards else "any",
                        "ventilated": el.ventilated})
        return out


def study_seed(seed: int, study_id: str) -> int:
    """The trial seed of a study's replica: keyed by the study's identity, not its position."""
    state = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(study_id.encode()),))
    return int(state.generate_state(1)[0])


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _offsets(row: pd.Series, n_doses: int) -> tuple[float, float, list[str]]:
    """First dose day and interval of ``n_doses`` infusions, with the assumptions made."""
    text = row["dose_days"]
    if _missing(text) or not str(text).strip():
        if n_doses == 1:
            return 0.0, 0.0, []
        return 0.0, ASSUMED_INTERVAL_DAYS, [
            f"infusion days not reported: day 0 then every {ASSUMED_INTERVAL_DAYS:g} days"]
    days = sorted(float(d) for d in str(text).split(";") if d.strip())
    if len(days) != n_doses:
        raise ValueError(f"dose_days lists {len(days)} days for {n_doses} infusions")
    if n_doses == 1:
        return days[0], 0.0, []
    gaps = np.diff(days)
    interval = float(np.mean(gaps))
    notes = [] if np.allclose(gaps, interval) else [
        f"uneven infusion days {text} as an even interval of {interval:g} days"]
    return days[0], interval, notes


def _eligibility(row: pd.Series) -> tuple[dict[str, Any], list[str]]:
    severity = str(row["severity"])
    rule = dict(SEVERITY_RULES.get(severity, SEVERITY_RULES["mixed"]))
    notes = [] if severity in SEVERITY_RULES else [f"severity '{severity}' read as mixed"]
    vent = str(row["ventilated"])
    if vent == "yes":  # on invasive ventilation with ARDS (Berlin moderate or severe, P/F < 200)
        rule.update({"ventilated": True, "ards": ["moderate", "severe"]})
    elif vent == "no":
        rule["ventilated"] = False
    elif "ventilated" not in rule:
        notes.append(f"ventilation status '{vent}': either")
    return rule, notes


def _enrolment(eligibility: dict[str, Any]) -> dict[str, Any]:
    anchor = "ventilation" if eligibility.get("ventilated") is True else "admission"
    return {"anchor": anchor, "window_days": list(ENROLMENT_WINDOW)}


def _nearest_endpoint(days: int) -> str:
    fits = [d for d in MORTALITY_DAYS if d <= days]
    return f"mortality_d{max(fits) if fits else min(MORTALITY_DAYS)}"


def build_replica(row: pd.Series, table: pd.Series | None, *, seed: int,
                  n_infections: int, population_seed: int) -> Replica:
    """The replica of one study row; ``table`` is its mortality comparison (or None)."""
    sid = str(row["study_id"])
    date = pd.Timestamp(row["pub_date"]).date()

    def refuse(reason: str) -> Replica:
        obs = {} if table is None else {k: int(table[k]) for k in ("ai", "n1", "ci", "n2")}
        tp = 0 if table is None else int(table["timepoint_days"])
        return Replica(sid, date, None, reason, observed=obs, timepoint_days=tp)

    if str(row["product"]) != "cells":
        return refuse(f"cell-free product ({row['product']}): the model has no "
                      "pharmacokinetics for secretome or vesicles")
    if table is None:
        return refuse("no mortality outcome reported")
    if _missing(row["n_doses"]):
        return refuse("number of infusions not reported")
    per_kg, absolute = row["dose_cells_per_kg"], row["dose_cells_abs"]
    if _missing(per_kg) and _missing(absolute):
        return refuse("dose not reported")
    days = int(table["timepoint_days"])
    if days > MAX_FOLLOW_UP_DAYS:
        return refuse(f"mortality reported at day {days}, beyond the model's "
                      f"{MAX_FOLLOW_UP_DAYS:g}-day follow-up")
    n1, n2 = int(table["n1"]), int(table["n2"])
    if n1 < 1 or n2 < 1:
        return refuse("an arm has no patients")
    n_doses = int(row["n_doses"])
    try:
        first, interval, notes = _offsets(row, n_doses)
    except ValueError as err:
        return refuse(str(err))
    eligibility, more = _eligibility(row)
    notes += more
    if str(table["comparison"]) != "main":
        notes.append(f"comparison '{table['comparison']}' (all active arms against control)")
    if str(row["design"]) != "RCT":
        notes.append(f"{row['design']} study replicated as randomised")
    if str(row["control"]) != "placebo":
        notes.append(f"control '{row['control']}' simulated as no cells")
    arm: dict[str, Any] = {"name": MSC_ARM, "doses": n_doses, "interval_days": interval,
                           "first_dose_day": first}
    if not _missing(per_kg):
        arm["dose_cells_per_kg"] = float(per_kg)
    else:
        arm["dose_cells"] = float(absolute)
    data = {
        "seed": study_seed(seed, sid),
        "sample_size": n1 + n2,
        "follow_up_days": float(days),
        "trial": {"name": sid, "title": f"replica of {sid}",
                  "mirrors": f"{row['first_author']} {row['year']}, doi:{row['doi']}",
                  "notes": "; ".join(notes)},
        "population": {"source": "generate", "n_infections": n_infections,
                       "seed": population_seed},
        "eligibility": eligibility,
        "enrolment": _enrolment(eligibility),
        "arms": [arm, {"name": CONTROL_ARM, "control": True}],
        "allocation": {"ratio": {MSC_ARM: n1, CONTROL_ARM: n2}, "method": "blocks",
                       "block_size": n1 + n2},
        "endpoints": {"primary": _nearest_endpoint(days), "secondary": []},
    }
    try:
        spec = spec_from_dict(data)
    except InputError as err:
        return refuse(f"design cannot be expressed: {err}")
    return Replica(sid, date, spec, "", tuple(notes),
                   {"ai": int(table["ai"]), "n1": n1, "ci": int(table["ci"]), "n2": n2}, days)


def build_replicas(*, seed: int = 1, n_infections: int = 20000, population_seed: int = 1,
                   studies: pd.DataFrame | None = None,
                   outcomes: pd.DataFrame | None = None) -> list[Replica]:
    """A replica (or the reason there is none) for every study of the evidence dataset.

    Arguments:
        seed: the bridge seed; each replica's trial seed is derived from it and the study id.
        n_infections, population_seed: the shared virtual population named in every spec.
        studies, outcomes: dataset frames (default: the shipped dataset).
    """
    studies = load_studies() if studies is None else studies
    outcomes = load_outcomes(studies=studies) if outcomes is None else outcomes
    table = comparisons("mortality", studies=studies, outcomes=outcomes)
    by_id = {str(r["study_id"]): r for _, r in table.iterrows()}
    out = [build_replica(row, by_id.get(str(row["study_id"])), seed=seed,
                         n_infections=n_infections, population_seed=population_seed)
           for _, row in studies.iterrows()]
    return sorted(out, key=lambda r: (r.pub_date, r.study_id))


def parse_cutoff(text: str | dt.date) -> dt.date:
    """The cut-off date (``YYYY-MM-DD``).

    Raises:
        InputError: not a valid ISO date.
    """
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise InputError(f"not a date: {text!r}", field="cutoff",
                         hint="give the cut-off as YYYY-MM-DD, e.g. 2021-12-31") from None


def split_by_cutoff(replicas: list[Replica], cutoff: dt.date) -> tuple[list[Replica],
                                                                      list[Replica]]:
    """Replicable studies published up to ``cutoff`` (calibration) and after it (prediction).

    Raises:
        InputError: no replicable study is published up to the cut-off.
    """
    usable = [r for r in replicas if r.replicable]
    before = [r for r in usable if r.pub_date <= cutoff]
    after = [r for r in usable if r.pub_date > cutoff]
    if not before:
        first = min((r.pub_date for r in usable), default=None)
        raise InputError(f"no replicable study is published on or before {cutoff}",
                         field="cutoff", hint=f"the first is published {first}; choose a "
                                              "later cut-off")
    return before, after
