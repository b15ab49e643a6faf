"""Endpoint definitions: from per-patient outcome values to the data an analysis needs.

Days are counted from randomisation. Every endpoint belongs to a *kind* (``binary``,
``survival``, ``ordinal``, ``rank``, ``win``, ``change``, ``worst_rank``) whose analyser is
looked up in the registry of :mod:`mscsim.trial._analysis`, and has an :class:`Estimand`
(ICH E9(R1)): population, variable, intercurrent events and their strategies, summary
measure. A change endpoint's kind follows its strategy for death: ``worst_rank`` for the
default ``composite``, ``change`` (ANCOVA) for ``while_alive`` and ``survivors``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim.trial._spec import DEATH_STRATEGIES, WIN_COMPONENTS, TrialSpec, endpoint_names

BIOMARKER_LABELS = {"il6": ("IL-6", "pg/mL"), "tnf": ("TNF-alpha", "pg/mL"),
                    "il10": ("IL-10", "pg/mL"), "lymphocytes": ("lymphocytes", "1e9/L")}


#: the population of every estimand
POPULATION = ("patients randomised (alive at randomisation, meeting the design's "
              "eligibility), analysed in the arm they were randomised to")
#: rescue therapy: background care is fixed by the design and the same in both arms, and the
#: model gives no other therapy after randomisation, so the event does not occur
RESCUE = ("rescue therapy", "treatment policy (does not occur in the model: background care "
          "is fixed by the design, the same in both arms)")
IMV_POLICY = ("invasive ventilation", "treatment policy: the value whatever the ventilation")
DEATH_WORDS = {
    "composite": "composite (worst rank): a death before day {day} ranks below every "
                 "survivor, the earlier death worse",
    "while_alive": "while alive: the last value alive on or before day {day}",
    "survivors": "survivors only: deaths before day {day} left out (a sensitivity analysis: "
                 "it conditions on survival, which MSC may change, so an arm that loses its "
                 "sickest patients looks better)",
}


@dataclass(frozen=True)
class Estimand:
    """An endpoint's estimand in the terms of ICH E9(R1).

    Attributes:
        population: who the effect is about.
        variable: the value per patient.
        intercurrent_events: ``(event, strategy)`` pairs (death, invasive ventilation,
            rescue therapy).
        summary_measure: the population-level contrast of MSC against control.
        death_strategy: change endpoints only: ``composite``, ``while_alive`` or
            ``survivors`` (:data:`mscsim.trial._spec.DEATH_STRATEGIES`).
        sensitivity: the analysis reported beside the main one, in words (None: none).
    """

    population: str
    variable: str
    intercurrent_events: tuple[tuple[str, str], ...]
    summary_measure: str
    death_strategy: str | None = None
    sensitivity: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"population": self.population, "variable": self.variable,
                "intercurrent_events": [{"event": e, "strategy": s}
                                        for e, s in self.intercurrent_events],
                "summary_measure": self.summary_measure,
                "death_strategy": self.death_strategy, "sensitivity": self.sensitivity}


@dataclass(frozen=True)
class Endpoint:
    """One endpoint.

    Attributes:
        name: identifier used in specs and outputs.
        kind: analyser kind.
        label: human-readable definition.
        favours_msc: which side of the null favours MSC (``"below"`` or ``"above"``).
        estimand: what is estimated (:class:`Estimand`).
        components: the win ratio's comparisons, most important first (empty otherwise).
    """

    name: str
    kind: str
    label: str
    favours_msc: str
    estimand: Estimand
    components: tuple[str, ...] = ()

    @property
    def is_change(self) -> bool:
        return "_change_d" in self.name

    def with_death_strategy(self, strategy: str | None) -> Endpoint:
        """The change endpoint analysed with another strategy for death (None: as it is)."""
        if strategy is None or strategy == self.estimand.death_strategy:
            return self
        if not self.is_change:
            raise InputError(f"{self.name} is not a change endpoint: death is part of its "
                             "definition", field="endpoints.death_strategy")
        return _change(self.name, strategy)

    @property
    def sensitivity(self) -> Endpoint | None:
        """The analysis reported beside this one: survivors only beside a death-aware
        strategy, and the worst-rank analysis beside a survivors-only one."""
        if not self.is_change:
            return None
        return self.with_death_strategy(
            "composite" if self.estimand.death_strategy == "survivors" else "survivors")

    def data(self, values: pd.DataFrame, follow_up: float) -> dict[str, np.ndarray]:
        """Per-patient arrays for the analyser (keys depend on the kind)."""
        death = values["death_time"].to_numpy(float)
        died = np.isfinite(death)
        if self.is_change:
            marker, day = self.name.split("_change_d")
            baseline = values["pf0" if marker == "pf" else f"{marker}_d0"].to_numpy(float)
            if self.estimand.death_strategy == "while_alive":
                return {"outcome": values[f"{marker}_last_d{day}"].to_numpy(float),
                        "baseline": baseline}
            outcome = values[f"{marker}_d{day}"].to_numpy(float)
            if self.estimand.death_strategy == "survivors":
                return {"outcome": outcome, "baseline": baseline}
            dead = died & (death <= float(day))
            change = np.where(dead, np.nan, outcome - baseline)
            better = 1.0 if _higher_is_better(marker) else -1.0
            return {"value": better * change, "change": change,
                    "death": np.where(dead, death, np.nan)}
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
            arrays = {"death_d28": np.where(dead28, death, np.inf),
                      "vfd_d28": values["vfd_d28"].to_numpy(float),
                      "who_d28": values["who_d28"].to_numpy(float)}
            return {c: arrays[c] for c in self.components}
        if self.kind in ("ordinal", "rank"):
            return {"value": values[self.name].to_numpy(float)}
        raise AssertionError(self.kind)


def _higher_is_better(marker: str) -> bool:
    return marker in ("pf", "lymphocytes", "il10")


def _estimand(variable: str, death: str, measure: str, imv: tuple[str, str] = IMV_POLICY,
              **extra: Any) -> Estimand:
    return Estimand(POPULATION, variable, (("death", death), imv, RESCUE), measure, **extra)


def _change(name: str, strategy: str) -> Endpoint:
    marker, day = name.split("_change_d")
    what = "P/F (mmHg)" if marker == "pf" else "{} ({})".format(*BIOMARKER_LABELS[marker])
    variable = f"change in {what} from randomisation to day {day}"
    if strategy == "while_alive":
        variable += " or to the last value alive before an earlier death"
    death = DEATH_WORDS[strategy].format(day=day)
    if strategy == "composite":
        estimand = _estimand(variable, death, "probability that an MSC patient does better "
                             "than a control patient (ties count one half; 0.5: no effect)",
                             death_strategy=strategy,
                             sensitivity="survivors only: ANCOVA of the survivors' change")
        return Endpoint(name, "worst_rank", f"{variable}; deaths before day {day} ranked "
                        "worst, the earlier worse", "above", estimand)
    sensitivity = ("worst rank: deaths below every survivor" if strategy == "survivors"
                   else "survivors only: ANCOVA of the survivors' change")
    estimand = _estimand(variable, death, "difference in the mean change, adjusted for the "
                         "value at randomisation (MSC - control)", death_strategy=strategy,
                         sensitivity=sensitivity)
    suffix = ", survivors" if strategy == "survivors" else ", every patient"
    return Endpoint(name, "change", variable + suffix,
                    "above" if _higher_is_better(marker) else "below", estimand)


#: each comparison of the win ratio in words: (label, how it decides)
WIN_WORDS = {"death_d28": ("death by day 28", "the later death wins"),
             "vfd_d28": ("ventilator-free days to day 28", "more days win"),
             "who_d28": ("the WHO scale on day 28", "the lower level wins")}


def win_endpoint(components: Sequence[str]) -> Endpoint:
    """``win_ratio_d28`` with its comparisons in the order ``components`` (most important
    first; names of :data:`WIN_COMPONENTS`)."""
    order = tuple(components)
    words = ", then ".join(f"{WIN_WORDS[c][0]} ({WIN_WORDS[c][1]})" for c in order)
    death = ("composite: the first comparison (the later death wins)" if order[0] == "death_d28"
             else f"composite: comparison {order.index('death_d28') + 1} of {len(order)} "
                  "(the later death wins)" if "death_d28" in order
             else "treatment policy: not a comparison of this hierarchy")
    ventilation = ("composite: through the ventilator-free days" if "vfd_d28" in order
                   else "treatment policy")
    return Endpoint("win_ratio_d28", "win", f"win ratio of the hierarchy: {words}", "above",
                    _estimand(f"every MSC patient against every control: {words}", death,
                              "win ratio (MSC wins / control wins)",
                              ("invasive ventilation", ventilation)), order)


def _define(name: str) -> Endpoint:
    if name.startswith("mortality_d"):
        day = name.rsplit("_d", 1)[1]
        return Endpoint(name, "binary", f"all-cause mortality by day {day}", "below",
                        _estimand(f"death from any cause by day {day}", "the variable itself",
                                  "risk ratio (MSC / control)"))
    if name == "survival":
        return Endpoint(name, "survival", "time to death within follow-up", "below",
                        _estimand("time to death from any cause, censored at the end of "
                                  "follow-up", "the variable itself",
                                  "hazard ratio (MSC / control)"))
    if name.startswith("who_d"):
        day = name[5:]
        return Endpoint(name, "ordinal", f"WHO clinical progression scale (0-10, 10 = dead) "
                        f"on day {day}", "below",
                        _estimand(f"WHO clinical progression scale on day {day}",
                                  "composite: level 10, the worst",
                                  "common odds ratio of a higher (worse) level",
                                  ("invasive ventilation", "composite: part of the scale "
                                   "(levels 7-9)")))
    if name == "time_to_improvement":
        return Endpoint(name, "survival", "time to clinical improvement (WHO >= 2 points "
                        "better than at randomisation, or discharged: WHO <= 3); deaths "
                        "censored at the end of follow-up", "above",
                        _estimand("time to a sustained improvement (2 WHO levels, or "
                                  "discharge)", "composite: a death before improving is "
                                  "never an improvement (stays in the risk set to the end of "
                                  "follow-up)", "subdistribution hazard ratio (Fine-Gray; "
                                  "MSC / control)"))
    if name == "vfd_d28":
        return Endpoint(name, "rank", "ventilator-free days to day 28 (alive and not on "
                        "invasive ventilation in the care pathway; 0 if dead by day 28)", "above",
                        _estimand("days alive and free of invasive ventilation in days 0-28",
                                  "composite: 0 days", "Hodges-Lehmann shift in days "
                                  "(MSC - control)",
                                  ("invasive ventilation", "composite: days on it are not "
                                   "free")))
    if name == "daoh_d28":
        return Endpoint(name, "rank", "days alive and out of hospital to day 28 (discharged "
                        "alive in the care pathway; -1 if dead by day 28, below every "
                        "survivor)", "above",
                        _estimand("days alive and out of hospital in days 0-28",
                                  "composite: -1, below every survivor (a survivor in "
                                  "hospital throughout scores 0)",
                                  "Hodges-Lehmann shift in days (MSC - control)",
                                  ("invasive ventilation", "treatment policy: in hospital, "
                                   "not out of it")))
    if name == "win_ratio_d28":
        return win_endpoint(WIN_COMPONENTS)
    match = re.fullmatch(r"(\w+)_change_d(\d+)", name)
    if match and (match.group(1) == "pf" or match.group(1) in BIOMARKER_LABELS):
        return _change(name, DEATH_STRATEGIES[0])
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


def endpoint_of(spec: TrialSpec, name: str) -> Endpoint:
    """Endpoint ``name`` as ``spec`` analyses it (its death strategy for a change endpoint,
    the order of the comparisons for the win ratio).

    Raises:
        InputError: unknown name.
    """
    if name == "win_ratio_d28":
        get_endpoint(name)  # an unknown name is refused the same way
        return win_endpoint(spec.endpoints.win_ratio_order)
    return get_endpoint(name).with_death_strategy(spec.death_strategy(name))
