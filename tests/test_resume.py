"""A real ``mscsim population generate`` killed mid-way (SIGKILL, SIGINT) and started again
with the same command ends with the population of an uninterrupted run (issue #7, item 3)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mscsim.population import GenerationOptions, generate_population, read_population
from mscsim.store import chunk_files
from tests._interrupt import interrupt_after, start

N, SEED, CHUNK = 240, 21, 8  # 30 chunks
ARGS = ["population", "generate", "--n", str(N), "--seed", str(SEED), "--days", "40",
        "--chunk-size", str(CHUNK), "--workers", "2", "--quiet"]


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_population(N, SEED, options=GenerationOptions(days=40),
                               workers=2, chunk_size=40).patients


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path, sig: int,
                                                          reference: pd.DataFrame) -> None:
    folder = tmp_path / "pop"
    proc = start([*ARGS, "-o", str(folder)])
    stderr = interrupt_after(proc, lambda: len(chunk_files(folder)), 3, sig)
    written = len(chunk_files(folder))
    assert 3 <= written < N // CHUNK, "the run was not interrupted mid-way"
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "interrupted" in stderr and "run the same command again to resume" in stderr
        hidden = [p.name for p in (folder / "chunks").iterdir() if p.name.startswith(".")]
        assert hidden == []  # an interrupt cleans its temporary files at once
    else:
        assert proc.returncode == -signal.SIGKILL

    again = subprocess.run([sys.executable, "-m", "mscsim", *ARGS, "-o", str(folder)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming {folder}:" in again.stderr
    got = read_population(folder).patients
    assert got.patient.tolist() == list(range(N))  # no chunk lost, none twice
    pd.testing.assert_frame_equal(got, reference)
    hidden = [p.name for p in (folder / "chunks").iterdir() if p.name.startswith(".")]
    assert hidden == []

    done = subprocess.run([sys.executable, "-m", "mscsim", *ARGS, "-o", str(folder)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "already complete" in done.stderr
