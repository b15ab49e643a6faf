"""Numerical contracts of simulation: back ends agree, dose convention, mass balance,
zero dose, batch statuses. Parametrized over the back-end registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mscsim import InputError, SimulationError
from mscsim.model import Model
from mscsim.simulate import BACKENDS, Regimen, SolverOptions, Status, simulate, simulate_batch

from .conftest import REFERENCE, backend_params

WEIGHT_KG = 70.0
# Relative error with an absolute floor: below the floor a difference is numerical noise
# (e.g. one cell of MSC, or 1e-9 of a fraction), not disagreement.
FLOORS = {"msc_lung_cells": 1.0, "msc_total_cells": 1.0}
DEFAULT_FLOOR = 1e-9
TIGHT = SolverOptions(rtol=1e-10, atol=1e-12)
THREE_DOSES = Regimen.of([(7, 1e6), (10, 1e6), (13, 1e6)])


def max_relative_error(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, float]:
    errors = {}
    for column in a.columns:
        if column == "time_days":
            continue
        x, y = a[column].to_numpy(), b[column].to_numpy()
        floor = FLOORS.get(column, DEFAULT_FLOOR)
        errors[column] = float(np.max(np.abs(x - y) / np.maximum(np.abs(y), floor)))
    return errors


@pytest.mark.parametrize("regimen", [Regimen.none(), THREE_DOSES], ids=["untreated", "3 doses"])
def test_roadrunner_and_scipy_agree_within_1e4_at_daily_points(model: Model, regimen) -> None:
    rr = simulate(model, patient=REFERENCE, days=60, regimen=regimen, options=TIGHT)
    sp = simulate(model, patient=REFERENCE, days=60, regimen=regimen, options=TIGHT,
                  backend="scipy")
    errors = max_relative_error(rr.table, sp.table)
    assert max(errors.values()) <= 1e-4, errors


@pytest.mark.parametrize("backend", backend_params(sorted(BACKENDS)))
def test_value_at_dose_time_is_after_the_bolus(model: Model, backend: str) -> None:
    t = simulate(model, patient=REFERENCE, days=10, backend=backend,
                 regimen=Regimen.of([(7, 1e6)])).table.set_index("time_days")
    assert t.msc_total_cells.loc[6] == 0
    assert t.msc_total_cells.loc[7] == pytest.approx(1e6 * WEIGHT_KG, rel=1e-12)


@pytest.mark.parametrize("backend", backend_params(sorted(BACKENDS)))
def test_msc_mass_balance(model: Model, backend: str) -> None:
    outputs = ["msc_total_cells", "msc_cleared_cells", "msc_lung_cells"]
    t = simulate(model, patient=REFERENCE, days=30, backend=backend, regimen=THREE_DOSES,
                 outputs=outputs, options=TIGHT).table
    infused = np.select([t.time_days >= 13, t.time_days >= 10, t.time_days >= 7],
                        [3, 2, 1], 0) * 1e6 * WEIGHT_KG
    present_plus_cleared = t.msc_total_cells + t.msc_cleared_cells
    np.testing.assert_allclose(present_plus_cleared, infused, rtol=1e-7, atol=1.0)
    # 30% of a dose lodges in the lung and viable cells halve every 8 h (human data): a day
    # after the first dose 0.3 * exp(-2.08) = 3.7% of it is left there
    lung = t.set_index("time_days").msc_lung_cells.loc[8] / (1e6 * WEIGHT_KG)
    assert 0.02 < lung < 0.06


@pytest.mark.parametrize("backend", backend_params(sorted(BACKENDS)))
def test_zero_dose_equals_no_dose(model: Model, backend: str) -> None:
    none = simulate(model, patient=REFERENCE, days=20, backend=backend)
    zero = simulate(model, patient=REFERENCE, days=20, backend=backend,
                    regimen=Regimen.of([(7, 0.0), (9, 0.0)]))
    pd.testing.assert_frame_equal(none.table, zero.table)


def test_doses_on_the_same_day_add_up(model: Model) -> None:
    one = simulate(model, days=10, regimen=Regimen.of([(5, 2e6)])).table
    two = simulate(model, days=10, regimen=Regimen.of([(5, 1e6), (5, 1e6)])).table
    pd.testing.assert_frame_equal(one, two)


def test_batch_reports_status_per_patient_and_matches_single_runs(model: Model) -> None:
    severe = dict(model.patient(REFERENCE).parameters)
    sets = [{}, severe, {"k_repair": float("nan")}, {"k_repair": -1.0}, {"c_virus": 1e300}]
    batch = simulate_batch(model, sets, regimens=Regimen.of([(7, 1e6)]), days=20)
    assert list(batch.status.status) == [Status.OK.value, Status.OK.value,
                                         Status.INVALID_PARAMETERS.value,
                                         Status.INVALID_PARAMETERS.value,
                                         Status.SOLVER_FAILURE.value]
    assert all(batch.status.message[2:] != "")
    single = simulate(model, parameters=severe, days=20, regimen=Regimen.of([(7, 1e6)])).table
    got = batch.table[batch.table.patient == 1].drop(columns="patient").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, single[got.columns])  # the batch has no pathway
    assert set(batch.tidy().columns) == {"patient", "time_days", "variable", "value"}


def test_batch_rejects_unknown_parameter_for_everyone(model: Model) -> None:
    with pytest.raises(InputError, match="unknown parameter 'nope'"):
        simulate_batch(model, [{"nope": 1.0}], days=5)


def test_single_simulation_raises_on_solver_failure(model: Model) -> None:
    with pytest.raises(SimulationError):
        simulate(model, parameters={"c_virus": 1e300}, days=20)


@pytest.mark.parametrize("pairs, message", [
    ([(5, -1.0)], "must not be negative"),
    ([(-1, 1e6)], "must not be negative"),
    ([(50, 1e6)], "outside the simulated horizon"),
    ([(5, float("nan"))], "must be finite"),
])
def test_bad_regimens_are_rejected(model: Model, pairs, message) -> None:
    with pytest.raises(InputError, match=message):
        simulate(model, days=30, regimen=Regimen.of(pairs))


def test_unknown_backend_lists_registry(model: Model) -> None:
    with pytest.raises(InputError, match="roadrunner"):
        simulate(model, days=5, backend="euler")


def test_a_result_does_not_depend_on_engines_built_before(model: Model) -> None:
    """Every RoadRunner instance is compiled afresh (see simulate/_roadrunner.py)."""
    from mscsim.simulate import _simulate as implementation
    from mscsim.simulate._roadrunner import RoadRunnerBackend

    times = np.arange(21.0)
    params = model.parameter_defaults
    first = RoadRunnerBackend(model, model.observable_names, SolverOptions())
    second = RoadRunnerBackend(model, model.observable_names, SolverOptions())
    np.testing.assert_array_equal(first.run(params, Regimen.none(), times),
                                  second.run(params, Regimen.none(), times))
    implementation._ENGINES.clear()
    fresh = simulate(model, days=20).table
    simulate(model, patient=REFERENCE, days=20)
    pd.testing.assert_frame_equal(fresh, simulate(model, days=20).table)
