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
