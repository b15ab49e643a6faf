"""``mscsim population generate|summary|report`` (issue #3, items 5 and 8)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .test_cli_model import assert_one_line_error, run


def run_here(capsys: pytest.CaptureFixture[str], *args: str
             ) -> subprocess.CompletedProcess[str]:
    """The command line run in this process (no interpreter start-up to wait for)."""
    from mscsim.cli import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)

SUMMARY_KEYS = {"n", "hospitalised_frac", "ifr", "ifr_by_age", "incubation_median_days",
                "peak_viral_load_log10_median", "onset_to_admission_median_days",
                "admitted_lymphopenia_frac"}


GENERATE = ("population", "generate", "--n", "40", "--seed", "5", "--days", "40",
            "--chunk-size", "15", "--quiet")


@pytest.fixture(scope="module")
def population_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "pop"
    proc = run(*GENERATE, "-o", str(folder), "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    return folder


def test_generate_summary_report(capsys, population_folder: Path) -> None:
    proc = run_here(capsys, "population", "summary", str(population_folder), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert set(summary) >= SUMMARY_KEYS
    assert summary["n"] == 40 and summary["seed"] == 5
    assert set(summary["ifr_by_age"]) == {"0-9", "10-19", "20-29", "30-39", "40-49", "50-59",
                                          "60-69", "70-79", "80+"}
    report = population_folder.parent / "report.html"
    assert run_here(capsys, "population", "report", str(population_folder), "-o",
                    str(report)).returncode == 0
    assert "data:image/png;base64" in report.read_text()


def test_every_population_figure_links_the_tables_it_is_drawn_from(
        capsys, population_folder: Path, tmp_path: Path) -> None:
    """Under each figure its tables, written in figures/ beside the report (issue #15); the
    rows are the patients' numbers the figure shows."""
    import numpy as np
    import pandas as pd

    from mscsim.population import read_population
    from mscsim.population._summary import AGE_BANDS
    from tests.test_trial_report import figure_links

    report = tmp_path / "out" / "population.html"
    assert run_here(capsys, "population", "report", str(population_folder), "-o",
                    str(report)).returncode == 0
    links = figure_links(report.read_text())
    assert len(links) == 2 and [len(group) for group in links] == [3, 3], links
    tables = {Path(link).stem: pd.read_csv(report.parent / link)
              for group in links for link in group}
    assert all(link.startswith("figures/") for group in links for link in group)
    ok = read_population(population_folder).ok
    age = ok.age.to_numpy(float)
    assert tables["age_histogram"].patients.sum() == len(ok)
    hosp = tables["hospitalised_by_age"].set_index("age_band").hospitalised_per_infection
    for band, lo, hi in AGE_BANDS:
        inside = (age >= lo) & (age < hi)
        if inside.any():
            assert hosp[band] == pytest.approx(ok.hospitalised[inside].mean())
        else:
            assert np.isnan(hosp[band])
    il6 = tables["peak_il6_by_severity"].set_index("severity")
    admitted = ok[~ok.hospitalised.astype(bool)].peak_il6_pg_ml
    assert il6.loc["not admitted", "patients"] == len(admitted)
    assert il6.loc["not admitted", "peak_il6_pg_ml_median"] == pytest.approx(
        float(np.median(admitted)))
    onset = ok.symptom_onset_day.dropna()
    assert tables["symptom_onset_histogram"].patients.sum() == int((onset < 14.5).sum())


def test_generate_refuses_a_folder_made_by_another_command(
        capsys, population_folder: Path) -> None:
    proc = run_here(capsys, "population", "generate", "--n", "5", "--seed", "1", "-o",
                    str(population_folder))
    assert_one_line_error(proc, "made by a different command", "seed 5 in the folder, 1 now",
                          "n 40 in the folder, 5 now")
    assert json.loads((population_folder / "manifest.json").read_text())["n"] == 40


def test_the_same_command_on_a_finished_folder_says_it_is_complete(
        capsys, population_folder: Path) -> None:
    proc = run_here(capsys, *GENERATE, "-o", str(population_folder), "--engine", "serial")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == f"{population_folder} is already complete (40 patients); " \
                                  "nothing to do"


def test_generate_refuses_a_non_empty_folder_that_is_not_a_population(
        capsys, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert_one_line_error(run_here(capsys, *GENERATE, "-o", str(tmp_path)), "not empty")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_an_unwritable_output_folder_is_a_one_line_error(capsys, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_one_line_error(run_here(capsys, *GENERATE, "-o", str(tmp_path / "file" / "pop")),
                          "cannot write to the output folder")


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(capsys, tmp_path: Path) -> None:
    args = ("population", "generate", "--n", "4", "--seed", "2", "--days", "40", "--engine",
            "serial", "--chunk-size", "1")
    proc = run_here(capsys, *args, "-o", str(tmp_path / "pop"))  # no --quiet
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "patients: 0/4 patients (0%), started"
    assert [line.split(",")[0] for line in lines[1:5]] == [
        f"patients: {k}/4 patients ({25 * k}%)" for k in range(1, 5)]
    assert "elapsed, about" in lines[1] and lines[4].endswith(" elapsed")
    assert lines[5:] == [f"wrote {tmp_path / 'pop'} (4 patients in 4 chunks)"]
    quiet = run_here(capsys, *args, "-o", str(tmp_path / "quiet"), "--quiet")
    assert quiet.returncode == 0
    assert quiet.stderr.splitlines() == [f"wrote {tmp_path / 'quiet'} (4 patients in 4 chunks)"]


def test_plain_lines_come_about_every_tenth_of_a_stage(monkeypatch) -> None:
    from mscsim.cli._progress import _Lines

    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    now = [0.0]
    lines = _Lines("patients", clock=lambda: now[0])
    lines.show("screening", 0, 1000)
    for done in range(1, 1001):
        now[0] = done / 100  # 100 patients/s
        lines.show("screening", done, 1000)
    written = screen.getvalue().splitlines()
    assert len(written) == 11  # the start, then every 10%
    assert written[5] == "screening: 500/1,000 patients (50%), 5 s elapsed, about 5 s left"
    assert written[-1] == "screening: 1,000/1,000 patients (100%), 10 s elapsed"
    resumed = _Lines("patients", clock=lambda: 0.0)
    resumed.show("MSC arm", 300, 1000)
    resumed.show("done", 40, 40)
    assert screen.getvalue().splitlines()[11:] == [
        "MSC arm: 300/1,000 patients (30%)", "done: 40/40 patients (100%), done"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_show_rate_and_time_left_on_a_terminal(monkeypatch) -> None:
    from mscsim.cli._progress import progress_bars

    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    with progress_bars(quiet=False) as show:
        assert show is not None
        show("patients", 0, 100)
        show("patients", 50, 100)
        show("patients", 100, 100)
    drawn = screen.getvalue()
    assert "patients" in drawn and "100/100" in drawn and "patients/s" in drawn
    assert "ETA" in drawn
    with progress_bars(quiet=True) as show:
        assert show is None


@pytest.mark.parametrize("args, fragment", [
    (["--n", "0", "--seed", "1"], "n must be a positive integer"),
    (["--n", "-3", "--seed", "1"], "n must be a positive integer"),
    (["--n", "5", "--seed", "1", "--engine", "cluster"], "unknown engine 'cluster'"),
    (["--n", "5", "--seed", "1", "--calibration", "who"], "unknown calibration profile 'who'"),
    (["--n", "5", "--seed", "1", "--chunk-size", "0"], "chunk size"),
])
def test_bad_generate_arguments(capsys, tmp_path: Path, args, fragment) -> None:
    out = tmp_path / "pop"
    assert_one_line_error(run_here(capsys, "population", "generate", "-o", str(out), *args),
                          fragment)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_summary_of_a_folder_that_is_not_a_population(capsys, tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    assert_one_line_error(run_here(capsys, "population", "summary", str(tmp_path / "junk")),
                          "manifest.json is missing")
    assert_one_line_error(run_here(capsys, "population", "summary", str(tmp_path / "absent")),
                          "population folder not found")
