"""The population's data tables (age distribution, comorbidity prevalence, covariate
effects, body weight, calibrated values), each row with its source, read and validated."""

from __future__ import annotations

import csv
import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

import numpy as np

from mscsim._errors import InputError

COMORBIDITIES = ("hypertension", "diabetes", "obesity")
COVARIATES = ("male", *COMORBIDITIES, "age_per_year_over_65")


#: the tables a population is drawn from (the calibrated values aside)
INPUT_TABLES = ("age_distribution.csv", "body_weight.csv", "care_home_share.csv",
                "comorbidity_prevalence.csv", "covariate_effects.csv")


def data_path(name: str) -> Path:
    return Path(str(resources.files("mscsim.population") / "data" / name))


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"missing columns: {', '.join(missing)}", file=path, line=1)
        rows = list(enumerate(reader, start=2))
    for line, row in rows:
        if not (row.get("source") or "").strip():
            raise InputError("every row needs a source", file=path, line=line, column="source")
    return rows


def _number(row: dict[str, str], column: str, path: Path, line: int) -> float:
    try:
        value = float(row[column])
    except (TypeError, ValueError):
        raise InputError(f"'{row[column]}' is not a number", file=path, line=line,
                         column=column) from None
    if not math.isfinite(value):
        raise InputError("value must be finite", file=path, line=line, column=column)
    return value


@dataclass(frozen=True)
class AgeBand:
    low: float
    high: float
    share: float


@functools.lru_cache(maxsize=4)
def age_bands(path: Path | None = None) -> tuple[AgeBand, ...]:
    """Age distribution of infections: bands with population shares (summing to 1)."""
    path = path or data_path("age_distribution.csv")
    bands = []
    for line, row in _rows(path, ("age_low", "age_high", "share", "source")):
        low, high = _number(row, "age_low", path, line), _number(row, "age_high", path, line)
        share = _number(row, "share", path, line)
        if not 0 <= low < high <= 120 or share < 0:
            raise InputError("need 0 <= age_low < age_high <= 120 and share >= 0", file=path,
                             line=line)
        bands.append(AgeBand(low, high, share))
    total = sum(b.share for b in bands)
    if abs(total - 1) > 0.01:
        raise InputError(f"age shares sum to {total:.3f}, not 1", file=path)
    return tuple(AgeBand(b.low, b.high, b.share / total) for b in bands)


ArrayOrFloat = TypeVar("ArrayOrFloat", float, np.ndarray)
Band = tuple[float, float, float]  # (age_low, age_high, fraction), age_low <= age < age_high


def _fraction_band(row: dict[str, str], column: str, path: Path, line: int) -> Band:
    fraction = _number(row, column, path, line)
    if not 0 <= fraction <= 1:
        raise InputError(f"{column} must be in [0, 1]", file=path, line=line, column=column)
    return (_number(row, "age_low", path, line), _number(row, "age_high", path, line),
            fraction)


def band_value(bands: tuple[Band, ...], age: float) -> float:
    """The fraction of the band holding ``age`` (0 outside every band)."""
    return next((fraction for low, high, fraction in bands if low <= age < high), 0.0)


@functools.lru_cache(maxsize=1)
def comorbidity_prevalence() -> dict[str, tuple[Band, ...]]:
    """``condition -> ((age_low, age_high, prevalence), ...)``."""
    path = data_path("comorbidity_prevalence.csv")
    table: dict[str, list[Band]] = {c: [] for c in COMORBIDITIES}
    for line, row in _rows(path, ("condition", "age_low", "age_high", "prevalence", "source")):
        condition = row["condition"].strip()
        if condition not in table:
            raise InputError(f"unknown condition '{condition}' (known: "
                             f"{', '.join(COMORBIDITIES)})", file=path, line=line,
                             column="condition")
        table[condition].append(_fraction_band(row, "prevalence", path, line))
    return {c: tuple(v) for c, v in table.items()}


@functools.lru_cache(maxsize=1)
def covariate_effects() -> tuple[tuple[str, str, float], ...]:
    """``(covariate, parameter, log_effect)`` rows."""
    path = data_path("covariate_effects.csv")
    effects = []
    for line, row in _rows(path, ("covariate", "parameter", "log_effect", "source")):
        covariate = row["covariate"].strip()
        if covariate not in COVARIATES:
            raise InputError(f"unknown covariate '{covariate}' (known: {', '.join(COVARIATES)})",
                             file=path, line=line, column="covariate")
        effects.append((covariate, row["parameter"].strip(),
                        _number(row, "log_effect", path, line)))
    return tuple(effects)


@functools.lru_cache(maxsize=1)
def body_weight() -> dict[tuple[bool, bool], tuple[float, float]]:
    """``(male, obese) -> (mean_kg, sd_kg)`` for adults."""
    path = data_path("body_weight.csv")
    table = {}
    for line, row in _rows(path, ("sex", "obese", "mean_kg", "sd_kg", "source")):
        key = (row["sex"].strip() == "male", row["obese"].strip() == "true")
        table[key] = (_number(row, "mean_kg", path, line), _number(row, "sd_kg", path, line))
    return table


@functools.lru_cache(maxsize=1)
def _care_home_bands() -> tuple[Band, ...]:
    path = data_path("care_home_share.csv")
    return tuple(_fraction_band(row, "share", path, line)
                 for line, row in _rows(path, ("age_low", "age_high", "share", "source")))


#: attack rate in care homes relative to community-dwelling people of the same age
#: (assumption, plausible range 1.5-4: nursing-home shielding ratios 1.9 in Belgium, 2.2 in
#: the UK and 3.1 in Spain, Ioannidis 2021 BMJ Glob Health doi:10.1136/bmjgh-2020-004614;
#: seroprevalence 33-55% in English and Spanish care homes against about 5-16% in
#: the general population, Krutikov 2021 Lancet Healthy Longev, Candel 2021 Age Ageing)
CARE_HOME_ATTACK_RATIO = 2.5


def care_home_population_share(age: ArrayOrFloat) -> ArrayOrFloat:
    """Share of people aged ``age`` who live in a care home (0 outside the table)."""
    if isinstance(age, float | int):
        return band_value(_care_home_bands(), age)
    share = np.zeros(np.shape(age))
    for low, high, fraction in _care_home_bands():
        share[(age >= low) & (age < high)] = fraction
    return share


def care_home_share(age: float) -> float:
    """Share of care-home residents among infections at ``age``: the population share
    weighted by the care homes' higher attack rate."""
    resident = care_home_population_share(age) * CARE_HOME_ATTACK_RATIO
    return resident / (resident + 1.0 - care_home_population_share(age))


#: ceiling of care of care-home residents: most French EHPAD residents with COVID-19 in the
#: first wave were not admitted to intensive care (assumption; their P(ICU) is not published)
CARE_HOME_CEILING = 0.9

CALIBRATION_PROFILES = ("salje", "levin")
DEFAULT_CALIBRATION = "salje"


def calibration_file(profile: str) -> Path:
    """The shipped file of a calibration profile (``docs/population.md``, "Calibration")."""
    if profile not in CALIBRATION_PROFILES:
        raise InputError(f"unknown calibration profile {profile!r}", field="calibration",
                         hint=f"choose one of {', '.join(CALIBRATION_PROFILES)}")
    return data_path("calibrated.json" if profile == DEFAULT_CALIBRATION
                 else f"calibrated_{profile}.json")


@dataclass(frozen=True)
class Calibration:
    """Population-level values fitted by ``calibration/calibrate_population.py``.

    On the log scale, relative to the model's default parameter values:
    ``log p_ifn = log p_ifn0 + ifn_shift + ifn_age_slope * (age - reference_age) + ...`` and
    ``log hazard_multiplier = hazard_intercept + hazard_age_slope * (age - reference_age)
    + knots(age) + ...``, where ``knots`` interpolates ``hazard_knot_values`` linearly between
    ``hazard_knot_ages`` (constant beyond them; none in the default profile).

    ``care_home_residents``: whether the cohort includes care-home residents (share by age
    in ``care_home_share.csv``); their log IFN production is shifted by
    ``care_home_ifn_shift`` (frailty; docs/population.md, "Care-home residents").
    """

    reference_age: float
    ifn_shift: float
    ifn_age_slope: float
    hazard_intercept: float
    hazard_age_slope: float
    source: str
    hazard_knot_ages: tuple[float, ...] = ()
    hazard_knot_values: tuple[float, ...] = ()
    care_home_residents: bool = False
    care_home_ifn_shift: float = 0.0
    ceiling_ages: tuple[float, ...] = ()
    ceiling_probabilities: tuple[float, ...] = ()

    def ceiling_probability(self, age: float, care_home: bool = False) -> float:
        """Probability that invasive ventilation would not be offered (a ceiling of care):
        interpolated linearly between ``ceiling_ages`` (constant beyond them; 0 without
        knots); care-home residents at least ``CARE_HOME_CEILING``."""
        p = float(np.interp(age, self.ceiling_ages, self.ceiling_probabilities)) \
            if self.ceiling_ages else 0.0
        return max(p, CARE_HOME_CEILING) if care_home else p

    def log_hazard_age(self, age: ArrayOrFloat) -> ArrayOrFloat:
        """The age terms of the log hazard multiplier."""
        linear = self.hazard_intercept + self.hazard_age_slope * (age - self.reference_age)
        if not self.hazard_knot_ages:
            return linear
        knots = np.interp(age, self.hazard_knot_ages, self.hazard_knot_values)
        return linear + (float(knots) if isinstance(age, float | int) else knots)

    @classmethod
    def load(cls, profile: str = DEFAULT_CALIBRATION, *, path: Path | None = None
             ) -> Calibration:
        """The values of a named profile (``salje`` or ``levin``), or of the file ``path``."""
        path = path or calibration_file(profile)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            values = raw["values"]
            knot_ages = tuple(float(a) for a in values.get("hazard_knot_ages", ()))
            knot_values = tuple(float(v) for v in values.get("hazard_knot_values", ()))
            if len(knot_ages) != len(knot_values) or list(knot_ages) != sorted(knot_ages):
                raise ValueError("hazard_knot_ages must be increasing and as many as "
                                 "hazard_knot_values")
            return cls(**{k: float(values[k]) for k in (
                "reference_age", "ifn_shift", "ifn_age_slope", "hazard_intercept",
                "hazard_age_slope")}, source=str(raw.get("source", "")),
                hazard_knot_ages=knot_ages, hazard_knot_values=knot_values,
                care_home_residents=bool(values.get("care_home_residents", False)),
                care_home_ifn_shift=float(values.get("care_home_ifn_shift", 0.0)),
                ceiling_ages=tuple(float(a) for a in values.get("ceiling_ages", ())),
                ceiling_probabilities=tuple(float(p) for p in
                                            values.get("ceiling_probabilities", ())))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(f"cannot read calibrated values: {err}", file=path) from None
