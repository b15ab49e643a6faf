"""Issue 14, output and result folders: nothing a user made is deleted, one writer at a time,
a checksum per chunk and a sealed manifest (damaged, extra and edited are named and refused,
a resume recomputes what is damaged), and ``results query`` read-only over the folder's own
files."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from mscsim import EnvironmentFault, InputError
from mscsim._io import (
    atomic_folder,
    check_output_folder,
    folder_contents,
    folder_lock,
    lock_path,
)
from mscsim.population import (
    GenerationOptions,
    _store,
    generate_population_folder,
    read_population,
)
from mscsim.population._store import missing_chunks
from mscsim.store import CHECKSUMS_FILE, SEAL, _chunks, chunk_path, file_sha256, query_results
from tests.test_cli_model import assert_one_line_error
from tests.test_cli_population import run_here

OPTIONS = GenerationOptions(days=40)
N, SEED, CHUNK = 6, 7, 2  # three chunks of two patients

HOLD_LOCK = """
import sys, time
from mscsim._io import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def generate(folder: Path, **changes) -> _store.FolderRun:
    args = {"options": OPTIONS, "engine": "serial", "chunk_size": CHUNK, **changes}
    return generate_population_folder(folder, N, args.pop("seed", SEED), **args)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("made") / "pop"
    generate(folder)
    return folder


@pytest.fixture
def pop(made: Path, tmp_path: Path) -> Path:
    """A fresh copy of a finished three-chunk population folder."""
    return Path(shutil.copytree(made, tmp_path / "pop"))


def flip_bytes(path: Path, start: int = 200, count: int = 400) -> None:
    data = bytearray(path.read_bytes())
    for i in range(start, min(start + count, len(data) - 8)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def holding_lock(folder: Path, seconds: float = 30) -> subprocess.Popen[str]:
    """Another process that holds ``folder``'s lock until it is killed."""
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder), str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


# --- data loss: nothing a user made is deleted --------------------------------------------

def test_a_file_made_in_the_output_folder_during_a_run_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(InputError, match="precious.txt appeared") as info, \
            atomic_folder(target) as tmp:
        (tmp / "result.txt").write_text("result")
        target.mkdir()
        (target / "precious.txt").write_text("mine")
    assert (target / "precious.txt").read_text() == "mine"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.results-")]
    assert len(kept) == 1 and (kept[0] / "result.txt").read_text() == "result"
    assert str(kept[0]) in str(info.value) and info.value.file == str(target)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp, no lock


def test_trial_run_keeps_a_file_made_while_it_simulated(capsys, monkeypatch,
                                                        tmp_path: Path) -> None:
    # the reproducer: while `trial run` builds .out.*, create out/precious.txt
    import mscsim.trial

    out = tmp_path / "out"

    def run_trial(spec, seed=None, **_):
        out.mkdir()
        (out / "precious.txt").write_text("mine")
        frame = pd.DataFrame({"arm": ["msc"]})
        return types.SimpleNamespace(patients=frame, trajectories=frame, spec=spec,
                                     summary=lambda: {"n": 1})

    monkeypatch.setattr(mscsim.trial, "run_trial", run_trial)
    proc = run_here(capsys, "trial", "run", "leng2020", "-o", str(out), "--engine", "serial",
                    "--quiet")
    assert proc.returncode == 2
    assert_one_line_error(proc, "precious.txt appeared", "out.results-")
    assert [p.name for p in out.iterdir()] == ["precious.txt"]
    kept = next(tmp_path.glob("out.results-*"))
    assert sorted(p.name for p in kept.iterdir()) == ["patients.parquet", "spec.json",
                                                      "summary.json", "trajectories.parquet"]


def test_overwrite_removes_only_what_was_there_when_the_run_started(tmp_path: Path) -> None:
    target = tmp_path / "out"
    (target / "sub").mkdir(parents=True)
    (target / "old.txt").write_text("old")
    (target / "sub" / "old.txt").write_text("old")
    with atomic_folder(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]

    with pytest.raises(InputError, match="late.txt appeared"), \
            atomic_folder(target, overwrite=True) as tmp:
        (tmp / "newer.txt").write_text("newer")
        (target / "late.txt").write_text("mine")
    assert sorted(p.name for p in target.iterdir()) == ["late.txt", "new.txt"]
    assert (next(tmp_path.glob("out.results-*")) / "newer.txt").is_file()


def test_two_runs_into_one_folder_do_not_let_the_last_one_win(tmp_path: Path) -> None:
    target = tmp_path / "out"
    at_start = folder_contents(check_output_folder(target))  # both runs begin on an empty one
    with atomic_folder(target, contents_at_start=at_start) as tmp:
        (tmp / "summary.json").write_text("first")
    with pytest.raises(InputError, match="summary.json appeared"), \
            atomic_folder(target, contents_at_start=at_start) as tmp:
        (tmp / "summary.json").write_text("second")
    assert (target / "summary.json").read_text() == "first"
    assert (next(tmp_path.glob("out.results-*")) / "summary.json").read_text() == "second"


def test_a_failed_run_leaves_the_folder_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == []


# --- one writer at a time -------------------------------------------------------------------

def test_a_second_writer_is_refused_naming_the_lock(tmp_path: Path) -> None:
    target = tmp_path / "out"
    child = holding_lock(target)
    try:
        with pytest.raises(EnvironmentFault, match="another mscsim run") as info, \
                atomic_folder(target):
            pass
        assert info.value.file == str(lock_path(target))
        assert f"process {child.pid}" in str(info.value)
        with pytest.raises(EnvironmentFault, match="holds its lock"):
            generate(target)
        assert not target.exists()
    finally:
        child.kill()
        child.wait()


def test_the_cli_exits_3_when_another_run_holds_the_folder(capsys, tmp_path: Path) -> None:
    target = tmp_path / "pop"
    child = holding_lock(target)
    try:
        proc = run_here(capsys, "population", "generate", "--n", "2", "--seed", "1",
                        "--engine", "serial", "--quiet", "-o", str(target))
    finally:
        child.kill()
        child.wait()
    assert proc.returncode == 3
    assert_one_line_error(proc, str(lock_path(target)), "another mscsim run")


def test_a_killed_writer_leaves_no_lock_behind(tmp_path: Path) -> None:
    target = tmp_path / "out"
    child = holding_lock(target)
    child.kill()  # SIGKILL: the lock file stays, the kernel drops the lock
    child.wait()
    with folder_lock(target), folder_lock(target):  # taken again by a nested writer
        pass
    assert not lock_path(target).exists()


# --- checksums: damaged, truncated, extra and edited ----------------------------------------

def test_the_folder_records_a_checksum_per_chunk_and_seals_its_manifest(pop: Path) -> None:
    lines = (pop / CHECKSUMS_FILE).read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == [
        f"chunks/chunk-00000{k}.parquet" for k in range(3)]
    for line in lines:
        digest, name = line.split("  ")
        assert file_sha256(pop / name) == digest
    assert len(json.loads((pop / "manifest.json").read_text())[SEAL]) == 64


def test_flipped_bytes_in_a_chunk_are_named_by_every_reader(capsys, pop: Path) -> None:
    chunk = chunk_path(pop, 1)
    flip_bytes(chunk)
    with pytest.raises(InputError, match="chunk 1 is damaged") as info:
        read_population(pop)
    assert info.value.file == str(chunk)
    with pytest.raises(InputError, match="chunk 1 is damaged"):
        query_results(pop, "SELECT count(*) FROM patients")
    assert_one_line_error(run_here(capsys, "population", "summary", str(pop)),
                          "chunk-000001.parquet", "damaged")


@pytest.mark.parametrize("damage", ["flipped", "truncated", "unrecorded"])
def test_a_resume_recomputes_a_damaged_chunk(made: Path, pop: Path, damage: str) -> None:
    chunk = chunk_path(pop, 1)
    if damage == "flipped":
        flip_bytes(chunk)
    elif damage == "truncated":
        chunk.write_bytes(chunk.read_bytes()[:100])
    else:  # killed between the chunk's rename and its checksum line
        lines = (pop / CHECKSUMS_FILE).read_text().splitlines()
        (pop / CHECKSUMS_FILE).write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    assert missing_chunks(pop) == [1]
    run = generate(pop)  # not "already complete"
    assert (run.resumed, run.written) == (2, 1)
    pd.testing.assert_frame_equal(read_population(pop).patients,
                                  read_population(made).patients)


def test_an_extra_chunk_is_named_and_refused_not_counted(capsys, pop: Path) -> None:
    extra = chunk_path(pop, 3)
    shutil.copy(chunk_path(pop, 0), extra)  # 3,000 patients counted as 6,000 before
    for read in (lambda: read_population(pop),
                 lambda: query_results(pop, "SELECT count(*) FROM patients"),
                 lambda: generate(pop)):
        with pytest.raises(InputError, match="chunk 3 is not part of this folder") as info:
            read()
        assert info.value.file == str(extra)
    assert extra.is_file()  # the run did not write it, so it is not deleted


def test_an_edited_seed_is_detected(capsys, pop: Path) -> None:
    path = pop / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["seed"] = 8
    path.write_text(json.dumps(manifest, indent=2))
    with pytest.raises(InputError, match="changed after it was written") as info:
        read_population(pop)
    assert (info.value.field, info.value.file) == (SEAL, str(path))
    with pytest.raises(InputError, match=SEAL):
        query_results(pop, "SELECT count(*) FROM patients")
    with pytest.raises(InputError, match=SEAL):  # was: "already complete", seed-7 data
        generate(pop, seed=8)
    assert_one_line_error(run_here(capsys, "population", "summary", str(pop)), SEAL)


def test_a_folder_from_before_checksums_is_read_unchecked(made: Path, pop: Path) -> None:
    path = pop / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest[SEAL]
    path.write_text(json.dumps(manifest, indent=2))
    (pop / CHECKSUMS_FILE).unlink()
    pd.testing.assert_frame_equal(read_population(pop).patients,
                                  read_population(made).patients)


def test_a_full_disk_is_an_environment_fault(monkeypatch, tmp_path: Path) -> None:
    def full(frame, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_chunks, "_write_table", full)
    with pytest.raises(EnvironmentFault, match="cannot write chunk 0: No space left"):
        generate(tmp_path / "pop")


# --- results query: read-only over the folder's own files -----------------------------------

@pytest.mark.parametrize(("sql", "fragment"), [
    ("COPY patients TO '{elsewhere}/leak.csv'", "not COPY"),
    ("COPY patients TO '{folder}/chunks/chunk-000009.parquet'", "not COPY"),
    ("ATTACH '{elsewhere}/x.duckdb'", "not ATTACH"),
    ("INSTALL httpfs", "not LOAD"),
    ("SET enable_external_access = true", "not SET"),
    ("SELECT 1; SELECT 2", "2 statements"),
    ("SELECT * FROM read_csv('{elsewhere}/secret.csv')", "disabled by configuration"),
    ("SELECT * FROM read_parquet('{elsewhere}/*.parquet')", "disabled by configuration"),
], ids=["copy-out", "copy-into-folder", "attach", "install", "set", "two", "read-csv", "glob"])
def test_a_query_can_only_read_the_folders_own_data(pop: Path, tmp_path: Path, sql: str,
                                                    fragment: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.csv").write_text("a\n1\n")
    pd.DataFrame({"a": [1]}).to_parquet(elsewhere / "other.parquet")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(InputError, match=fragment) as info:
        query_results(pop, sql.format(folder=pop, elsewhere=elsewhere))
    assert info.value.field == "sql"
    assert sorted(tmp_path.rglob("*")) == before


def test_unrestricted_allows_other_files(capsys, pop: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a\n1\n2\n")
    sql = f"SELECT count(*) AS n FROM read_csv('{other}')"
    assert_one_line_error(run_here(capsys, "results", "query", str(pop), sql),
                          "disabled by configuration")
    proc = run_here(capsys, "results", "query", str(pop), sql, "--unrestricted", "--csv")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["n", "2"]
