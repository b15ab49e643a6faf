"""The compiled back end: code generated from the model's SBML, held against the roadrunner
oracle, the SBML interpreter and finite differences; its cache under concurrent processes.

The registry-wide contracts (dose convention, mass balance, zero dose) run for every back end
in ``test_simulate_numerics.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mscsim import InputError, ModelError
from mscsim.model import Model
from mscsim.simulate import BACKENDS, Regimen, Status, simulate, simulate_batch
from mscsim.simulate._compiled import CACHE_ENV, CompiledModel, compiled_model

from .conftest import REFERENCE, fast_extra
from .test_sbml_math import SBML_TEMPLATE
from .test_simulate_numerics import THREE_DOSES, TIGHT, max_relative_error

#: patients that differ in the parameters the population varies (and in body weight)
PATIENTS = {
    "default": {},
    "reference-severe": None,
    "strong-innate": {"p_ifn": 3.0, "k_cd8_kill": 2.0, "body_weight_kg": 55.0},
    "weak-immune": {"p_ifn": 0.4, "k_cd8_kill": 0.5, "p_il6_mac": 2.0, "body_weight_kg": 95.0},
}


def _overrides(model: Model, name: str) -> dict[str, float]:
    given = PATIENTS[name]
    if given is None:
        return dict(model.patient(name).parameters)
    defaults = model.parameter_defaults
    return {k: defaults[k] * v if k != "body_weight_kg" else v for k, v in given.items()}


@pytest.fixture(scope="module")
def code(model: Model) -> CompiledModel:
    return compiled_model(model)


def test_compiled_is_registered() -> None:
    assert "compiled" in BACKENDS
    assert BACKENDS["compiled"].name == "compiled"


@fast_extra
@pytest.mark.parametrize("regimen", [Regimen.none(), THREE_DOSES], ids=["untreated", "3 doses"])
@pytest.mark.parametrize("patient", sorted(PATIENTS))
def test_compiled_agrees_with_roadrunner_within_1e4_at_daily_points(
        model: Model, patient: str, regimen: Regimen) -> None:
    params = _overrides(model, patient)
    rr = simulate(model, parameters=params, days=60, regimen=regimen, options=TIGHT)
    cc = simulate(model, parameters=params, days=60, regimen=regimen, options=TIGHT,
                  backend="compiled")
    errors = max_relative_error(cc.table, rr.table)
    assert max(errors.values()) <= 1e-4, errors
    assert cc.backend == "compiled"


@fast_extra
@pytest.mark.parametrize("regimen", [Regimen.none(), THREE_DOSES], ids=["untreated", "3 doses"])
def test_compiled_agrees_with_the_scipy_oracle_within_1e4(model: Model,
                                                          regimen: Regimen) -> None:
    cc = simulate(model, patient=REFERENCE, days=60, regimen=regimen, options=TIGHT,
                  backend="compiled")
    sp = simulate(model, patient=REFERENCE, days=60, regimen=regimen, options=TIGHT,
                  backend="scipy")
    errors = max_relative_error(cc.table, sp.table)
    assert max(errors.values()) <= 1e-4, errors


def test_rates_and_rules_match_the_sbml_interpreter(model: Model, code: CompiledModel) -> None:
    params = model.resolve_parameters(model.patient(REFERENCE).parameters)
    p = np.array([params[k] for k in code.parameters])
    states = simulate(model, parameters=params, days=12, outputs=code.states).table
    interpreter = model.compiled
    assert code.states == interpreter.state_ids
    for day in (0, 3, 8, 12):
        y = states.loc[states.time_days == day, list(code.states)].to_numpy()[0]
        dy = np.empty_like(y)
        code.rhs.ctypes(float(day), y.ctypes.data_as(_double_p()),  # type: ignore[attr-defined]
                        dy.ctypes.data_as(_double_p()), p.ctypes.data_as(_double_p()))
        np.testing.assert_allclose(dy, interpreter.rhs(float(day), y, params),
                                   rtol=1e-12, atol=1e-14)
        out = np.empty((1, len(code.states) + len(code.rules)))
        code.observe(np.array([float(day)]), y[None, :], p, out)
        rules = interpreter.rules(float(day), y, params)
        np.testing.assert_allclose(out[0, len(code.states):], [rules[r] for r in code.rules],
                                   rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(code.initial_state(p), interpreter.initial_state(params),
                               rtol=1e-15)


def _double_p():  # type: ignore[no-untyped-def]
    import ctypes

    return ctypes.POINTER(ctypes.c_double)


def test_analytic_jacobian_matches_finite_differences(model: Model,
                                                      code: CompiledModel) -> None:
    params = model.resolve_parameters(model.patient(REFERENCE).parameters)
    p = np.array([params[k] for k in code.parameters])
    states = simulate(model, parameters=params, days=20, regimen=Regimen.of([(7, 1e6)]),
                      outputs=code.states).table
    interpreter = model.compiled
    n = len(code.states)
    for day in (0, 5, 8, 15):
        y = states.loc[states.time_days == day, list(code.states)].to_numpy()[0]
        jac = np.empty((n, n))
        code.jacobian(float(day), y, p, jac)
        assert np.all(np.isfinite(jac)), f"non-finite Jacobian on day {day}"
        numeric = np.empty((n, n))
        rounding = np.empty((n, n))  # what floating point leaves of each difference quotient
        for j in range(n):
            # central differences; forward ones near a zero state (fractional powers of it)
            h = 1e-5 * max(abs(y[j]), 1e-2)
            up, down = y.copy(), y.copy()
            up[j] += h
            down[j] -= h if abs(y[j]) > 2 * h else 0.0
            f_up = interpreter.rhs(float(day), up, params)
            f_down = interpreter.rhs(float(day), down, params)
            numeric[:, j] = (f_up - f_down) / (up[j] - down[j])
            rounding[:, j] = (8 * np.finfo(float).eps * np.maximum(np.abs(f_up), np.abs(f_down))
                              / (up[j] - down[j]))
        scale = np.maximum(np.abs(numeric), 1e-6 * np.abs(numeric).max(axis=1, keepdims=True))
        scale = np.maximum(scale, 1e-300)  # rows of switched-off therapies are exactly zero
        # a derivative far below its right-hand side (ln_RNA on ln_V once the virus is gone:
        # k * exp(ln_V - ln_RNA) ~ 1e-11 beside k) is resolved only to the rounding error
        error = np.maximum(np.abs(jac - numeric) - rounding, 0.0)
        assert np.max(error / scale) < 1e-4, f"day {day}"


@fast_extra
def test_batch_statuses_and_per_patient_parameters(model: Model) -> None:
    severe = dict(model.patient(REFERENCE).parameters)
    sets = [{}, severe, {"k_repair": float("nan")}, {"c_virus": 1e300}]
    regimen = Regimen.of([(7, 1e6)])
    batch = simulate_batch(model, sets, regimens=regimen, days=20, backend="compiled")
    assert list(batch.status.status) == [Status.OK.value, Status.OK.value,
                                         Status.INVALID_PARAMETERS.value,
                                         Status.SOLVER_FAILURE.value]
    assert "LSODA" in batch.status.message[3]
    single = simulate(model, parameters=severe, days=20, regimen=regimen, backend="compiled")
    np.testing.assert_array_equal(batch.values[1], single.table[list(batch.outputs)])
    assert not np.allclose(batch.values[0], batch.values[1])


def test_generator_covers_function_definitions_piecewise_log_and_root() -> None:
    small = Model.from_sbml(SBML_TEMPLATE)
    code = compiled_model(small)
    p = np.array([small.parameter_defaults[k] for k in code.parameters])
    for x in (2.0, 0.5):
        y = np.array([x])
        dy = np.empty(1)
        code.rhs.ctypes(0.0, y.ctypes.data_as(_double_p()),  # type: ignore[attr-defined]
                        dy.ctypes.data_as(_double_p()), p.ctypes.data_as(_double_p()))
        assert dy[0] == pytest.approx(small.compiled.rhs(0.0, y, small.parameter_defaults)[0],
                                      rel=1e-14)
        jac = np.empty((1, 1))
        code.jacobian(0.0, y, p, jac)
        h = 1e-6
        numeric = (small.compiled.rhs(0.0, y + h, small.parameter_defaults)
                   - small.compiled.rhs(0.0, y - h, small.parameter_defaults)) / (2 * h)
        assert jac[0, 0] == pytest.approx(numeric[0], rel=1e-6)


def test_models_with_unsupported_constructs_are_refused() -> None:
    with_event = SBML_TEMPLATE.replace("</listOfRules>", """</listOfRules>
<listOfEvents><event id="e" useValuesFromTriggerTime="true"><trigger initialValue="true"
persistent="true"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><gt/><ci>x</ci>
<cn>5</cn></apply></math></trigger><listOfEventAssignments><eventAssignment variable="x">
<math xmlns="http://www.w3.org/1998/Math/MathML"><cn>1</cn></math></eventAssignment>
</listOfEventAssignments></event></listOfEvents>""")
    with pytest.raises(ModelError, match="1 events"):
        compiled_model(Model.from_sbml(with_event))


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from mscsim.model import Model
    from mscsim.simulate import simulate
    from mscsim.simulate._compiled import compiled_model
    model = Model.from_sbml(sys.argv[2])
    print(compiled_model(model).source_path)
    table = simulate(model, days=5, outputs=["x", "a"], backend="compiled").table
    np.save(sys.argv[1], table.to_numpy())
""")


@fast_extra
def test_cache_is_shared_by_concurrent_processes(tmp_path: Path) -> None:
    """Two processes compile into one empty cache at once; a third reuses it."""
    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache")}
    sbml = tmp_path / "small.xml"
    sbml.write_text(SBML_TEMPLATE)

    def start(name: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / name), str(sbml)],
                                env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first, second = start("a.npy"), start("b.npy")
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1
    source = Path(paths.pop())
    assert source.parent.parent == tmp_path / "cache"
    assert "eval(" not in source.read_text()
    stamp = source.stat().st_mtime_ns
    third = start("c.npy")
    out, err = third.communicate(timeout=300)
    assert third.returncode == 0, err
    assert source.stat().st_mtime_ns == stamp  # loaded, not generated again
    a, b, c = (np.load(tmp_path / f"{x}.npy") for x in "abc")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert any(source.parent.glob("__pycache__/*.nbc"))  # numba's machine code is cached


def test_unwritable_cache_folder_is_a_clear_error(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    other = Model.from_sbml(SBML_TEMPLATE.replace('id="k" value="3"', 'id="k" value="4"'))
    with pytest.raises(InputError, match=f"cannot write the compiled model cache.*{CACHE_ENV}"):
        compiled_model(other)
