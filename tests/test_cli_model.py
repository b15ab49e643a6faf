"""The command line for the model: export, params, simulate, flagship (issue #2, items 5, 7)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mscsim.model import OBSERVABLE_NAMES, Model, sbml_errors


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mscsim", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mscsim: error:")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_export_sbml_and_antimony(tmp_path: Path) -> None:
    sbml, ant = tmp_path / "m.xml", tmp_path / "m.ant"
    assert run("model", "export", "--format", "sbml", "-o", str(sbml)).returncode == 0
    assert run("model", "export", "--format", "antimony", "-o", str(ant)).returncode == 0
    assert sbml_errors(sbml.read_text()) == []
    assert "pf_ratio_mmhg" in ant.read_text()
    severe = tmp_path / "severe.xml"
    assert run("model", "export", "-o", str(severe), "--patient", "reference-severe"
               ).returncode == 0
    assert Model.from_sbml(severe).parameter_defaults["p_ifn"] == 25


def test_params_json_lists_every_parameter_with_source(model: Model) -> None:
    proc = run("model", "params", "--json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    assert {r["name"] for r in rows} == set(model.parameter_defaults)
    assert all(r["source"] and r["unit"] for r in rows)
    assert "k_msc_lung_death" in run("model", "params").stdout


def test_simulate_writes_csv_and_plot(tmp_path: Path) -> None:
    out, png = tmp_path / "run.csv", tmp_path / "run.png"
    proc = run("simulate", "--patient", "reference-severe", "--dose", "1e6", "--dose-day", "7",
               "--days", "30", "--set", "k_repair=0.12", "-o", str(out), "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["time_days", *OBSERVABLE_NAMES, "support_level", "who_scale",
                                   "cum_hazard_supported"]
    assert list(table.time_days) == list(range(31))
    assert table.set_index("time_days").msc_total_cells.loc[7] == pytest.approx(7e7)
    assert png.stat().st_size > 10_000


def test_flagship_main_job_from_any_folder(tmp_path: Path) -> None:
    """Run from an empty folder outside the repository: the design ships with the package."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = elsewhere / "fl"
    proc = run("flagship", "-o", "fl", "--replicates", "200", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["treated"]["death_probability"] < summary["untreated"]["death_probability"]
    assert (out / "flagship.png").stat().st_size > 10_000
    power = json.loads((out / "leng2020" / "power.json").read_text())
    assert power["replicates"] == 200 and 0 <= power["power"] <= 1
    assert "Flow of patients" in (out / "leng2020" / "report.html").read_text()


def test_flagship_without_its_trial_spec(tmp_path: Path) -> None:
    out = tmp_path / "fl"
    assert_one_line_error(run("flagship", "-o", str(out), "--trial", str(tmp_path / "no.toml")),
                          "trial spec not found", "shipped designs: ")
    assert not out.exists()
    assert run("flagship", "-o", str(out), "--skip-trial").returncode == 0
    assert not (out / "leng2020").exists()


@pytest.mark.parametrize("args, fragments", [
    (["--set", "nope=1"], ["unknown parameter 'nope'"]),
    (["--set", "k_repair=abc"], ["'abc'", "k_repair"]),
    (["--set", "k_repair"], ["PARAM=VALUE"]),
    (["--dose", "-1e6", "--dose-day", "5"], ["must not be negative"]),
    (["--dose", "lots", "--dose-day", "5"], ["--dose", "'lots' is not a number"]),
    (["--dose", "1e6", "--dose-day", "40", "--days", "30"], ["outside the simulated horizon"]),
    (["--dose", "1e6"], ["--dose-day"]),
    (["--patient", "nobody"], ["unknown patient 'nobody'"]),
    (["--days", "0"], ["days must be a positive number"]),
])
def test_bad_input_gives_one_line_error_and_no_file(tmp_path: Path, args, fragments) -> None:
    out = tmp_path / "out.csv"
    proc = run("simulate", "-o", str(out), *args)
    assert_one_line_error(proc, *fragments)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, text, fragment", [
    ("bad.ant", "model bad()\n  x' = k *\nend\n", "bad.ant"),
    ("bad.xml", "<?xml version='1.0'?>\n<sbml level='3' version='2'>\n<model", "bad.xml:"),
    ("bad.json", "{}", "unknown model file type"),
])
def test_malformed_model_file(tmp_path: Path, name, text, fragment) -> None:
    path = tmp_path / name
    path.write_text(text)
    out = tmp_path / "out.csv"
    assert_one_line_error(run("simulate", "--model", str(path), "-o", str(out)), fragment)
    assert not out.exists()


def test_user_sbml_model_simulates(tmp_path: Path) -> None:
    sbml = tmp_path / "m.xml"
    run("model", "export", "-o", str(sbml))
    out = tmp_path / "out.csv"
    proc = run("simulate", "--model", str(sbml), "--dose", "1e6", "--dose-day", "3",
               "--days", "5", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(out).msc_total_cells.iloc[3] == pytest.approx(7e7)


@pytest.mark.parametrize("argv", [("validate", "--profile", "levin"), ("simulate", "--dayz", "3"),
                                  ("trial", "run")])
def test_a_usage_error_is_a_usage_message_not_a_traceback(argv: tuple[str, ...]) -> None:
    """An unknown option or a missing argument: click's short usage message and exit code 2,
    whichever copy of click (click's own, or the one typer vendors) raised it."""
    proc = run(*argv)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Usage: " in proc.stderr and "mscsim" in proc.stderr
    assert "Error:" in proc.stderr
