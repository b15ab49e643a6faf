"""``mscsim population generate|summary|report`` (issue #3, items 5 and 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli_model import assert_one_line_error, run

SUMMARY_KEYS = {"n", "hospitalised_frac", "ifr", "ifr_by_age", "incubation_median_days",
                "peak_viral_load_log10_median", "onset_to_admission_median_days",
                "admitted_lymphopenia_frac"}


@pytest.fixture(scope="module")
def population_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "pop"
    proc = run("population", "generate", "--n", "40", "--seed", "5", "-o", str(folder),
               "--days", "40", "--workers", "2", "--chunk-size", "15", "--quiet")
    assert proc.returncode == 0, proc.stderr
    return folder


def test_generate_summary_report(population_folder: Path) -> None:
    proc = run("population", "summary", str(population_folder), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert set(summary) >= SUMMARY_KEYS
    assert summary["n"] == 40 and summary["seed"] == 5
    assert set(summary["ifr_by_age"]) == {"0-9", "10-19", "20-29", "30-39", "40-49", "50-59",
                                          "60-69", "70-79", "80+"}
    report = population_folder.parent / "report.html"
    assert run("population", "report", str(population_folder), "-o", str(report)
               ).returncode == 0
    assert "data:image/png;base64" in report.read_text()


def test_generate_refuses_non_empty_folder(population_folder: Path) -> None:
    proc = run("population", "generate", "--n", "5", "--seed", "1", "-o",
               str(population_folder))
    assert_one_line_error(proc, "not empty")
    assert json.loads((population_folder / "manifest.json").read_text())["n"] == 40


@pytest.mark.parametrize("args, fragment", [
    (["--n", "0", "--seed", "1"], "n must be a positive integer"),
    (["--n", "-3", "--seed", "1"], "n must be a positive integer"),
    (["--n", "5", "--seed", "1", "--engine", "cluster"], "unknown engine 'cluster'"),
    (["--n", "5", "--seed", "1", "--chunk-size", "0"], "chunk size"),
])
def test_bad_generate_arguments(tmp_path: Path, args, fragment) -> None:
    out = tmp_path / "pop"
    assert_one_line_error(run("population", "generate", "-o", str(out), *args), fragment)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_summary_of_a_folder_that_is_not_a_population(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    assert_one_line_error(run("population", "summary", str(tmp_path / "junk")),
                          "manifest.json is missing")
    assert_one_line_error(run("population", "summary", str(tmp_path / "absent")),
                          "population folder not found")
