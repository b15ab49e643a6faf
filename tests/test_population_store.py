"""The population store: a generated population is kept under its identity and read back by
the next design, re-run or bridge run that needs it; ``mscsim cache list|clear``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mscsim import InputError
from mscsim.cli import main
from mscsim.population import (
    GenerationOptions,
    _cache,
    _store,
    generate_population,
    stored_population,
)
from mscsim.population._cache import STORE_ENV, list_stored, stored_folder
from mscsim.population._tables import Calibration
from mscsim.trial import run_trial
from tests._trial_helpers import spec

SMALL = GenerationOptions(days=40)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv(STORE_ENV, str(root))
    return root


def forbid_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the population was generated again")
    monkeypatch.setattr(_cache, "generate_population_folder", fail)


def test_a_stored_population_equals_the_generated_one_and_is_read_back(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = stored_population(30, 4, options=SMALL, engine="serial")
    pd.testing.assert_frame_equal(
        first.patients, generate_population(30, 4, options=SMALL, engine="serial").patients)
    [entry] = list_stored()
    assert entry.folder.parent == store and entry.folder.name.startswith("30-seed4-")
    assert entry.complete
    forbid_generation(monkeypatch)
    seen: list[tuple[int, int]] = []
    again = stored_population(30, 4, options=SMALL, engine="serial",
                              progress=lambda done, total: seen.append((done, total)))
    pd.testing.assert_frame_equal(again.patients, first.patients)
    assert seen == [(30, 30)]


def test_the_identity_decides_the_folder_and_chunk_size_does_not(store: Path) -> None:
    calibration = Calibration.load()
    base = stored_folder(30, 4, SMALL, calibration)
    assert stored_folder(30, 4, SMALL, calibration) == base
    assert stored_folder(30, 5, SMALL, calibration) != base
    assert stored_folder(31, 4, SMALL, calibration) != base
    assert stored_folder(30, 4, GenerationOptions(days=41), calibration) != base
    assert stored_folder(30, 4, SMALL, Calibration.load("levin")) != base


def test_an_interrupted_generation_resumes_and_another_chunk_size_restarts(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mscsim.engine import get_engine

    whole = stored_population(30, 4, options=SMALL, engine=get_engine("serial",
                                                                     chunk_size=10))
    folder = list_stored()[0].folder
    (folder / "chunks" / "chunk-000001.parquet").unlink()  # as if killed before it
    writes: list[int] = []
    real_write = _store.write_chunk
    monkeypatch.setattr(_store, "write_chunk",
                        lambda f, index, frame, *a: writes.append(index) or real_write(
                            f, index, frame, *a))
    resumed = stored_population(30, 4, options=SMALL, engine=get_engine("serial",
                                                                       chunk_size=10))
    assert writes == [1]
    pd.testing.assert_frame_equal(resumed.patients, whole.patients)
    (folder / "chunks" / "chunk-000002.parquet").unlink()
    writes.clear()
    restarted = stored_population(30, 4, options=SMALL, engine=get_engine("serial",
                                                                         chunk_size=15))
    assert writes == [0, 1]
    pd.testing.assert_frame_equal(restarted.patients, whole.patients)


def test_a_second_design_and_a_rerun_after_a_refusal_reuse_the_population(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generated = {"population": {"source": "generate", "n_infections": 40, "seed": 3,
                                "days": 40}}
    with pytest.raises(InputError, match="sample size|no eligible"):  # refused after screening
        run_trial(spec(sample_size=4000, **generated), engine="serial")
    assert [e.complete for e in list_stored()] == [True]
    forbid_generation(monkeypatch)
    with pytest.raises(InputError, match="sample size|no eligible"):
        run_trial(spec(sample_size=3000, seed=9, **generated), engine="serial")


def test_cache_list_and_clear(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stored_population(12, 1, options=SMALL, engine="serial")
    (store / "notes.txt").write_text("mine")
    main(["cache", "list"])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"population store: {store} (1 populations)"
    assert out[1].startswith("12-seed1-") and out[1].endswith("MiB  complete")
    main(["cache", "clear"])
    assert "deleted 1 stored populations" in capsys.readouterr().err
    assert [p.name for p in store.iterdir()] == ["notes.txt"]
    main(["cache", "list"])
    assert capsys.readouterr().out.splitlines() == [f"population store: {store} (0 populations)"]
