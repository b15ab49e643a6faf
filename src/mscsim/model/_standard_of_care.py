"""Background standard of care by era: which of the model's optional therapies are on.

The model carries dexamethasone and IL-6 receptor blockade (tocilizumab) as mechanisms
switched by the parameters ``dexamethasone`` and ``tocilizumab`` (0 or 1). A population is
generated, and a trial's patients are simulated, under one named standard of care; a trial
whose design does not name one gets that of the midpoint of its enrolment period.

Era boundaries (the dates the evidence that changed practice became public):

- 2020-06-16: RECOVERY announces that dexamethasone lowers 28-day mortality in patients on
  oxygen or invasive ventilation (Horby et al. 2021 NEJM doi:10.1056/NEJMoa2021436).
- 2021-02-11: RECOVERY reports that tocilizumab lowers mortality in hypoxic patients with
  systemic inflammation, most of them also on corticosteroids (RECOVERY Collaborative Group
  2021 Lancet doi:10.1016/S0140-6736(21)00676-0); WHO recommended IL-6 receptor blockers on
  2021-07-06.
"""

from __future__ import annotations

import datetime as dt

from mscsim._errors import InputError

#: each standard of care as the values of the model's therapy switches
STANDARDS_OF_CARE: dict[str, dict[str, float]] = {
    "none": {"dexamethasone": 0.0, "tocilizumab": 0.0},
    "dexamethasone": {"dexamethasone": 1.0, "tocilizumab": 0.0},
    "dexamethasone+tocilizumab": {"dexamethasone": 1.0, "tocilizumab": 1.0},
}
#: (first day, standard of care) of each era, in order
ERAS: tuple[tuple[dt.date, str], ...] = (
    (dt.date.min, "none"),
    (dt.date(2020, 6, 16), "dexamethasone"),
    (dt.date(2021, 2, 11), "dexamethasone+tocilizumab"),
)


def therapy_parameters(name: str, *, field: str = "standard_of_care") -> dict[str, float]:
    """The therapy switches of standard of care ``name``."""
    if name not in STANDARDS_OF_CARE:
        raise InputError(f"unknown standard of care {name!r}; choose one of "
                         f"{', '.join(STANDARDS_OF_CARE)}", field=field)
    return dict(STANDARDS_OF_CARE[name])


def standard_of_care_on(day: dt.date) -> str:
    """The standard of care in force on ``day``."""
    current = ERAS[0][1]
    for start, name in ERAS:
        if day >= start:
            current = name
    return current


def standard_of_care_of_period(start: dt.date, end: dt.date) -> str:
    """The standard of care at the midpoint of an enrolment period."""
    if end < start:
        raise InputError(f"the enrolment period ends ({end}) before it starts ({start})",
                         field="enrolment_period")
    return standard_of_care_on(start + (end - start) / 2)
