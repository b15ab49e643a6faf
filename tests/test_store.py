"""The population store: a Parquet dataset, one file per chunk, a manifest; resume; DuckDB
queries; faults while writing (issue #7, items 2, 3 and 7)."""

from __future__ import annotations

import errno
import functools
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from mscsim import EnvironmentFault, InputError
from mscsim.population import (
    GenerationOptions,
    _generate,
    _store,
    generate_population,
    generate_population_folder,
    read_population,
    write_population,
)
from mscsim.population._store import missing_chunks
from mscsim.store import _chunks, chunk_files, query_results

from .test_cli_model import assert_one_line_error
from .test_cli_population import run_here

OPTIONS = GenerationOptions(days=40)
N, SEED, CHUNK = 14, 9, 4  # 4 chunks: 4 + 4 + 4 + 2 patients


def generate(folder: Path, **changes) -> _store.FolderRun:
    args = {"n": N, "seed": SEED, "options": OPTIONS, "engine": "serial", "chunk_size": CHUNK,
            **changes}
    n, seed = args.pop("n"), args.pop("seed")
    return generate_population_folder(folder, n, seed, **args)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_population(N, SEED, options=OPTIONS, engine="serial").patients


@pytest.fixture(scope="module")
def folder(tmp_path_factory, reference) -> Path:
    out = tmp_path_factory.mktemp("store") / "pop"
    run = generate(out)
    assert (run.n_chunks, run.resumed, run.written, run.complete) == (4, 0, 4, True)
    return out


def test_layout_is_a_manifest_and_one_file_per_chunk(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == ["checksums.sha256", "chunks",
                                                        "manifest.json"]
    assert [p.name for p in (folder / "chunks").iterdir() if p.name.startswith(".")] == []
    assert list(chunk_files(folder)) == [0, 1, 2, 3]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["n"] == N and manifest["seed"] == SEED
    assert manifest["chunk_size"] == CHUNK and manifest["n_chunks"] == 4
    assert manifest["options"]["days"] == 40 and len(manifest["model_sha256"]) == 64
    assert {"mscsim", "numpy", "pandas", "pyarrow"} <= set(manifest["versions"])
    sizes = [len(_rows(p)) for p in chunk_files(folder).values()]
    assert sizes == [4, 4, 4, 2]


def _rows(path: Path) -> list[int]:
    import pyarrow.parquet as pq

    return pq.read_table(str(path), columns=["patient"]).column("patient").to_pylist()


def test_streamed_folder_equals_the_in_memory_population(folder, reference) -> None:
    pd.testing.assert_frame_equal(read_population(folder).patients, reference)


def test_column_selection_reads_only_those_columns(folder, reference) -> None:
    got = read_population(folder, columns=["patient", "age"]).patients
    assert list(got.columns) == ["patient", "age"]
    pd.testing.assert_frame_equal(got, reference[["patient", "age"]])
    with pytest.raises(InputError, match="lacks columns: no_such_column"):
        read_population(folder, columns=["patient", "no_such_column"])


def test_the_same_command_on_a_finished_folder_does_nothing(folder) -> None:
    before = {p: p.stat().st_mtime_ns for p in chunk_files(folder).values()}
    run = generate(folder)
    assert (run.resumed, run.written, run.complete) == (4, 0, True)
    assert {p: p.stat().st_mtime_ns for p in chunk_files(folder).values()} == before


@pytest.mark.parametrize("changes, fragment", [
    ({"seed": SEED + 1}, f"seed {SEED} in the folder, {SEED + 1} now"),
    ({"n": N + 1}, f"n {N} in the folder, {N + 1} now"),
    ({"chunk_size": CHUNK + 1}, f"chunk_size {CHUNK} in the folder, {CHUNK + 1} now"),
    ({"options": GenerationOptions(days=45)}, "options.days 40 in the folder, 45 now"),
])
def test_a_different_command_on_an_existing_folder_is_refused(folder, changes,
                                                              fragment) -> None:
    with pytest.raises(InputError, match="made by a different command") as err:
        generate(folder, **changes)
    assert fragment in str(err.value)
    assert list(chunk_files(folder)) == [0, 1, 2, 3]


def test_resume_skips_finished_chunks_and_clears_leftovers(tmp_path, reference) -> None:
    out = tmp_path / "pop"
    generate(out)
    chunk_files(out)[2].unlink()  # as if the run had been killed before chunk 2 was renamed
    leftover = out / "chunks" / ".chunk-000002.parquet.abcd.tmp.parquet"
    leftover.write_bytes(b"half a chunk")
    assert missing_chunks(out) == [2]
    with pytest.raises(InputError, match=r"population is incomplete: 3 of 4 chunks written"):
        read_population(out)
    run = generate(out)
    assert (run.resumed, run.written) == (3, 1)
    assert not leftover.exists()
    pd.testing.assert_frame_equal(read_population(out).patients, reference)


def test_write_population_round_trip_in_several_chunks(tmp_path, reference) -> None:
    population = generate_population(N, SEED, options=OPTIONS, engine="serial")
    out = write_population(population, tmp_path / "pop", chunk_size=5)
    assert list(chunk_files(out)) == [0, 1, 2]
    pd.testing.assert_frame_equal(read_population(out).patients, reference)


def _disk_fills_on_chunk(path: Path, frame: pd.DataFrame, *, index: int) -> None:
    if int(frame.patient.iloc[0]) == index * CHUNK:
        path.write_bytes(b"PAR1 part of a chunk")  # half-written, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    _WRITE(frame, path)


_WRITE = _chunks._write_table


def test_a_full_disk_is_a_clear_error_and_leaves_no_half_chunk(tmp_path, monkeypatch,
                                                               reference) -> None:
    out = tmp_path / "pop"
    monkeypatch.setattr(_chunks, "_write_table",
                        lambda frame, path: _disk_fills_on_chunk(path, frame, index=2))
    with pytest.raises(EnvironmentFault, match="cannot write chunk 2: No space left on device"):
        generate(out)
    assert 2 not in chunk_files(out)
    assert [p.name for p in (out / "chunks").iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    run = generate(out)  # space freed: the same command finishes the job
    assert run.written == 4 - run.resumed and run.complete
    pd.testing.assert_frame_equal(read_population(out).patients, reference)


def test_an_unwritable_output_folder_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InputError, match="cannot write to the output folder"):
        generate(tmp_path / "file" / "pop")
    with pytest.raises(InputError, match="output path exists and is not a folder"):
        generate(tmp_path / "file")


def test_a_folder_that_is_not_a_population_is_refused(tmp_path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        generate(tmp_path / "x")
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["keep.txt"]


def _dies_once(task, *, mark: str):
    """The chunk function, except that the worker running patient 4's chunk dies once."""
    if task[0][0] == CHUNK and not Path(mark).exists():  # task: (patient ids, ...)
        Path(mark).write_text("died")
        os._exit(1)
    return _CHUNK(task)


_CHUNK = _generate._chunk


def test_a_worker_dying_mid_run_loses_and_duplicates_no_chunk(tmp_path, monkeypatch,
                                                               reference) -> None:
    mark = tmp_path / "died"
    monkeypatch.setattr(_generate, "_chunk", functools.partial(_dies_once, mark=str(mark)))
    out = tmp_path / "pop"
    run = generate(out, engine="process", workers=2)
    assert mark.exists() and run.written == 4
    got = read_population(out).patients
    assert got.patient.tolist() == list(range(N))
    pd.testing.assert_frame_equal(got, reference)


# --- DuckDB queries ----------------------------------------------------------------------

def test_query_runs_sql_over_the_chunks(folder, reference) -> None:
    got = query_results(folder, "SELECT status, count(*) AS n, avg(age) AS age FROM patients "
                                "GROUP BY status ORDER BY status")
    expected = reference.groupby("status").agg(n=("patient", "size"), age=("age", "mean"))
    assert got.status.tolist() == expected.index.tolist()
    assert got.n.tolist() == expected.n.tolist()
    assert got.age.to_numpy() == pytest.approx(expected.age.to_numpy())


def test_query_sees_every_parquet_file_of_a_results_folder(tmp_path) -> None:
    pd.DataFrame({"arm": ["msc", "placebo", "msc"]}).to_parquet(tmp_path / "patients.parquet")
    got = query_results(tmp_path, "SELECT arm, count(*) AS n FROM patients GROUP BY arm "
                                  "ORDER BY arm")
    assert got.to_dict("list") == {"arm": ["msc", "placebo"], "n": [2, 1]}


@pytest.mark.parametrize("sql, fragment", [
    ("SELECT nope FROM patients", "query failed"),
    ("SELECT * FROM elsewhere", "tables: patients"),
])
def test_a_bad_query_is_a_clear_error(folder, sql, fragment) -> None:
    with pytest.raises(InputError, match=fragment):
        query_results(folder, sql)


def test_query_command_prints_a_table_json_or_csv(capsys, folder) -> None:
    sql = "SELECT patient, patient * 2 AS twice FROM patients WHERE patient < 2 ORDER BY 1"
    table = run_here(capsys, "results", "query", str(folder), sql)
    assert table.returncode == 0, table.stderr
    assert table.stdout.split() == ["patient", "twice", "0", "0", "1", "2"]
    as_json = run_here(capsys, "results", "query", str(folder), sql, "--json")
    assert json.loads(as_json.stdout) == [{"patient": 0, "twice": 0},
                                          {"patient": 1, "twice": 2}]
    as_csv = run_here(capsys, "results", "query", str(folder), sql, "--csv")
    assert as_csv.stdout.splitlines() == ["patient,twice", "0,0", "1,2"]
    assert_one_line_error(run_here(capsys, "results", "query", str(folder), "SELEC 1"),
                          "query failed")
    assert_one_line_error(run_here(capsys, "results", "query", str(folder.parent / "absent"),
                                   "SELECT 1"), "results folder not found")
