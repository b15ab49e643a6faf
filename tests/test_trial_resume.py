"""A real ``mscsim trial power`` killed mid-way (SIGKILL, SIGINT) and started again with the
same command ends with the results of an uninterrupted run (issue #7, items 2 and 3): the
simulated arms stream to ``DIR/pool/<stage>/chunk-NNNNNN.parquet`` and finished chunks are
read back instead of simulated again."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mscsim._errors import InputError
from mscsim._io import read_parquet
from mscsim.store import chunk_files, read_chunk
from mscsim.trial import PowerOptions, power_analysis, screen, spec_from_dict
from mscsim.trial._enrol import doses_for
from mscsim.trial._power import POOL_DIR, RESIMULATED_STAGES, TREATED_STAGE
from mscsim.trial._simulate import ArmStore, simulate_arm
from tests._interrupt import interrupt_after, start
from tests._trial_helpers import BASE_SPEC, population_folder, toml_text

N_POP, REPLICATES, CHUNK = 160, 40, 2
STAGES = ("screening", TREATED_STAGE)


def spec_data(population: Path, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE_SPEC)
    data["population"] = {"source": "folder", "path": str(population)}
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A population folder, its spec file and an uninterrupted run of the command."""
    base = tmp_path_factory.mktemp("trial-resume")
    population = population_folder(base / "population", N_POP)
    spec_file = base / "spec.toml"
    spec_file.write_text(toml_text(spec_data(population)), encoding="utf-8")
    reference = base / "reference"
    done = run_cli(spec_file, reference)
    assert done.returncode == 0, done.stderr
    return {"base": base, "population": population, "spec": spec_file,
            "reference": reference}


MSCSIM = [sys.executable, "-m", "mscsim"]


def args(spec_file: Path, folder: Path, *extra: str) -> list[str]:
    """Arguments of ``mscsim`` (without the interpreter) for the power run under test."""
    return ["trial", "power", str(spec_file), "--replicates",
            str(REPLICATES), "--chunk-size", str(CHUNK), "--workers", "2", "--quiet",
            "-o", str(folder), *extra]


def run_cli(spec_file: Path, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MSCSIM, *args(spec_file, folder, *extra)], capture_output=True,
                          text=True, timeout=300)


def power_json(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "power.json").read_text(encoding="utf-8"))
    data.pop("timings_s")
    return data


def assert_same_results(folder: Path, reference: Path) -> None:
    assert power_json(folder) == power_json(reference)
    pd.testing.assert_frame_equal(read_parquet(folder / "power_replicates.parquet"),
                                  read_parquet(reference / "power_replicates.parquet"))


def check_nothing_half_written(store: Path) -> None:
    """Every file that looks like a finished chunk is one; anything else is hidden."""
    for stage in STAGES:
        directory = store / stage
        if not directory.is_dir():
            continue
        finished = chunk_files(store, stage)
        for path in directory.iterdir():
            if path in finished.values():
                assert 1 <= read_chunk(path).num_rows <= CHUNK
            else:
                assert path.name.startswith(".chunk-"), path.name


def test_the_command_equals_the_in_memory_analysis(setup: dict[str, Any]) -> None:
    """Streamed with chunks of 2 patients through two workers, or in memory in one chunk
    per arm: the same numbers."""
    from mscsim.trial import load_spec

    result = power_analysis(load_spec(setup["spec"]), PowerOptions(replicates=REPLICATES),
                            engine="serial")
    reference = setup["reference"]
    expected = json.loads(json.dumps(result.to_dict()))
    expected.pop("timings_s")
    assert power_json(reference) == expected
    pd.testing.assert_frame_equal(read_parquet(reference / "power_replicates.parquet"),
                                  result.replicate_table())
    manifest = json.loads((reference / POOL_DIR / "manifest.json").read_text())
    assert manifest["spec"]["seed"] == BASE_SPEC["seed"]
    assert manifest["replicates"] == REPLICATES and manifest["chunk_size"] == CHUNK
    assert {"model_sha256", "versions", "population"} <= set(manifest)
    assert len(chunk_files(reference / POOL_DIR, TREATED_STAGE)) == -(-result.pool_size // CHUNK)


@pytest.mark.parametrize(("sig", "stage"), [(signal.SIGKILL, "screening"),
                                            (signal.SIGINT, TREATED_STAGE)])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path, sig: int, stage: str,
                                                          setup: dict[str, Any]) -> None:
    folder = tmp_path / "power"
    store = folder / POOL_DIR
    total = len(chunk_files(setup["reference"] / POOL_DIR, stage))
    proc = start(args(setup["spec"], folder))
    stderr = interrupt_after(proc, lambda: len(chunk_files(store, stage)), 3, sig,
                             timeout=120)
    written = len(chunk_files(store, stage))
    assert 3 <= written < total, "the run was not interrupted mid-way"
    assert not (folder / "power.json").exists()
    check_nothing_half_written(store)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "interrupted" in stderr and "run the same command again to resume" in stderr
        hidden = [p.name for s in STAGES for p in (store / s).iterdir()
                  if p.name.startswith(".")]
        assert hidden == []  # an interrupt cleans its temporary files at once
    else:
        assert proc.returncode == -signal.SIGKILL
    before = {p: p.stat().st_mtime_ns for s in STAGES for p in chunk_files(store, s).values()}

    again = subprocess.run([*MSCSIM, *(a for a in args(setup["spec"], folder) if a != "--quiet")],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming {folder}:" in again.stderr
    after = {p: p.stat().st_mtime_ns for s in STAGES for p in chunk_files(store, s).values()}
    assert all(after[p] == t for p, t in before.items())  # finished chunks were not redone
    assert_same_results(folder, setup["reference"])
    for s in STAGES:  # no chunk lost, none twice, no temporary file left
        names = sorted(p.name for p in (store / s).iterdir())
        assert names == sorted(p.name for p in chunk_files(setup["reference"] / POOL_DIR,
                                                            s).values())


def test_a_changed_command_is_refused_naming_the_difference(tmp_path: Path,
                                                            setup: dict[str, Any]) -> None:
    reference = setup["reference"]
    stamp = (reference / "power.json").stat().st_mtime_ns
    changed = tmp_path / "changed.toml"
    changed.write_text(toml_text(spec_data(setup["population"], sample_size=16)))
    out = run_cli(changed, reference)
    assert out.returncode == 2
    assert "made by a different command: spec.sample_size 12 in the folder, 16 now" \
        in out.stderr
    assert "--overwrite" in out.stderr
    out = run_cli(setup["spec"], reference, "--seed", "9")
    assert out.returncode == 2 and "spec.seed 5 in the folder, 9 now" in out.stderr
    assert (reference / "power.json").stat().st_mtime_ns == stamp  # nothing was touched

    spec = spec_from_dict(spec_data(setup["population"], sample_size=16))
    with pytest.raises(InputError, match=f"replicates {REPLICATES} in the folder, 7 now"):
        power_analysis(spec, PowerOptions(replicates=7), folder=reference, engine="serial")


def test_overwrite_starts_again_and_resimulate_streams_its_arms(tmp_path: Path,
                                                                setup: dict[str, Any]) -> None:
    folder = tmp_path / "power"
    spec = spec_from_dict(spec_data(setup["population"]))
    starts: list[int] = []
    resimulate = PowerOptions(replicates=3, method="resimulate")
    first = power_analysis(spec, resimulate, engine="serial", folder=folder)
    for stage in RESIMULATED_STAGES:  # both resimulated arms, the null one included
        assert chunk_files(folder / POOL_DIR, stage)
    again = power_analysis(spec, resimulate, engine="serial", folder=folder,
                           on_start=lambda store, done: starts.append(done))
    assert starts[0] > 0
    np.testing.assert_array_equal(first.replicate_table().to_numpy(),
                                  again.replicate_table().to_numpy())
    with pytest.raises(InputError, match="method 'resimulate' in the folder, 'pool' now"):
        power_analysis(spec, PowerOptions(replicates=3), engine="serial", folder=folder)
    power_analysis(spec, PowerOptions(replicates=3), engine="serial", folder=folder,
                   overwrite=True)
    assert not (folder / POOL_DIR / RESIMULATED_STAGES[0]).exists()


def test_a_resumed_arm_equals_an_uninterrupted_one(tmp_path: Path, setup: dict[str, Any]
                                                   ) -> None:
    from mscsim.population import read_population

    spec = spec_from_dict(spec_data(setup["population"]))
    cohort = screen(spec, read_population(setup["population"]), engine="serial")
    el = cohort.eligible.iloc[:20]
    inputs = (cohort.parameters().iloc[:20], el.death_threshold.to_numpy(float),
              el.enrol_day.to_numpy(float), doses_for(spec, el, "msc"))
    whole = simulate_arm(*inputs, follow_up=28, engine="serial")
    store = ArmStore(tmp_path, "arm")
    simulate_arm(*inputs, follow_up=28, engine="serial", chunk_size=6, store=store)
    chunk_files(tmp_path, "arm")[1].unlink()  # as if killed before chunk 1 was renamed
    resumed = simulate_arm(*inputs, follow_up=28, engine="serial", chunk_size=6, store=store)
    pd.testing.assert_frame_equal(resumed.values, whole.values)
    np.testing.assert_array_equal(resumed.daily, whole.daily)
    with pytest.raises(InputError, match="chunk 0 has 6 rows, expected 5"):
        simulate_arm(*inputs, follow_up=28, engine="serial", chunk_size=5, store=store)


def test_a_damaged_pool_chunk_is_recomputed(tmp_path: Path, setup: dict[str, Any]) -> None:
    # issue 14: a chunk of flipped bytes was read back as if finished
    from mscsim.population import read_population
    from mscsim.store import open_store

    spec = spec_from_dict(spec_data(setup["population"]))
    cohort = screen(spec, read_population(setup["population"]), engine="serial")
    el = cohort.eligible.iloc[:12]
    inputs = (cohort.parameters().iloc[:12], el.death_threshold.to_numpy(float),
              el.enrol_day.to_numpy(float), doses_for(spec, el, "msc"))
    open_store(tmp_path, {"kind": "test.pool"}, identity=("kind",), what="pool",
               chunk_dirs=("arm",))  # a sealed manifest, as a power analysis's pool has
    store = ArmStore(tmp_path, "arm")
    whole = simulate_arm(*inputs, follow_up=28, engine="serial", chunk_size=6, store=store)
    chunk = chunk_files(tmp_path, "arm")[1]
    data = bytearray(chunk.read_bytes())
    data[100:300] = bytes(b ^ 0xFF for b in data[100:300])
    chunk.write_bytes(bytes(data))
    assert list(store.finished()) == [0]
    resumed = simulate_arm(*inputs, follow_up=28, engine="serial", chunk_size=6, store=store)
    pd.testing.assert_frame_equal(resumed.values, whole.values)
    assert list(store.finished()) == [0, 1]
