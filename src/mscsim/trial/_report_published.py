"""The report's section "Published versus this virtual trial": the mirrored trial's deaths
from the evidence dataset beside the virtual trial's, in a table and one sentence. Drawn
from :func:`mscsim.trial._published.comparison_table`."""

from __future__ import annotations

import html
from collections.abc import Hashable
from typing import Any

import pandas as pd

from mscsim._errors import InputError
from mscsim._html import html_table
from mscsim.trial._published import (
    SPEC_FIELD,
    VERIFIED_WORDS,
    PublishedStudy,
    comparison_table,
    headline,
    published_study,
)

TITLE = "Published versus this virtual trial"


def _count(deaths: Any, n: Any) -> str:
    """``5 / 21 (23.8%)``; an en dash without counts."""
    if deaths is None or n is None or pd.isna(deaths) or pd.isna(n):
        return "–"
    share = f" ({100 * int(deaths) / int(n):.1f}%)" if int(n) else ""
    return f"{int(deaths)} / {int(n)}{share}"


def _verified(tag: str, *, long: bool = False) -> str:
    """The dataset's verification tag in words (short for a cell, long for a sentence)."""
    return VERIFIED_WORDS.get(tag, (tag, tag))[int(long)]


def _simulated_when(row: dict[Hashable, Any]) -> str:
    day = row["simulated_day"]
    when = f"by day {float(day):g}"
    if float(day) < row["published_day"]:
        when += f" (end of follow-up; published day {row['published_day']})"
    return when


def _sentence(study: PublishedStudy, table: pd.DataFrame, arms: dict[str, str],
              follow_up: float) -> str:
    """The headline comparison in words."""
    row = headline(study, follow_up)
    if row is None:
        return (f"The evidence dataset holds no mortality counts for {study.label} "
                f"({study.study_id}).")
    text = (f"Published ({study.label}): deaths by day {row.day}, {row.deaths_treated} of "
            f"{row.n_treated} {arms['treated']} patients and {row.deaths_control} of "
            f"{row.n_control} {arms['control']} patients (counts "
            f"{_verified(row.verified, long=True)})")
    ours = {r["arm"]: r for r in table.to_dict("records") if r["published_day"] == row.day}
    treated, control = ours[arms["treated"]], ours[arms["control"]]
    if pd.isna(treated["simulated_n"]):
        return text + "; this folder holds no single virtual trial (mscsim trial run) to " \
                      "put beside it."
    day = float(treated["simulated_day"])
    return (text + f"; this virtual trial: {int(treated['simulated_deaths'])} of "
            f"{int(treated['simulated_n'])} {arms['treated']} and "
            f"{int(control['simulated_deaths'])} of {int(control['simulated_n'])} "
            f"{arms['control']} patients by day {day:g}"
            + (" (its end of follow-up)" if day < row.day else "") + ".")


def published_section(spec: dict[str, Any], patients: pd.DataFrame | None) -> str:
    """HTML of the section; one line when the design links no published study."""
    study_id = (spec.get("trial") or {}).get("evidence_study")
    if not study_id:
        return (f"<p class='note'>No published trial is linked to this design "
                f"({SPEC_FIELD}), so no published result is shown beside it.</p>")
    try:
        study = published_study(str(study_id))
    except InputError:  # a trial folder written against another version of the dataset
        return (f"<p class='note'>This design links {SPEC_FIELD} = "
                f"{html.escape(repr(str(study_id)))}, a study the evidence dataset of this "
                f"version does not have; no published result is shown beside it.</p>")
    arms = {"treated": next(a["name"] for a in spec["arms"] if not a["control"]),
            "control": next(a["name"] for a in spec["arms"] if a["control"])}
    follow_up = float(spec["follow_up_days"])
    table = comparison_table(study, arms, follow_up, patients)
    ran = patients is not None
    rows = [[f"day {r['published_day']}: {r['definition']}", r["arm"],
             _count(r["published_deaths"], r["published_n"]), _verified(r["verified"]),
             *([_count(r["simulated_deaths"], r["simulated_n"]), _simulated_when(r)]
               if ran else [])]
            for r in table.to_dict("records")]
    parts = [f"<h2>{TITLE}</h2>",
             f"<p>{html.escape(_sentence(study, table, arms, follow_up))}</p>"]
    if rows:
        parts.append(html_table(rows, ["published outcome", "arm", "published deaths / n",
                                       "published counts from",
                                       *(["virtual trial deaths / n", "virtual trial counted"]
                                         if ran else [])]))
        sources = dict.fromkeys((r.source, r.verified) for r in study.deaths)
        parts.append("<p class='note'>Published counts from the evidence dataset (study "
                     f"{html.escape(study.study_id)}, named by {html.escape(SPEC_FIELD)}); "
                     "sources: " + "; ".join(f"{html.escape(source)} ({_verified(tag)})"
                                            for source, tag in sources) + ".</p>")
    if study.other_outcomes:
        parts.append("<p class='note'>The dataset also holds, not simulated by the model: "
                     + html.escape("; ".join(study.other_outcomes)) + ".</p>")
    return "".join(parts)
