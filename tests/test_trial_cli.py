"""``mscsim trial run|power|schema`` and ``mscsim report``: outputs, JSON keys, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mscsim._io import read_parquet
from mscsim.cli import main
from tests._trial_helpers import tiny_spec_file, toml_text


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_spec_file(tmp_path_factory.mktemp("trial"))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_error_in_a_real_process_is_one_line(spec_file: Path, tmp_path: Path) -> None:
    bad = _bad_spec(spec_file, tmp_path, lambda d: d.update(colour=1))
    proc = subprocess.run([sys.executable, "-m", "mscsim", "trial", "run", str(bad), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("mscsim: error: ")
    assert "field 'colour': unknown field" in proc.stderr


def test_run_power_report(spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    main(["trial", "run", str(spec_file), "-o", str(out), "--engine", "serial", "--quiet"])
    summary = json.loads((out / "summary.json").read_text())
    assert {"arms", "endpoints", "flow"} <= set(summary)
    for arm in ("msc", "placebo"):
        assert summary["arms"][arm]["n"] == 4
        assert set(summary["arms"][arm]["deaths"]) == {"14", "28"}
    for result in summary["endpoints"].values():
        assert {"estimate", "ci_low", "ci_high", "p_value"} <= set(result)
    patients = read_parquet(out / "patients.parquet")
    assert len(patients) == 8 and set(patients.arm) == {"msc", "placebo"}
    main(["trial", "power", str(spec_file), "--replicates", "50", "--target-power", "0.8",
          "-o", str(out), "--engine", "serial", "--quiet"])
    power = json.loads((out / "power.json").read_text())
    assert {"replicates", "primary_endpoint", "power", "type_i_error", "effect_median",
            "effect_q025", "effect_q975", "pilot_pattern", "sample_size_search"} <= set(power)
    assert power["replicates"] == 50 and power["primary_endpoint"] == "mortality_d28"
    main(["report", str(out)])
    page = (out / "report.html").read_text()
    for heading in ("Design", "CONSORT", "Kaplan-Meier", "WHO", "Biomarker", "Power",
                    "Replicated trials", "Cumulative incidence (Aalen-Johansen)",
                    "died before improving"):
        assert heading in page, heading
    assert page.count("data:image/png;base64,") >= 4


def test_run_is_reproducible_with_seed(spec_file: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        main(["trial", "run", str(spec_file), "-o", str(tmp_path / name), "--seed", "3",
              "--engine", "serial", "--quiet"])
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert a["endpoints"] == b["endpoints"] and a["seed"] == 3


def _bad_spec(spec_file: Path, tmp_path: Path, change) -> Path:
    import tomllib

    data = tomllib.loads(spec_file.read_text())
    data["population"]["path"] = str(spec_file.parent / "pop")
    change(data)
    path = tmp_path / "bad.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "expect"), [
    (lambda d: d.update(colour=1), "field 'colour': unknown field"),
    (lambda d: d.update(sample_size=2.5), "field 'sample_size'"),
    (lambda d: d["allocation"].update(ratio={"msc": 0, "placebo": 1}),
     "field 'allocation.ratio.msc'"),
    (lambda d: d.update(sample_size=4000), "field 'sample_size': sample size 4000 is larger"),
    (lambda d: d.update(eligibility={"ventilated": True, "pf_max": 50}),
     "field 'eligibility': no eligible patients"),
])
def test_bad_input_is_one_line_and_writes_nothing(spec_file: Path, tmp_path: Path, change,
                                                  expect: str, cli) -> None:
    bad = _bad_spec(spec_file, tmp_path, change)
    out = tmp_path / "out"
    code, _, err = cli("trial", "run", str(bad), "-o", str(out), "--engine", "serial",
                       "--quiet")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mscsim: error: "), err
    assert expect in lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_line_number_in_cli_error(spec_file: Path, tmp_path: Path, cli) -> None:
    bad = _bad_spec(spec_file, tmp_path, lambda d: d.update(sample_size="many"))
    line = next(i for i, ln in enumerate(bad.read_text().splitlines(), 1)
                if ln.startswith("sample_size"))
    code, _, err = cli("trial", "power", str(bad), "-o", str(tmp_path / "p"), "--quiet")
    assert f"{bad}:{line}" in err and code == 2
    assert not (tmp_path / "p").exists()


def test_existing_output_folder_is_refused(spec_file: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = cli("trial", "run", str(spec_file), "-o", str(out), "--quiet")
    assert code == 2 and "not empty" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_report_of_a_non_trial_folder(tmp_path: Path, cli) -> None:
    code, _, err = cli("report", str(tmp_path))
    assert code == 2 and "not a trial folder" in err


def test_schema_command_prints_the_stored_schema(cli) -> None:
    code, out, _ = cli("trial", "schema")
    stored = (Path(__file__).resolve().parents[1] / "docs" / "trial_spec.schema.json")
    assert code == 0 and out == stored.read_text()


def test_shipped_designs_from_an_empty_folder(tmp_path: Path) -> None:
    """``trial list``, ``trial show`` and ``trial run NAME`` need no repository checkout."""
    from mscsim.trial import design_names, design_path

    def mscsim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mscsim", *args], capture_output=True,
                              text=True, timeout=600, cwd=tmp_path)

    listed = mscsim("trial", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == design_names()
    assert any(line.startswith("leng2020 ") and "Pilot" in line for line in lines)
    shown = mscsim("trial", "show", "leng2020")
    assert shown.stdout == design_path("leng2020").read_text(encoding="utf-8")
    (tmp_path / "my.toml").write_text(shown.stdout.replace("seed = 2020\n", "seed = 7\n", 1))
    ran = mscsim("trial", "run", "leng2020", "-o", "out", "--quiet")
    assert ran.returncode == 0, ran.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["trial"] == "leng2020"
    edited = mscsim("trial", "run", "my.toml", "-o", "mine", "--quiet")
    assert edited.returncode == 0, edited.stderr
    assert json.loads((tmp_path / "mine" / "summary.json").read_text())["seed"] == 7


def test_power_curve_with_progress_in_a_log_and_a_small_pool_warning(spec_file: Path,
                                                                     tmp_path: Path) -> None:
    """``trial power ... 2> log``: progress lines in the log, the warning, curve outputs."""
    out = tmp_path / "curve"
    log = tmp_path / "log"
    with log.open("w") as stderr:
        proc = subprocess.run([sys.executable, "-m", "mscsim", "trial", "power", str(spec_file),
                               "--replicates", "40", "--sample-sizes", "4,8", "-o", str(out),
                               "--engine", "serial", "--chunk-size", "4"], stderr=stderr,
                              text=True, timeout=600)
    text = log.read_text()
    assert proc.returncode == 0, text
    lines = text.splitlines()
    for stage in ("screening", "MSC arm"):
        staged = [line for line in lines if line.startswith(f"{stage}: ")]
        assert staged[0].startswith(f"{stage}: 4/") and "(100%)" in staged[-1], text
        assert len(staged) >= 5 and "elapsed, about" in staged[1], text
    warning = [line for line in lines if line.startswith("mscsim: warning: ")]
    assert len(warning) == 1 and "smaller than 10 N at N=8" in warning[0], text
    assert any(line.split()[:1] == ["4"] for line in lines)  # the curve table
    power = json.loads((out / "power.json").read_text())
    assert [p["n"] for p in power["power_curve"]] == [4, 8]
    assert {"power", "power_mc_se", "type_i_error", "effect_median", "effect_q025",
            "effect_q975", "pool_valid"} <= set(power["power_curve"][0])
    main(["report", str(out)])
    page = (out / "report.html").read_text()
    assert page.index("Pool too small for valid replicates") < page.index("<h2>Design</h2>")
    assert "<h2>Power curve</h2>" in page and page.count("data:image/png;base64,") >= 2


def test_bad_sample_sizes_are_one_line_errors(spec_file: Path, tmp_path: Path, cli) -> None:
    for sizes, expect in (("4,x", "expected comma-separated whole numbers"),
                          ("1,8", "at least 2, got 1")):
        code, _, err = cli("trial", "power", str(spec_file), "--sample-sizes", sizes, "-o",
                           str(tmp_path / "p"), "--quiet")
        assert code == 2 and "field 'sample_sizes'" in err and expect in err, err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()
