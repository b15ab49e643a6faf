"""Parquet reading must not abort the interpreter at exit (pyarrow 26 did, with file objects)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mscsim._io import read_parquet

READ_AND_EXIT = "import sys; from mscsim._io import read_parquet; read_parquet(sys.argv[1])"


def test_read_parquet_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame({"age": [30.0, 71.5], "died": [False, True]})
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "p.parquet"), frame)


def test_processes_that_read_parquet_exit_cleanly(tmp_path: Path) -> None:
    # The fault needed several columns (multi-threaded decoding) and was intermittent: a
    # 30-column file aborted 22 of 30 exits with pandas.read_parquet, so twelve clean exits
    # in a row would be very unlikely if it were back.
    path = tmp_path / "p.parquet"
    columns = {f"c{i}": np.linspace(0.0, 1.0, 40) + i for i in range(30)}
    pd.DataFrame(columns).to_parquet(path, index=False)
    for _ in range(12):
        proc = subprocess.run([sys.executable, "-c", READ_AND_EXIT, str(path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
