"""Every engine in the registry gives identical results (the engine contract)."""

from __future__ import annotations

import pandas as pd
import pytest

from mscsim import InputError
from mscsim.engine import ENGINES, DaskEngine, chunk_ranges, get_engine
from mscsim.population import GenerationOptions, generate_population

SMALL = GenerationOptions(days=40)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_population(24, seed=3, options=SMALL, engine="serial").patients


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_same_population_through_every_engine(engine: str, reference: pd.DataFrame) -> None:
    got = generate_population(24, seed=3, options=SMALL, engine=engine, workers=2,
                              chunk_size=5).patients
    pd.testing.assert_frame_equal(got, reference)


def test_results_come_back_in_task_order_whatever_the_engine() -> None:
    tasks = list(range(12))
    for name in sorted(ENGINES):
        assert list(get_engine(name, 2).map(abs, [-t for t in tasks])) == tasks


def test_unreachable_scheduler_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(DaskEngine, "connect_timeout_s", 1)
    with pytest.raises(InputError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        list(get_engine("dask", scheduler="tcp://127.0.0.1:9").map(abs, [1]))


def test_scheduler_needs_the_dask_engine() -> None:
    with pytest.raises(InputError, match="--scheduler needs --engine dask"):
        get_engine("process", scheduler="tcp://127.0.0.1:9")


@pytest.mark.parametrize("n, size, expected", [
    (5, 2, [(0, 2), (2, 4), (4, 5)]), (4, 4, [(0, 4)]), (3, 10, [(0, 3)])])
def test_chunk_ranges(n, size, expected) -> None:
    assert chunk_ranges(n, size) == expected
