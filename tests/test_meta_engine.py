"""Unit tests of the meta-analysis engine that need no R: degenerate input, provenance,
the estimator registry, JSON output, plots. The numerical validation is in
test_meta_against_R.py."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mscsim import InputError
from mscsim.evidence import (
    TAU2_ESTIMATORS,
    Tau2Fit,
    ZeroCellHandling,
    escalc,
    forest_plot,
    forest_table,
    funnel_plot,
    meta_analysis,
    meta_regression,
    register_tau2_estimator,
    rma,
    rma_mh,
    rma_peto,
    subgroup_analysis,
    tau2_qprofile_ci,
    trim_and_fill,
)

BCG = pd.DataFrame({
    "study_id": [f"s{i}" for i in range(1, 14)],
    "ai": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    "n1": [123, 306, 231, 13598, 5069, 1541, 2545, 88391, 7499, 1716, 50634, 2498, 16913],
    "ci": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    "n2": [139, 303, 220, 12867, 5808, 1451, 629, 88391, 7277, 1665, 27338, 2341, 17854],
    "alloc": ["r", "r", "r", "r", "a", "a", "r", "r", "r", "s", "s", "s", "s"],
})


def bcg_effects(measure: str = "RR", **kw):
    return escalc(measure, BCG.ai, BCG.n1, BCG.ci, BCG.n2, study_id=BCG.study_id, **kw)


# ---------------------------------------------------------------- effect sizes


def test_escalc_formulas_by_hand() -> None:
    eff = escalc("RR", [10], [50], [20], [50])
    assert eff.yi[0] == pytest.approx(math.log(0.2 / 0.4))
    assert eff.vi[0] == pytest.approx(1 / 10 - 1 / 50 + 1 / 20 - 1 / 50)
    eff = escalc("or", [10], [50], [20], [50])  # case-insensitive
    assert eff.measure == "OR"
    assert eff.yi[0] == pytest.approx(math.log(10 * 30 / (40 * 20)))


def test_zero_cells_get_the_metafor_default_correction() -> None:
    eff = escalc("RR", [0, 5], [10, 10], [3, 5], [10, 10])
    assert eff.corrected.tolist() == [True, False]
    assert eff.yi[0] == pytest.approx(math.log((0.5 / 11) / (3.5 / 11)))
    assert eff.zero_cell == ZeroCellHandling(add=0.5, to="only0", drop00=False)


def test_treatment_arm_correction_by_hand() -> None:
    # n1 = 30, n2 = 10: the MSC arm gets 0.75, the control arm 0.25 (sum 2 * add = 1)
    eff = escalc("OR", [0], [30], [2], [10], correction="tacc")
    a, b, c, d = 0.75, 30.75, 2.25, 8.25
    assert eff.yi[0] == pytest.approx(math.log(a * d / (b * c)))
    assert eff.vi[0] == pytest.approx(1 / a + 1 / b + 1 / c + 1 / d)
    assert eff.zero_cell.correction == "tacc"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"measure": "SMD"}, "measure"),
    ({"to": "sometimes"}, "to"),
    ({"add": -1.0}, "add"),
    ({"correction": "empirical"}, "correction"),
])
def test_escalc_rejects_bad_options(kwargs, field) -> None:
    args = {"measure": "RR", **kwargs}
    measure = args.pop("measure")
    with pytest.raises(InputError) as err:
        escalc(measure, [1], [10], [2], [10], **args)
    assert err.value.field == field


def test_escalc_rejects_impossible_counts() -> None:
    with pytest.raises(InputError, match="more events"):
        escalc("RR", [11], [10], [2], [10])
    with pytest.raises(InputError, match=">= 0"):
        escalc("RR", [-1], [10], [2], [10])


# ---------------------------------------------------------------- degenerate cases


def test_k0_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no studies"):
        rma(escalc("RR", [], [], [], []))
    with pytest.raises(InputError, match="no studies"):
        meta_analysis(BCG.iloc[:0])


def test_k1_is_the_single_study_with_a_warning() -> None:
    eff = bcg_effects().subset([True] + [False] * 12)
    with pytest.warns(UserWarning, match="k=1"):
        res = rma(eff, method="REML", test="knha")
    assert res.k == 1
    assert res.estimate == pytest.approx(eff.yi[0])
    assert res.se == pytest.approx(math.sqrt(eff.vi[0]))
    assert res.tau2 == 0
    assert math.isnan(res.q) and math.isnan(res.i2) and math.isnan(res.h2)
    assert math.isnan(res.pi_low) and math.isnan(res.tau2_ci_low)
    assert res.test == "z"  # no t distribution with 0 degrees of freedom
    z = stats.norm.ppf(0.975)
    assert res.ci_high == pytest.approx(eff.yi[0] + z * math.sqrt(eff.vi[0]))
    assert any("k=1" in w for w in res.warnings)
    json.dumps(res.to_dict(), allow_nan=False)


def test_all_double_zero_studies_dropped_is_an_input_error() -> None:
    eff = escalc("RR", [0, 0], [10, 12], [0, 0], [10, 11], drop00=True)
    with pytest.raises(InputError, match="cannot be estimated"):
        rma(eff)
    with pytest.raises(InputError, match="not estimable"):
        rma_mh(escalc("OR", [0, 0], [10, 12], [0, 0], [10, 11]))
    with pytest.raises(InputError, match="not estimable"):
        rma_peto(escalc("PETO", [0, 0], [10, 12], [0, 0], [10, 11]))


def test_double_zero_studies_kept_by_default_with_the_correction() -> None:
    eff = escalc("RR", [0, 0, 3], [10, 12, 20], [0, 0, 6], [10, 11, 20])
    assert eff.double_zero.tolist() == [True, True, False]
    res = rma(eff, method="DL")
    assert res.k == 3
    assert res.zero_cell.drop00 is False
    res = rma(escalc("RR", [0, 0, 3, 4], [10, 12, 20, 20], [0, 0, 6, 8], [10, 11, 20, 20],
                     drop00=True))
    assert res.k == 2 and res.studies["used"].tolist() == [False, False, True, True]
    assert any("double-zero" in w for w in res.warnings)


def test_unsupported_combinations() -> None:
    with pytest.raises(InputError, match="Peto"):
        meta_analysis(BCG, measure="RD", method="PETO")
    with pytest.raises(InputError, match="Mantel-Haenszel"):
        rma_mh(bcg_effects("PETO"))
    with pytest.raises(InputError, match="unknown meta-analysis method"):
        rma(bcg_effects(), method="BAYES")
    with pytest.raises(InputError, match="unknown test"):
        rma(bcg_effects(), test="t")


# ---------------------------------------------------------------- models


def test_provenance_is_recorded_in_every_result() -> None:
    zc = {"add": 0.25, "to": "all", "drop00": True, "correction": "constant"}
    for method in ("REML", "DL", "MH"):
        res = meta_analysis(BCG, measure="OR", method=method, filters={"x": ["y"]},
                            add=0.25, to="all", drop00=True)
        d = res.to_dict()
        assert d["zero_cell"] == zc
        assert d["filters"] == {"x": ["y"]}
        assert (d["measure"], d["method"], d["k"]) == ("OR", method, 13)
    res = meta_analysis(BCG, method="PETO")
    assert res.measure == "PETO" and res.zero_cell.drop00 is True  # metafor's default


def test_ratio_measures_are_exponentiated_in_json() -> None:
    res = meta_analysis(BCG, measure="RR", method="REML")
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["estimate"] == pytest.approx(math.exp(d["log_estimate"]))
    assert d["ci_low"] == pytest.approx(math.exp(res.ci_low))
    assert d["pi_high"] == pytest.approx(math.exp(res.pi_high))
    assert d["se"] == pytest.approx(res.se)
    assert {"study_id", "ai", "n1", "ci", "n2", "yi", "vi", "weight"} <= set(d["studies"][0])
    assert sum(s["weight"] for s in d["studies"]) == pytest.approx(100)
    rd = meta_analysis(BCG, measure="RD").to_dict()
    assert "log_estimate" not in rd and rd["scale"] == "identity"


def test_knha_uses_t_with_k_minus_1_df() -> None:
    eff = bcg_effects()
    z = rma(eff, method="DL")
    t = rma(eff, method="DL", test="knha")
    assert t.estimate == pytest.approx(z.estimate) and t.df == 12
    half = t.ci_high - t.estimate
    assert half == pytest.approx(stats.t.ppf(0.975, 12) * t.se)
    assert t.pi_high - t.estimate == pytest.approx(
        stats.t.ppf(0.975, 12) * math.sqrt(t.se**2 + t.tau2))


def test_qprofile_ci_is_null_when_q_is_small() -> None:
    y = np.array([0.0, 0.01, -0.01, 0.005])
    v = np.array([0.5, 0.4, 0.6, 0.5])
    assert tau2_qprofile_ci(y, v) == (0.0, 0.0)


def test_tau2_estimator_registry_accepts_new_methods() -> None:
    @register_tau2_estimator("FIXED01", description="tau^2 = 0.1 (test)")
    def _fixed(y, v, X, control):
        return Tau2Fit(0.1)

    try:
        res = rma(bcg_effects(), method="fixed01")
        assert res.method == "FIXED01" and res.tau2 == 0.1
        w = 1 / (bcg_effects().vi + 0.1)
        assert res.estimate == pytest.approx(np.sum(w * bcg_effects().yi) / np.sum(w))
    finally:
        TAU2_ESTIMATORS.pop("FIXED01")
    assert {"FE", "EE", "DL", "REML", "ML", "PM", "HE", "SJ"} <= set(TAU2_ESTIMATORS)


def test_meta_regression_drops_studies_without_the_moderator() -> None:
    x = np.array([44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, np.nan])
    res = meta_regression(bcg_effects(), {"ablat": x})
    assert res.k == 12
    assert any("without a value of ablat" in w for w in res.warnings)
    assert list(res.coefficients.index) == ["intercept", "ablat"]
    pred = res.predict([20, 40])
    assert pred["estimate"].iloc[0] > pred["estimate"].iloc[1]
    json.dumps(res.to_dict(), allow_nan=False)
    with pytest.raises(InputError, match="does not vary"):
        meta_regression(bcg_effects(), np.ones(13))


def test_subgroups_with_a_single_study_group() -> None:
    groups = ["a"] * 12 + ["b"]
    res = subgroup_analysis(bcg_effects(), groups, variable="toy")
    assert res.results["b"].k == 1 and res.q_between_df == 1
    assert any("single study" in w for w in res.warnings)
    assert math.isfinite(res.q_between)
    json.dumps(res.to_dict(), allow_nan=False)


def test_trim_and_fill_reports_filled_studies() -> None:
    res = rma(bcg_effects("OR"))
    tf = trim_and_fill(res, side="left")
    assert tf.adjusted.k == res.k + tf.k0
    assert tf.adjusted.studies["filled"].sum() == tf.k0


# ---------------------------------------------------------------- plots


def test_forest_table_rows_and_scale() -> None:
    res = meta_analysis(BCG, measure="RR")
    tab = forest_table(res)
    assert tab["row_type"].tolist() == ["study"] * 13 + ["overall", "prediction"]
    overall = tab[tab["row_type"] == "overall"].iloc[0]
    assert overall["estimate"] == pytest.approx(math.exp(res.estimate))
    sg = subgroup_analysis(bcg_effects(), BCG["alloc"], variable="alloc")
    tab = forest_table(sg)
    assert (tab["row_type"] == "group_header").sum() == 3
    assert (tab["row_type"] == "subgroup").sum() == 3
    assert tab["row_type"].iloc[-2:].tolist() == ["overall", "prediction"]
    fe = forest_table(meta_analysis(BCG, method="MH"))
    assert "prediction" not in fe["row_type"].tolist()


def test_plots_are_written_atomically(tmp_path, monkeypatch) -> None:
    res = meta_analysis(BCG)
    png, svg = tmp_path / "f.png", tmp_path / "f.svg"
    forest_plot(res, png)
    forest_plot(subgroup_analysis(bcg_effects(), BCG["alloc"]), svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()[:500]
    funnel_plot(res, tmp_path / "funnel.pdf", trimfill=trim_and_fill(res))
    assert (tmp_path / "funnel.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(InputError, match="cannot write a plot"):
        forest_plot(res, tmp_path / "f.txt")

    from matplotlib.figure import Figure

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError):
        forest_plot(res, tmp_path / "broken.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "f.svg", "funnel.pdf"]


def test_no_warnings_leak_from_a_normal_fit() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = meta_analysis(BCG, method="REML")
    assert res.warnings == ()
