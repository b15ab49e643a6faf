"""Shared fixtures: the flagship model and the reference severe patient's courses."""

from __future__ import annotations

import pytest

from mscsim.model import Model, load_model
from mscsim.simulate import Regimen, SimulationResult, output_times, simulate

REFERENCE = "reference-severe"


@pytest.fixture(scope="session")
def model() -> Model:
    return load_model()


@pytest.fixture(scope="session")
def untreated(model: Model) -> SimulationResult:
    return simulate(model, patient=REFERENCE, times=output_times(60, 4))


@pytest.fixture(scope="session")
def dose_day(untreated: SimulationResult) -> float:
    daily = untreated.table[untreated.table.time_days % 1 == 0]
    below = daily[daily.pf_ratio_mmhg < 300]
    return float(below.time_days.iloc[0])


@pytest.fixture(scope="session")
def treated(model: Model, dose_day: float) -> SimulationResult:
    return simulate(model, patient=REFERENCE, times=output_times(60, 4),
                    regimen=Regimen.of([(dose_day, 1e6)]))

