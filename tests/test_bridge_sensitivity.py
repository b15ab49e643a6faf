"""Sobol indices (SALib) against the Ishigami function's analytic values; factor ranges."""

from __future__ import annotations

import numpy as np
import pytest

from mscsim import InputError
from mscsim.bridge import Factor, default_factors, sobol_indices
from mscsim.model import load_model

# Ishigami & Homma (1990), a = 7, b = 0.1: analytic first-order and total indices
# (Sobol & Levitan 1999; the values SALib's own tests use)
S1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
ST = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}
TOL = 0.05  # Monte Carlo error at n = 2048, (3 + 2) * 2048 evaluations


def ishigami(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_indices_against_the_analytic_ishigami_values():
    factors = [Factor(f"x{i}", -np.pi, np.pi, False, "test", "set", "") for i in (1, 2, 3)]
    out = sobol_indices(ishigami, factors, 2048, seed=7).set_index("factor")
    for name in S1:
        assert out.loc[name, "S1"] == pytest.approx(S1[name], abs=TOL)
        assert out.loc[name, "ST"] == pytest.approx(ST[name], abs=TOL)


def test_log_factors_sample_on_their_range():
    f = Factor("k", 0.1, 1000.0, True, "MSC PK", "set", "")
    v = f.value(np.array([0.0, 0.25, 0.5, 1.0]))
    np.testing.assert_allclose(v, [0.1, 1.0, 10.0, 1000.0], rtol=1e-12)


def test_default_factors_lie_within_the_parameter_table_bounds():
    table = load_model().parameter_table
    factors = default_factors()
    groups = {f.group for f in factors}
    assert groups == {"MSC PD", "MSC PK", "disease"}
    for f in factors:
        assert f.low < f.high and f.measure
        if f.how == "set":
            assert table[f.name].lower <= f.low and f.high <= table[f.name].upper


def test_sobol_sample_size_must_be_a_power_of_two():
    factors = [Factor("x1", 0, 1, False, "t", "set", ""), Factor("x2", 0, 1, False, "t", "set",
                                                                 "")]
    with pytest.raises(InputError, match="power of two"):
        sobol_indices(lambda x: x[:, 0], factors, 12, seed=1)
