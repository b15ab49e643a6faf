"""Every engine in the registry gives identical results (the engine contract)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mscsim import InputError
from mscsim.engine import (
    ENGINES,
    DaskEngine,
    Engine,
    WorkerLostError,
    chunk_ranges,
    get_engine,
)
from mscsim.population import GenerationOptions, generate_population

SMALL = GenerationOptions(days=40)


@pytest.fixture(scope="module")
def pools() -> Iterator[dict[str, Engine]]:
    """One engine of each kind, 2 workers, 5 patients a chunk (one Dask cluster for all)."""
    engines = {name: get_engine(name, 2, chunk_size=5) for name in sorted(ENGINES)}
    with contextlib.ExitStack() as stack:
        for engine in engines.values():
            stack.enter_context(engine)
        yield engines


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_population(24, seed=3, options=SMALL, engine="serial").patients


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_same_population_through_every_engine(engine: str, reference: pd.DataFrame,
                                              pools: dict[str, Engine]) -> None:
    got = generate_population(24, seed=3, options=SMALL, engine=pools[engine]).patients
    pd.testing.assert_frame_equal(got, reference)


def test_same_population_by_engine_name_and_chunk_size() -> None:
    small = generate_population(9, seed=3, options=SMALL, engine="process", workers=2,
                                chunk_size=2).patients
    pd.testing.assert_frame_equal(small, generate_population(
        9, seed=3, options=SMALL, engine="serial", chunk_size=9).patients)


def test_results_come_back_in_task_order_whatever_the_engine(pools) -> None:
    tasks = list(range(12))
    for pool in pools.values():
        assert list(pool.map(abs, [-t for t in tasks])) == tasks


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


# --- a small trial through every engine -------------------------------------------------

@pytest.fixture(scope="module")
def trial_reference():
    from mscsim.trial import run_trial

    from ._trial_helpers import severe_population, spec
    return run_trial(spec(), population=severe_population(24), engine="serial")


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_same_trial_through_every_engine(engine: str, trial_reference, pools) -> None:
    from mscsim.trial import run_trial

    from ._trial_helpers import severe_population, spec
    got = run_trial(spec(), population=severe_population(24), engine=pools[engine])
    pd.testing.assert_frame_equal(got.patients, trial_reference.patients)
    pd.testing.assert_frame_equal(got.trajectories, trial_reference.trajectories)
    assert got.summary()["endpoints"] == trial_reference.summary()["endpoints"]


# --- faults: a worker process that dies mid-task ----------------------------------------

def _dies_once(task: int, mark: str) -> int:
    """Kill the worker process the first time task 3 runs (the ``mark`` file remembers)."""
    if task == 3 and not Path(mark).exists():
        Path(mark).write_text("died")
        os._exit(1)
    return task * task


def _always_dies(task: int) -> int:
    if task == 2:
        os._exit(1)
    return task


def test_results_arrive_once_each_as_they_finish() -> None:
    for name in ("serial", "process"):
        got = list(get_engine(name, 2).imap_unordered(abs, [-t for t in range(9)]))
        assert sorted(got) == [(t, t) for t in range(9)]


@pytest.mark.parametrize("engine", ["process", "dask"])
def test_a_task_whose_worker_dies_is_retried(engine: str, tmp_path: Path, pools) -> None:
    fn = functools.partial(_dies_once, mark=str(tmp_path / "died"))
    got = list(pools[engine].imap_unordered(fn, list(range(8))))
    assert (tmp_path / "died").exists()  # the worker really died once
    assert sorted(got) == [(t, t * t) for t in range(8)]  # nothing lost, nothing twice


def test_a_worker_that_always_dies_gives_up_after_the_retries() -> None:
    with pytest.raises(WorkerLostError, match=r"task 2 failed: its worker process died 2 "
                                              r"times .* after 1 retries"):
        list(get_engine("process", 2, retries=1).map(_always_dies, list(range(6))))


def test_an_unreachable_scheduler_is_one_line_on_the_command_line(capsys, monkeypatch,
                                                                   tmp_path: Path) -> None:
    from .test_cli_model import assert_one_line_error
    from .test_cli_population import run_here

    monkeypatch.setattr(DaskEngine, "connect_timeout_s", 1)
    out = tmp_path / "pop"
    assert_one_line_error(run_here(capsys, "population", "generate", "--n", "5", "--seed", "1",
                                   "-o", str(out), "--engine", "dask", "--scheduler",
                                   "tcp://127.0.0.1:9"),
                          "cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert not out.exists()


def test_engine_arguments_are_checked() -> None:
    with pytest.raises(InputError, match="chunk size must be at least 1"):
        get_engine("serial", chunk_size=0)
    with pytest.raises(InputError, match="workers must be at least 1"):
        get_engine("process", 0)
    pool = get_engine("serial", chunk_size=3)
    assert get_engine(pool) is pool


def test_trial_commands_take_the_engine_options(capsys, tmp_path: Path, trial_reference) -> None:
    import copy

    from mscsim._io import read_parquet

    from ._trial_helpers import BASE_SPEC, population_folder, toml_text
    from .test_cli_model import assert_one_line_error
    from .test_cli_population import run_here

    population_folder(tmp_path / "pop", n=24)
    data = copy.deepcopy(BASE_SPEC)
    data["population"] = {"source": "folder", "path": "pop"}
    (tmp_path / "tiny.toml").write_text(toml_text(data), encoding="utf-8")
    spec = str(tmp_path / "tiny.toml")
    proc = run_here(capsys, "trial", "run", spec, "-o", str(tmp_path / "run"), "--engine",
                    "process", "--workers", "2", "--chunk-size", "5", "--quiet")
    assert proc.returncode == 0, proc.stderr
    got = read_parquet(tmp_path / "run" / "patients.parquet")
    pd.testing.assert_frame_equal(got, trial_reference.patients)
    proc = run_here(capsys, "trial", "power", spec, "-o", str(tmp_path / "power"),
                    "--replicates", "20", "--engine", "serial", "--chunk-size", "7", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert_one_line_error(run_here(capsys, "trial", "power", spec, "-o", str(tmp_path / "p2"),
                                   "--scheduler", "tcp://127.0.0.1:9"),
                          "--scheduler needs --engine dask")
