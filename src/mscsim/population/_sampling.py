"""Drawing one virtual patient: covariates, random effects and a death threshold.

Every draw for patient ``i`` comes from ``SeedSequence(seed, spawn_key=(i, stream, ...))``,
so a patient is the same whatever the chunk or worker that makes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from mscsim._random import seeded_generator
from mscsim.model import Model
from mscsim.population._tables import (
    COMORBIDITIES,
    Calibration,
    age_bands,
    band_value,
    body_weight,
    care_home_share,
    comorbidity_prevalence,
    covariate_effects,
)

COVARIATE_STREAM, EFFECTS_STREAM, DEATH_STREAM, CARE_HOME_STREAM, CEILING_STREAM = 0, 1, 2, 3, 4
#: parameters with log-normal inter-individual variability (sd from the model's table)
VARIABLE_PARAMETERS = ("p_ifn", "k_cd8_kill", "p_il6_mac", "lymphocyte_baseline_factor")
CHILD_WEIGHT_KG_PER_YEAR = 3.2  # assumption: about 3.5 kg at birth, adult weight by 18 y


def rng_for(seed: int, patient: int, stream: int, attempt: int = 0) -> np.random.Generator:
    return seeded_generator(seed, patient, stream, attempt)


@dataclass(frozen=True)
class Covariates:
    age: float
    male: bool
    hypertension: bool
    diabetes: bool
    obesity: bool
    body_weight_kg: float
    care_home: bool = False

    def as_dict(self) -> dict[str, float | bool]:
        return {"age": self.age, "male": self.male, "hypertension": self.hypertension,
                "diabetes": self.diabetes, "obesity": self.obesity,
                "body_weight_kg": self.body_weight_kg, "care_home": self.care_home}


def draw_covariates(seed: int, patient: int, calibration: Calibration) -> Covariates:
    """Covariates of patient ``patient``; care-home residence only in a profile whose cohort
    includes care-home residents (its own stream, so the other covariates are the same in
    every profile)."""
    covariates = sample_covariates(rng_for(seed, patient, COVARIATE_STREAM))
    if not calibration.care_home_residents:
        return covariates
    share = care_home_share(covariates.age)
    resident = bool(rng_for(seed, patient, CARE_HOME_STREAM).random() < share)
    return replace(covariates, care_home=resident)


def sample_covariates(rng: np.random.Generator) -> Covariates:
    bands = age_bands()
    band = bands[rng.choice(len(bands), p=[b.share for b in bands])]
    age = float(rng.uniform(band.low, band.high))
    male = bool(rng.random() < 0.485)  # INSEE 2021: 31.76 of 65.63 million are men
    flags = {}
    for condition in COMORBIDITIES:
        prevalence = band_value(comorbidity_prevalence()[condition], age)
        flags[condition] = bool(rng.random() < prevalence)
    mean, sd = body_weight()[(male, flags["obesity"])]
    if age < 18:
        mean = min(mean, 3.5 + CHILD_WEIGHT_KG_PER_YEAR * age)
        sd = 0.15 * mean
    weight = float(max(2.5, rng.normal(mean, sd)))
    return Covariates(age=age, male=male, body_weight_kg=weight, **flags)


def random_effects(rng: np.random.Generator, model: Model) -> dict[str, float]:
    """Standard-normal draws, one per variable parameter (scaled later by each sd_log)."""
    return {name: float(rng.standard_normal()) for name in VARIABLE_PARAMETERS
            if model.parameter_table and name in model.parameter_table}


def death_threshold(seed: int, patient: int) -> float:
    """Unit-exponential threshold: the patient dies when the cumulative hazard reaches it."""
    return float(rng_for(seed, patient, DEATH_STREAM).exponential())


def patient_parameters(model: Model, covariates: Covariates, effects: Mapping[str, float],
                       calibration: Calibration) -> dict[str, float]:
    """Model parameter values of one patient from covariates, random effects and the
    population calibration (all effects multiplicative, i.e. additive on the log scale)."""
    table = model.required_parameter_table()
    log_values = {name: math.log(table[name].value) for name in VARIABLE_PARAMETERS}
    for name, z in effects.items():
        log_values[name] += table[name].variability.sd_log * z
    age_offset = covariates.age - calibration.reference_age
    log_values["p_ifn"] += calibration.ifn_shift + calibration.ifn_age_slope * age_offset
    if covariates.care_home:
        log_values["p_ifn"] += calibration.care_home_ifn_shift
    log_hazard = calibration.log_hazard_age(covariates.age)
    flags = {"male": covariates.male, "hypertension": covariates.hypertension,
             "diabetes": covariates.diabetes, "obesity": covariates.obesity}
    for covariate, parameter, log_effect in covariate_effects():
        if covariate == "age_per_year_over_65":
            amount = max(0.0, covariates.age - 65.0)
        else:
            amount = 1.0 if flags[covariate] else 0.0
        if parameter == "hazard_multiplier":
            log_hazard += log_effect * amount
        else:
            log_values[parameter] = log_values.get(parameter, math.log(table[parameter].value)) \
                + log_effect * amount
    values = {name: math.exp(v) for name, v in log_values.items()}
    values["hazard_multiplier"] = math.exp(log_hazard)
    values["body_weight_kg"] = covariates.body_weight_kg
    return values


def ceiling_draw(seed: int, patient: int) -> float:
    """The patient's uniform draw for the ceiling of care (its own stream, so a change of the
    ceiling probabilities changes no other draw)."""
    return float(rng_for(seed, patient, CEILING_STREAM).random())


def draw_parameters(model: Model, seed: int, patient: int, covariates: Covariates,
                    calibration: Calibration, attempt: int = 0) -> dict[str, float]:
    """Model parameters of ``patient`` at redraw ``attempt``: its covariates with the random
    effects of that attempt (what a population and the benchmarks simulate)."""
    effects = random_effects(rng_for(seed, patient, EFFECTS_STREAM, attempt), model)
    values = patient_parameters(model, covariates, effects, calibration)
    if model.parameter_table and "imv_available" in model.parameter_table:
        ceiling = calibration.ceiling_probability(covariates.age, covariates.care_home)
        values["imv_available"] = 0.0 if ceiling_draw(seed, patient) < ceiling else 1.0
    return values
