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
