"""Shared fixtures: the flagship model and the reference severe patient's courses; the
``fast_extra`` marker of tests that need the optional numbalsoda (``mscsim[fast]``); one
population store for the session, so tests neither read nor fill the user's."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile

import pytest

from mscsim.model import Model, load_model
from mscsim.simulate import Regimen, SimulationResult, output_times, simulate

REFERENCE = "reference-severe"
#: set by scripts/test.sh, which installs the extra: a missing numbalsoda then fails the
#: compiled back end's tests instead of skipping them
REQUIRE_FAST_ENV = "MSCSIM_REQUIRE_FAST"
fast_extra = pytest.mark.fast_extra


def backend_params(names: list[str]) -> list[object]:
    """Back-end names for ``parametrize``, with ``compiled`` marked :data:`fast_extra`."""
    return [pytest.param(n, marks=fast_extra) if n == "compiled" else n for n in names]


_STORE = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    from mscsim.population._cache import STORE_ENV

    store = tempfile.mkdtemp(prefix="mscsim-test-populations-")
    config.stash[_STORE] = store
    os.environ[STORE_ENV] = store  # inherited by the CLI subprocesses of the tests


def pytest_unconfigure(config: pytest.Config) -> None:
    store = config.stash.get(_STORE, None)
    if store:
        shutil.rmtree(store, ignore_errors=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("fast_extra") is None:
        return
    if importlib.util.find_spec("numbalsoda") is not None:
        return
    message = "numbalsoda is not installed (pip install 'mscsim[fast]')"
    if os.environ.get(REQUIRE_FAST_ENV) == "1":
        pytest.fail(f"{message} and {REQUIRE_FAST_ENV}=1", pytrace=False)
    pytest.skip(message)


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

