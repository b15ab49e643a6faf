"""Parts of the bridge report built from hand-made tables (the whole report is rendered in
tests/test_bridge_run.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mscsim.bridge._report import replica_results


def test_published_deaths_stand_beside_the_simulated_mortality_at_the_estimate():
    replicas = pd.DataFrame({
        "study_id": ["A", "B", "C", "D"], "role": ["calibration", "prediction", "none", "none"],
        "timepoint_days": [28.0, 30.0, 90.0, np.nan], "ai": [2.0, 42.0, 3.0, np.nan],
        "n1": [26.0, 112.0, 10.0, np.nan], "ci": [6.0, 47.0, 6.0, np.nan],
        "n2": [18.0, 110.0, 10.0, np.nan], "simulated_patients": [4.0, 4.0, np.nan, np.nan]})
    risks = pd.DataFrame({"study_id": ["A", "A", "B", "B"], "grid": [0, 1, 0, 1],
                          "p_treated": [0.5, 0.16, 0.6, 0.46],
                          "p_control": [0.5, 0.2, 0.6, 0.52]})
    table = replica_results(replicas, risks, grid=1)
    assert table.pop("simulated_patients").fillna(-1).tolist() == [4.0, 4.0, -1]
    assert table.to_dict("list") == {
        "study_id": ["A", "B", "C"],          # D reports no mortality and has no replica
        "role": ["calibration", "prediction", "none"], "timepoint_days": [28.0, 30.0, 90.0],
        "published_msc": ["2/26 (7.7%)", "42/112 (38%)", "3/10 (30%)"],
        "published_control": ["6/18 (33%)", "47/110 (43%)", "6/10 (60%)"],
        "simulated_msc": ["16%", "46%", "–"], "simulated_control": ["20%", "52%", "–"]}


def test_the_forest_and_profile_tables_are_what_their_figures_draw():
    """The forest plot and the likelihood profiles are drawn from one table each (issue
    #15): the table's rows are the plot's points, the pooled row last."""
    import matplotlib.pyplot as plt

    from mscsim.bridge._predict import Prediction
    from mscsim.bridge._report import forest_table, profile_table

    studies = pd.DataFrame({"study_id": ["A", "B"], "ai": [2, 5], "n1": [20, 30],
                            "ci": [4, 6], "n2": [20, 30], "observed_rr": [0.5, 0.83],
                            "pred_rr_median": [0.9, 0.8], "pred_lo": [0.6, 0.5],
                            "pred_hi": [1.2, 1.1], "covered": [False, True]})
    pooled = {"method": "MH", "observed_rr": 0.7, "pred_rr_median": 0.85, "pred_lo": 0.6,
              "pred_hi": 1.1, "covered": True}
    table = forest_table(Prediction("2021-12-31", 0.95, 100, studies, pooled))
    assert table.label.tolist() == ["A (2/20 vs 4/20)", "B (5/30 vs 6/30)", "pooled (MH)"]
    assert table.pooled.tolist() == [False, False, True]
    assert table.pred_lo.tolist() == [0.6, 0.5, 0.6]
    assert table.covered.tolist() == [False, True, True]
    alone = forest_table(Prediction("2021-12-31", 0.95, 100, studies, {"method": "MH"}))
    assert len(alone) == 2                                  # no pooled prediction, no row
    profiles = profile_table({"profiles": {
        "msc_emax_scale": {"values": [0.0, 1.0, 2.0], "profile_loglik": [-12.0, -10.0, -11.5],
                           "identifiable": "yes"}}})
    assert profiles.loglik_minus_max.tolist() == [-2.0, 0.0, -1.5]
    assert set(profiles.identifiable) == {"yes"}
    plt.close("all")
