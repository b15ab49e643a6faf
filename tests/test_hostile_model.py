"""Issue 14, model files: ``mscsim simulate --model F`` on hostile SBML and Antimony must end
in one line with exit status 2 (never a signal, a traceback or minutes of work) or in a
correct result."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mscsim import InputError, ModelError, SimulationError, simulate
from mscsim.model import Model, load_model_file
from mscsim.simulate import output_times
from tests import _hostile as h
from tests.test_cli_model import assert_one_line_error
from tests.test_cli_population import run_here

needs_numbalsoda = pytest.mark.skipif(importlib.util.find_spec("numbalsoda") is None,
                                      reason="the compiled back end needs numbalsoda")


def simulate_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """In a child process: a crash of libsbml or libroadrunner must not take pytest along."""
    return subprocess.run([sys.executable, "-m", "mscsim", "simulate", "--days", "2", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("name", "make", "fragment"), [
    ("deep.xml", lambda: h.deep_model(100_000), "MSCSIM_MAX_MATH_DEPTH"),  # crash 6: segfault
    ("self.xml", h.self_recursive_model, "recursive function definition: f -> f"),  # 7
    ("mutual.xml", h.mutually_recursive_model, "f -> g -> f"),           # crash 8: segfault
], ids=["deep", "self-recursive", "mutually-recursive"])
def test_models_that_crashed_the_process_are_refused(tmp_path: Path, name: str, make,
                                                     fragment: str) -> None:
    path = h.write(tmp_path, name, make())
    out = tmp_path / "out.csv"
    proc = simulate_cli("--model", str(path), "-o", str(out))
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert_one_line_error(proc, str(path), fragment)
    assert not out.exists()


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: h.deep_model(5_000), "MSCSIM_MAX_MATH_DEPTH"),  # crash 9: RecursionError, 257 s
    (lambda: h.doubling_model(39), "MSCSIM_MAX_MATH_NODES"),  # hang: 2**39 terms inlined
    (lambda: h.parameter_value_model("INF"), "parameter 'k' has the value inf"),  # inf CSV
    (lambda: h.parameter_value_model("NaN"), "parameter 'k' has the value nan"),  # empty CSV
    (lambda: h.parameter_value_model("-INF"), "parameter 'k' has the value -inf"),
], ids=["deep-5000", "doubling-39", "inf", "nan", "-inf"])
def test_models_are_refused_in_a_second(tmp_path: Path, make, fragment: str) -> None:
    path = h.write(tmp_path, "model.xml", make())
    start = time.perf_counter()
    with pytest.raises(ModelError, match=fragment) as info:
        load_model_file(path)
    assert time.perf_counter() - start < 10
    assert str(path) in str(info.value)


def test_a_deep_function_chain_is_refused_once_inlined(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MSCSIM_MAX_MATH_DEPTH", "30")
    with pytest.raises(ModelError, match="inlines to .* nested .* deep"):
        Model.from_sbml(h.doubling_model(15))


def test_a_model_within_the_depth_limit_loads(tmp_path: Path) -> None:
    model = Model.from_sbml(h.deep_model(150))
    result = simulate(model, days=1, backend="scipy")
    assert result.table.x.iloc[0] == pytest.approx(1)


def test_many_rules_are_refused_by_the_compiled_back_end_before_compiling(tmp_path) -> None:
    """Hang: 10,000 rules ran > 300 s and took 5.8 GB in numba; roadrunner copes."""
    model = Model.from_sbml(h.many_rules_model(10_000))
    start = time.perf_counter()
    with pytest.raises(ModelError, match="MSCSIM_MAX_COMPILED_RULES"):
        simulate(model, days=1, outputs=["x"], backend="compiled")
    assert time.perf_counter() - start < 10
    assert simulate(model, days=1, outputs=["x", "r5"]).table.r5.iloc[0] == 5


@needs_numbalsoda
@pytest.mark.parametrize(("rate", "fragment"), [
    ("1/0", "non-finite|LSODA failed"),                        # crash 10: ZeroDivisionError
    ("x/0", "non-finite|LSODA failed"),
    ("10^1000", "non-finite|LSODA failed"),                    # crash 11: 'inf' not defined
    ("99999999^99999999", "non-finite|LSODA failed"),          # hang: > 300 s in sympy
    ("123456789012345678901234567890*x", "non-finite|LSODA failed"),  # 12: Int too large
])
def test_the_compiled_back_end_fails_cleanly(tmp_path: Path, rate: str, fragment: str) -> None:
    path = h.write(tmp_path, "m.ant", h.antimony(rate))
    start = time.perf_counter()
    with pytest.raises(SimulationError, match=fragment):
        simulate(load_model_file(path), days=2, backend="compiled")
    assert time.perf_counter() - start < 120


@needs_numbalsoda
def test_a_huge_integer_literal_compiles_to_its_value(tmp_path: Path) -> None:
    path = h.write(tmp_path, "m.ant", h.antimony("123456789012345678901234567890"))
    got = simulate(load_model_file(path), days=1, backend="compiled").table
    assert got.x.iloc[-1] == pytest.approx(1 + 1.2345678901234568e29)


def test_a_model_without_the_flagship_observables_reports_its_own_variables(
        capsys, tmp_path: Path) -> None:
    """Silent wrong result: the CSV held only time_days."""
    path = h.write(tmp_path, "m.xml", h.many_rules_model(3))
    out = tmp_path / "out.csv"
    proc = run_here(capsys, "simulate", "--model", str(path), "-o", str(out), "--days", "2")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["time_days", "x", "r0", "r1", "r2"]
    assert table.r2.iloc[0] == 2


def test_a_result_with_infinities_is_an_error_not_a_csv(tmp_path: Path) -> None:
    path = h.write(tmp_path, "m.ant", h.antimony("-x", "  y := 1/(x - x)\n"))
    with pytest.raises(SimulationError, match="y is inf at day 0"):
        simulate(load_model_file(path), days=1)


def test_events_run_with_roadrunner_and_delays_name_no_back_end(tmp_path: Path) -> None:
    """Smaller: the refusal said 'use the roadrunner back end' with roadrunner in use."""
    events = h.write(tmp_path, "ev.ant", "model ev()\n  x = 1\n  x' = -x\n"
                                          "  E1: at time > 1: x = 5\nend\n")
    got = simulate(load_model_file(events), days=3).table
    assert got.x.iloc[2] == pytest.approx(5 * 2.718281828 ** -1, rel=1e-3)
    with pytest.raises(ModelError, match="use the roadrunner back end"):
        simulate(load_model_file(events), days=3, backend="scipy")
    delay = h.write(tmp_path, "dl.ant", "model dl()\n  x = 1\n  x' = -delay(x, 1)\nend\n")
    with pytest.raises(ModelError, match="delay\\(\\), which no back end") as info:
        load_model_file(delay)
    assert "roadrunner" not in str(info.value)


def test_antimony_imports_only_from_the_models_folder(capsys, tmp_path: Path) -> None:
    """Antimony read /etc/passwd and quoted its first word in the error."""
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2 is the password\n")
    folder = tmp_path / "models"
    folder.mkdir()
    for source in ("/etc/passwd", str(secret), "../secret.txt"):
        path = h.write(folder, "m.ant", f'import "{source}"\n' + h.antimony("-x"))
        proc = run_here(capsys, "simulate", "--model", str(path), "-o", str(tmp_path / "o.csv"))
        assert proc.returncode == 2
        assert_one_line_error(proc, "is refused: only files inside the model's folder")
        assert "reserved word" not in proc.stderr and "hunter2" not in proc.stderr
    h.write(folder, "sub.ant", "model sub()\n  y = 1\n  y' = -y\nend\n")
    h.write(folder, "nested.ant", 'import "../secret.txt"\n')
    path = h.write(folder, "m.ant", 'import "nested.ant"\n' + h.antimony("-x"))
    with pytest.raises(ModelError, match="secret.txt' is refused"):
        load_model_file(path)
    path = h.write(folder, "m.ant", 'import "sub.ant"\n' + h.antimony("-x"))
    assert simulate(load_model_file(path), days=1).table.x.iloc[0] == 1
    with pytest.raises(ModelError, match="given as a string cannot import"):
        Model.from_antimony('import "sub.ant"\n' + h.antimony("-x"))


def test_sbml_references_to_other_files_are_refused() -> None:
    text = h.sbml(rules=h.rate_rule("x", "<ci>x</ci>")).replace(
        '<model id="hostile">',
        '<listOfExternalModelDefinitions xmlns="http://www.sbml.org/sbml/level3/version1/comp'
        '/version1"><externalModelDefinition id="e" source="file:///etc/passwd"/>'
        '</listOfExternalModelDefinitions><model id="hostile">')
    with pytest.raises(ModelError, match="refers to another model file"):
        Model.from_sbml(text)


def test_an_oversized_model_file_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MSCSIM_MAX_MODEL_BYTES", "100")
    path = h.write(tmp_path, "m.xml", h.deep_model(3))
    with pytest.raises(ModelError, match="MSCSIM_MAX_MODEL_BYTES"):
        load_model_file(path)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--points-per-day", "100000"], "MSCSIM_MAX_POINTS_PER_DAY"),  # hang: 2.8 million rows
    (["--days", "1e9"], "MSCSIM_MAX_OUTPUT_POINTS"),
    (["--points-per-day", "0"], "at least 1"),
])
def test_output_grids_are_bounded(capsys, tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "out.csv"
    start = time.perf_counter()
    proc = run_here(capsys, "simulate", "-o", str(out), *args)
    assert proc.returncode == 2 and time.perf_counter() - start < 10
    assert_one_line_error(proc, fragment)
    assert not out.exists()
    with pytest.raises(InputError, match=fragment):
        output_times(float(args[1]) if args[0] == "--days" else 28,
                     int(args[1]) if args[0] != "--days" else 1)
