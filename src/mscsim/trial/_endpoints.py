"""Endpoint definitions: from per-patient outcome values to the data an analysis needs.

Days are counted from randomisation. Every endpoint belongs to a *kind* (``binary``,
``survival``, ``ordinal``, ``rank``, ``win``, ``change``) whose analyser is looked up in
the registry of :mod:`mscsim.trial._analysis`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim.trial._spec import endpoint_names

BIOMARKER_LABELS = {"il6": ("IL-6", "pg/mL"), "tnf": ("TNF-alpha", "pg/mL"),
                    "il10": ("IL-10", "pg/mL"), "lymphocytes": ("lymphocytes", "1e9/L")}


@dataclass(frozen=True)
class Endpoint:
    """One endpoint.

    Attributes:
        name: identifier used in specs and outputs.
        kind: analyser kind.
        label: human-readable definition.
        favours_msc: which side of the null favours MSC (``"below"`` or ``"above"``).
    """

    name: str
    kind: str
    label: str
    favours_msc: str

    def data(self, values: pd.DataFrame, follow_up: float) -> dict[str, np.ndarray]:
        """Per-patient arrays for the analyser (keys depend on the kind)."""
        death = values["death_time"].to_numpy(float)
        died = np.isfinite(death)
        if self.kind == "binary":
            horizon = float(self.name.rsplit("_d", 1)[1])
            return {"event": (died & (death <= horizon)).astype(float)}
        if self.name == "survival":
            return {"time": np.where(died, death, follow_up), "event": died.astype(float)}
        if self.name == "time_to_improvement":
            t = values["improve_time"].to_numpy(float)
            hit = np.isfinite(t)
            return {"time": np.where(hit, t, follow_up), "event": hit.astype(float)}
        if self.kind == "win":  # the hierarchy of win_ratio_d28, most important first
            dead28 = died & (death <= 28)
            return {"death": np.where(dead28, death, np.inf),
                    "vfd": values["vfd_d28"].to_numpy(float),
                    "who": values["who_d28"].to_numpy(float)}
        if self.kind in ("ordinal", "rank"):
            return {"value": values[self.name].to_numpy(float)}
        if self.kind == "change":
            marker, day = self.name.split("_change_d")
            source = "pf" if marker == "pf" else marker
            return {"outcome": values[f"{source}_d{day}"].to_numpy(float),
                    "baseline": values["pf0" if marker == "pf" else f"{source}_d0"]
                    .to_numpy(float)}
        raise AssertionError(self.kind)


def _define(name: str) -> Endpoint:
    if name.startswith("mortality_d"):
        day = name.rsplit("_d", 1)[1]
        return Endpoint(name, "binary", f"all-cause mortality by day {day}", "below")
    if name == "survival":
        return Endpoint(name, "survival", "time to death within follow-up", "below")
    if name.startswith("who_d"):
        day = name[5:]
        return Endpoint(name, "ordinal", f"WHO clinical progression scale (0-10, 10 = dead) "
                        f"on day {day}", "below")
    if name == "time_to_improvement":
        return Endpoint(name, "survival", "time to clinical improvement (WHO >= 2 points "
                        "better than at randomisation, or discharged: WHO <= 3); deaths "
                        "censored at the end of follow-up", "above")
    if name == "vfd_d28":
        return Endpoint(name, "rank", "ventilator-free days to day 28 (alive and not on "
                        "invasive ventilation in the care pathway; 0 if dead by day 28)", "above")
    if name == "daoh_d28":
        return Endpoint(name, "rank", "days alive and out of hospital to day 28 (discharged "
                        "alive in the care pathway; -1 if dead by day 28, below every "
                        "survivor)", "above")
    if name == "win_ratio_d28":
        return Endpoint(name, "win", "win ratio of the hierarchy: death by day 28 (the later "
                        "death wins), then ventilator-free days to day 28, then the WHO scale "
                        "on day 28", "above")
    match = re.fullmatch(r"(\w+)_change_d(\d+)", name)
    if match:
        marker, day = match.groups()
        if marker == "pf":
            return Endpoint(name, "change", f"change in P/F (mmHg) from randomisation to "
                            f"day {day}, survivors", "above")
        label, unit = BIOMARKER_LABELS[marker]
        better = "above" if marker in ("lymphocytes", "il10") else "below"
        return Endpoint(name, "change", f"change in {label} ({unit}) from randomisation to "
                        f"day {day}, survivors", better)
    raise InputError(f"unknown endpoint '{name}'", field="endpoints")


ENDPOINTS: dict[str, Endpoint] = {n: _define(n) for n in endpoint_names()}


def get_endpoint(name: str) -> Endpoint:
    """An endpoint by name.

    Raises:
        InputError: unknown name.
    """
    if name not in ENDPOINTS:
        raise InputError(f"unknown endpoint '{name}' (known: {', '.join(ENDPOINTS)})",
                         field="endpoints")
    return ENDPOINTS[name]
