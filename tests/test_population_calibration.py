"""The shipped calibration still reproduces its targets on a fresh cohort.

The thresholds are the acceptance bands of docs/calibration/population_fit.md widened by the
Monte Carlo error of 3,000 infections; a model change without recalibration fails here.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from mscsim.model import load_model
from mscsim.population import generate_population, summarise


@pytest.fixture(scope="module")
def summary() -> dict:
    population = generate_population(3000, seed=424242, workers=2, chunk_size=500)
    return summarise(population)


def test_hospitalised_fraction_and_age(summary) -> None:
    # target 2.9% (Salje 2020); binomial sd at n=3000 is about 0.3 percentage points
    assert 0.018 <= summary["hospitalised_frac"] <= 0.040
    assert 62 <= summary["hospitalised_mean_age"] <= 80


def test_kinetics_and_biomarkers(summary) -> None:
    assert 4.0 <= summary["incubation_median_days"] <= 6.0
    assert 0.5 <= summary["admitted_lymphopenia_frac"] <= 1.0
    il6 = summary["peak_il6_median_pg_ml"]
    assert 3.7 <= il6["not_hospitalised"] <= 37.8  # mild range, Herold 2020
    assert il6["ventilated"] is None or 27 <= il6["ventilated"] <= 1000


def test_deaths_concentrate_in_the_old(summary) -> None:
    assert summary["deaths_mean_age"] is None or summary["deaths_mean_age"] >= 65
    by_age = summary["ifr_by_age"]
    assert by_age["80+"] > by_age["50-59"]


def test_calibration_file_matches_this_model() -> None:
    path = resources.files("mscsim.population") / "data" / "calibrated.json"
    data = json.loads(path.read_text())
    assert "cohorts" in data["source"]
    assert np.isfinite(list(data["values"].values())).all()
    assert load_model().parameter_table["p_ifn"].variability.sd_log == 2.2
