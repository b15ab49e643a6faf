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


def _indices(st, st_conf, s1_conf=0.01):
    import pandas as pd

    return pd.DataFrame({"factor": [f"f{i}" for i in range(len(st))], "group": "test",
                         "S1": [v / 2 for v in st], "S1_conf": s1_conf, "ST": st,
                         "ST_conf": st_conf, "measure": [f"measure {i}" for i in range(len(st))]})


def test_a_ranking_is_resolved_only_where_the_intervals_stand_apart():
    from mscsim.bridge._sensitivity import recommendation_text, resolved_leaders

    clear = _indices([0.6, 0.3, 0.05, 0.02], [0.05, 0.05, 0.03, 0.02])
    assert list(resolved_leaders(clear).factor) == ["f0", "f1"]
    text = recommendation_text(clear)
    assert text.startswith("2 factors stand apart from the other 2")
    assert "A next trial should measure: f0 (total index 0.60 ± 0.05): measure 0; f1" in text
    # the case: ST 0.61 ± 0.54 from N = 16 and 16 patients, next 0.3 ± 0.4
    wide = _indices([0.61, 0.3, 0.1], [0.54, 0.4, 0.2])
    assert resolved_leaders(wide).empty
    text = recommendation_text(wide)
    assert text.startswith("The ranking is not resolved at this precision: the interval of "
                           "the largest total index, f0 (total index 0.61 ± 0.54), overlaps "
                           "those of 2 other factors (the next: f1")
    assert "should measure:" not in text
    near_zero = _indices([0.2, 0.01], [0.25, 0.01])
    assert "reaches zero" in recommendation_text(near_zero)
    ordered = _indices([0.5, 0.45, 0.02], [0.1, 0.1, 0.01])
    assert "(their order among themselves is not resolved)" in recommendation_text(ordered)
    impossible = _indices([7.4, 0.3], [1.0, 0.01])            # an index above 1: N too small
    assert resolved_leaders(impossible).empty
    assert "outside 0-1" in recommendation_text(impossible)


def test_the_precision_of_the_indices_is_said_in_words():
    from mscsim.bridge._sensitivity import precision_text

    text = precision_text(_indices([0.74, 0.3, 0.1], [1.2, 0.5, 0.05]), 16, 16)
    assert text.startswith("Saltelli base sample N = 16: 80 model evaluations of 3 factors, "
                           "each over the same 16 virtual patients with and without MSC. "
                           "Each ± is a 95% bootstrap half-width (200 resamples).")
    assert "half-widths run from 0.05 to 1.2 (median 0.5)" in text
    assert "in 2 of 3 factors the half-width is larger than the index itself" in text
    assert "outside 0-1" not in text
    assert "2 of the 4 indices lie outside 0-1" in precision_text(     # ST 7.4 and S1 3.7
        _indices([7.4, 0.3], [1.0, 0.05]), 16, 16)
