"""Issue 14, fuzzing (bounded): damaged result folders, trial spec lines and evidence CSV cells.

Each property is the issue's contract: a correct result or a clean ``InputError``, never
another exception and never a silently wrong result. Every test runs in a few seconds (few
examples, tiny inputs, no deadline so a slow machine does not flake).
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mscsim import InputError
from mscsim.evidence import load_outcomes
from mscsim.population import (
    GenerationOptions,
    generate_population_folder,
    read_population,
)
from mscsim.store import CHECKSUMS_FILE, MANIFEST_FILE, chunk_path, query_results
from mscsim.trial import design_path, load_spec
from tests.test_evidence_dataset import DATA

OPTIONS = GenerationOptions(days=40)
N, SEED, CHUNK = 6, 7, 2
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def generate(folder: Path) -> None:
    generate_population_folder(folder, N, SEED, options=OPTIONS, engine="serial",
                               chunk_size=CHUNK)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("fuzz") / "pop"
    generate(folder)
    return folder, read_population(folder).patients


# --- result folders -------------------------------------------------------------------------

json_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                        st.floats(allow_nan=False), st.lists(st.integers(), max_size=2))


@st.composite
def damage(draw: st.DrawFn) -> tuple[str, int, int, int, object]:
    kind = draw(st.sampled_from(["flip", "truncate", "extra", "manifest", "drop-line",
                                 "edit-line", "append"]))
    return (kind, draw(st.integers(0, 2)), draw(st.integers(0, 4000)),
            draw(st.integers(1, 64)), draw(json_values))


def apply(folder: Path, kind: str, chunk: int, offset: int, length: int, value: object) -> None:
    path = chunk_path(folder, chunk)
    data = bytearray(path.read_bytes())
    if kind == "flip":
        start = offset % len(data)
        for i in range(start, min(start + length, len(data))):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
    elif kind == "truncate":
        path.write_bytes(bytes(data[:offset % len(data)]))
    elif kind == "append":
        path.write_bytes(bytes(data) + b"\0" * length)
    elif kind == "extra":
        shutil.copy(path, chunk_path(folder, 3 + chunk))
    elif kind == "manifest":
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        keys = sorted(manifest)
        manifest[keys[offset % len(keys)]] = value
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    else:
        lines = (folder / CHECKSUMS_FILE).read_text().splitlines()
        if kind == "drop-line":
            del lines[chunk]
        else:
            lines[chunk] = ("0" * 64) + lines[chunk][64:]
        (folder / CHECKSUMS_FILE).write_text("\n".join(lines) + "\n")


@FUZZ
@given(damage())
def test_a_damaged_folder_reads_correctly_or_is_refused(made, case) -> None:
    source, reference = made
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(source, Path(tmp) / "pop"))
        apply(folder, *case)
        try:
            got = read_population(folder).patients
        except InputError:
            pass
        else:
            pd.testing.assert_frame_equal(got, reference)
        try:
            count = query_results(folder, "SELECT count(*) AS n FROM patients").n.iloc[0]
        except InputError:
            pass
        else:
            assert count == N
        try:  # a resume recomputes what is damaged, or refuses
            generate(folder)
        except InputError:
            return
        pd.testing.assert_frame_equal(read_population(folder).patients, reference)


# --- trial spec lines ---------------------------------------------------------------------

LENG = design_path("leng2020").read_text(encoding="utf-8")
ASSIGNMENTS = [i for i, line in enumerate(LENG.splitlines())
               if re.match(r"^\s*[A-Za-z_]+\s*=", line)]
toml_values = st.one_of(
    st.integers().map(str), st.floats().map(lambda x: str(x).lower()),
    st.sampled_from(["nan", "inf", "-inf", "true", "false", '"10"', "[]", "{}", "[nan, 2]",
                     "1e308", "-1", "0", "100000000000", '""', "[1, [2, [3]]]", "{ a = 1 }"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12))


@FUZZ
@given(st.sampled_from(ASSIGNMENTS), toml_values)
def test_a_changed_spec_line_loads_or_is_refused(line: int, value: str) -> None:
    lines = LENG.splitlines()
    key = lines[line].split("=", 1)[0]
    lines[line] = f"{key}= {value}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            spec = load_spec(path)
        except InputError as err:
            assert "\n" not in str(err) and "Traceback" not in str(err)
            return
    assert spec.sample_size >= 1
    assert all(math.isfinite(v) and v > 0 for v in spec.allocation.ratio.values())


# --- evidence CSV cells ---------------------------------------------------------------------

with (DATA / "outcomes.csv").open(newline="", encoding="utf-8") as _fh:
    OUTCOME_ROWS = list(csv.reader(_fh))
cell_values = st.one_of(
    st.integers().map(str), st.floats().map(str), st.text(max_size=12),
    st.sampled_from(["1" + "0" * 30, "-1", "nan", "inf", "", "1.5", "1e30", "0x10"]))


@FUZZ
@given(st.integers(1, len(OUTCOME_ROWS) - 1), st.integers(0, len(OUTCOME_ROWS[0]) - 1),
       cell_values)
def test_a_changed_outcome_cell_loads_or_is_refused(row: int, column: int, value: str) -> None:
    rows = [list(r) for r in OUTCOME_ROWS]
    rows[row][column] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "outcomes.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)
        try:
            table = load_outcomes(path)
        except InputError as err:
            assert "\n" not in str(err)
            return
    counts = table[["events_treated", "n_treated", "events_control", "n_control"]]
    assert (counts.fillna(0) >= 0).all().all()
