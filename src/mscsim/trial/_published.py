"""The published result of the trial a design mirrors, beside the virtual trial's (issue #15).

A design names its published trial with ``trial.evidence_study``: a ``study_id`` of the
evidence dataset (``mscsim/evidence/data/studies.csv``), checked when the spec is validated.
The report reads that study's mortality counts (``outcomes.csv``, the primary comparison,
every time point) with the verification tag the dataset gives them, and counts the virtual
trial's deaths by the same day, or by the end of follow-up where the published day lies
beyond it. The dataset is read through :mod:`mscsim.evidence`'s public names only.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mscsim._errors import InputError

STUDIES_FILE = "mscsim/evidence/data/studies.csv"
OUTCOMES_FILE = "mscsim/evidence/data/outcomes.csv"
SPEC_FIELD = "trial.evidence_study"

#: what the dataset's verification tags mean (its README), for a reader of the report:
#: a short form for a table cell and a sentence
VERIFIED_WORDS = {
    "primary": ("primary report", "read in the primary report"),
    "secondary": ("secondary source", "read in a secondary source (a review's table); may "
                                      "differ from the primary report"),
    "unverified": ("UNVERIFIED", "unverified: recalled, not seen in any source by the "
                                 "dataset's curators; use with care"),
}


@functools.lru_cache(maxsize=1)
def evidence_study_ids() -> tuple[str, ...]:
    """The ``study_id`` of every study of the shipped evidence dataset."""
    from mscsim.evidence import load_studies

    return tuple(str(sid) for sid in load_studies()["study_id"])


def check_evidence_study(study_id: str) -> str:
    """``study_id`` if the evidence dataset has it.

    Raises:
        ValueError: naming ``studies.csv`` and the closest ids (spec validation turns it into
            an :class:`~mscsim.InputError` naming the field ``trial.evidence_study``).
    """
    ids = evidence_study_ids()
    if study_id in ids:
        return study_id
    close = [sid for sid in ids if sid.lower() == study_id.lower()] or \
        difflib.get_close_matches(study_id, ids, n=3)
    known = f"did you mean {' or '.join(close)}?" if close else \
        "study ids: " + ", ".join(ids)
    raise ValueError(f"'{study_id}' is not a study_id of the evidence dataset "
                     f"({STUDIES_FILE}); {known}")


@dataclass(frozen=True)
class PublishedDeaths:
    """A published trial's deaths by one day, per arm, as the evidence dataset gives them."""

    day: int
    definition: str
    deaths_treated: int
    n_treated: int
    deaths_control: int
    n_control: int
    verified: str
    source: str


@dataclass(frozen=True)
class PublishedStudy:
    """The study a design mirrors: a citation label and its mortality counts by day."""

    study_id: str
    label: str
    deaths: tuple[PublishedDeaths, ...]
    other_outcomes: tuple[str, ...]


def published_study(study_id: str) -> PublishedStudy:
    """The mortality counts of ``study_id`` (primary comparison, by day) and, in words, the
    other outcomes the dataset holds for it.

    Raises:
        InputError: the dataset has no such study (naming the field and ``studies.csv``).
    """
    from mscsim.evidence import load_outcomes, load_studies

    studies = load_studies()
    found = studies[studies["study_id"] == study_id]
    if found.empty:
        raise InputError(f"'{study_id}' is not a study_id of the evidence dataset "
                         f"({STUDIES_FILE})", field=SPEC_FIELD)
    study = found.iloc[0]
    outcomes = load_outcomes(studies=studies)
    rows = outcomes[(outcomes["study_id"] == study_id) & outcomes["primary"]]
    records = rows.sort_values("timepoint_days", kind="stable").to_dict("records")
    deaths = tuple(PublishedDeaths(
        day=int(r["timepoint_days"]), definition=str(r["outcome_definition"]),
        deaths_treated=int(r["events_treated"]), n_treated=int(r["n_treated"]),
        deaths_control=int(r["events_control"]), n_control=int(r["n_control"]),
        verified=str(r["verified"]), source=str(r["source"]))
        for r in records if r["outcome"] == "mortality")
    others = tuple(f"{str(r['outcome']).replace('_', ' ')} by day {int(r['timepoint_days'])} "
                   f"({int(r['events_treated'])}/{int(r['n_treated'])} vs "
                   f"{int(r['events_control'])}/{int(r['n_control'])}; {r['verified']})"
                   for r in records if r["outcome"] != "mortality")
    surname = str(study["first_author"]).split()[0]
    return PublishedStudy(study_id, f"{surname} {int(study['year'])}", deaths, others)


def simulated_day(published_day: int, follow_up: float) -> float:
    """The day the virtual trial's deaths are counted by: the published day, or the end of
    follow-up where the published day lies beyond it."""
    return float(min(published_day, follow_up))


def simulated_deaths(patients: pd.DataFrame, arm: str, day: float) -> tuple[int, int]:
    """Deaths by ``day`` (after randomisation) and patients randomised in ``arm``."""
    death = patients.loc[patients["arm"] == arm, "death_time"].to_numpy(float)
    return int(np.sum(death <= day)), int(death.size)


def comparison_table(study: PublishedStudy, arms: dict[str, str], follow_up: float,
                     patients: pd.DataFrame | None) -> pd.DataFrame:
    """One row per published time point and arm: published deaths beside the virtual trial's.

    Arguments:
        study: from :func:`published_study`.
        arms: ``{"treated": name, "control": name}``, the virtual trial's arm names.
        follow_up: the virtual trial's follow-up (days).
        patients: the virtual trial's patients (``arm``, ``death_time``); ``None`` for a
            folder without a run (the virtual columns are then empty).

    Returns:
        Columns ``published_day``, ``definition``, ``arm``, ``published_deaths``,
        ``published_n``, ``verified``, ``simulated_day``, ``simulated_deaths``,
        ``simulated_n`` (the last three missing without a run).
    """
    rows = []
    for row in study.deaths:
        day = simulated_day(row.day, follow_up)
        for side, deaths, n in (("treated", row.deaths_treated, row.n_treated),
                                ("control", row.deaths_control, row.n_control)):
            simulated = simulated_deaths(patients, arms[side], day) if patients is not None \
                else (None, None)
            rows.append({"published_day": row.day, "definition": row.definition,
                         "arm": arms[side], "published_deaths": deaths, "published_n": n,
                         "verified": row.verified,
                         "simulated_day": day if patients is not None else None,
                         "simulated_deaths": simulated[0], "simulated_n": simulated[1]})
    return pd.DataFrame(rows, columns=["published_day", "definition", "arm",
                                       "published_deaths", "published_n", "verified",
                                       "simulated_day", "simulated_deaths", "simulated_n"])


def headline(study: PublishedStudy, follow_up: float) -> PublishedDeaths | None:
    """The published time point a sentence compares: the one nearest the end of follow-up
    (the later of two as near)."""
    if not study.deaths:
        return None
    return min(study.deaths, key=lambda r: (abs(r.day - follow_up), -r.day))
