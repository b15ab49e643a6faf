"""Definitions of the trial outcomes that an estimand rests on."""

from __future__ import annotations

import numpy as np

from mscsim.trial._simulate import POINTS_PER_DAY, SUSTAINED_IMPROVEMENT_DAYS, sustained_from


def test_an_improvement_counts_only_once_it_has_held():
    improved = np.array([
        [0, 1, 1, 0, 1, 1, 1, 1, 0, 0],   # a blip of 2 points, then 4 points
        [0, 0, 0, 0, 0, 0, 0, 1, 1, 1],   # improves 3 points before the end of follow-up
        [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],   # one point, then worse (or dead)
    ], dtype=bool)
    sustained = sustained_from(improved, 2)
    assert sustained.argmax(axis=1).tolist()[:2] == [4, 7]
    assert not sustained[2].any()
    assert sustained.tolist()[0] == [False] * 4 + [True, True] + [False] * 4


def test_the_trial_holds_improvement_for_two_days():
    assert SUSTAINED_IMPROVEMENT_DAYS == 2.0 and POINTS_PER_DAY == 4
    one_day = np.zeros((1, 40), dtype=bool)
    one_day[0, 4:9] = True                     # 1 day (5 grid points), then worse
    assert not sustained_from(one_day, int(SUSTAINED_IMPROVEMENT_DAYS * POINTS_PER_DAY)).any()


def test_first_events_make_improvement_and_death_compete():
    import pandas as pd

    from mscsim.trial._report import first_events, incidence_table

    patients = pd.DataFrame({"arm": ["msc"] * 4 + ["placebo"] * 2,
                             "improve_time": [2.0, np.nan, 5.0, np.nan, np.nan, 3.0],
                             "death_time": [np.nan, 4.0, 20.0, np.nan, 10.0, np.nan]})
    time, status = first_events(patients[patients.arm == "msc"], 28.0)
    # improved then died later: the first event is the improvement; alive and not
    # improved at the end: censored at day 28
    assert time.tolist() == [2.0, 4.0, 5.0, 28.0] and status.tolist() == [1, 2, 1, 0]
    table = incidence_table(patients, 28.0).set_index(["arm", "event"])
    assert table.loc[("msc", "improved"), "day 7"] == 0.5
    assert table.loc[("msc", "died before improving"), "day 28"] == 0.25
    assert table.loc[("placebo", "died before improving"), "day 7"] == 0.0

