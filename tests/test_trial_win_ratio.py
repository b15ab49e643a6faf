"""The win ratio against a brute-force pairwise implementation written here, and its interval
against the spread of the estimate over simulated trials."""

from __future__ import annotations

import math
import statistics
import warnings

import numpy as np
import pandas as pd
import pytest

from mscsim import InputError
from mscsim.trial import AnalysisOptions, StatisticsWarning, analyse, get_endpoint, win_ratio


def brute_force(components, arm):
    """Pair by pair, component by component, in plain Python."""
    treated = [i for i, a in enumerate(arm) if a == 1]
    control = [j for j, a in enumerate(arm) if a == 0]
    win = [[0] * len(control) for _ in treated]
    loss = [[0] * len(control) for _ in treated]
    for a, i in enumerate(treated):
        for b, j in enumerate(control):
            for values, direction in components:
                x, y = float(values[i]), float(values[j])
                if direction == "lower":
                    x, y = -x, -y
                if x > y:
                    win[a][b] = 1
                    break
                if x < y:
                    loss[a][b] = 1
                    break
    return win, loss


def brute_force_se(win, loss):
    """Standard errors of log WR and of the net benefit from per-patient shares."""
    n1, n0 = len(win), len(win[0])
    w_row = [sum(r) / n0 for r in win]
    l_row = [sum(r) / n0 for r in loss]
    w_col = [sum(win[a][b] for a in range(n1)) / n1 for b in range(n0)]
    l_col = [sum(loss[a][b] for a in range(n1)) / n1 for b in range(n0)]

    def cov(x, y):
        mx, my = statistics.fmean(x), statistics.fmean(y)
        return sum((p - mx) * (q - my) for p, q in zip(x, y, strict=True)) / (len(x) - 1)
    var_w = cov(w_row, w_row) / n1 + cov(w_col, w_col) / n0
    var_l = cov(l_row, l_row) / n1 + cov(l_col, l_col) / n0
    cov_wl = cov(w_row, l_row) / n1 + cov(w_col, l_col) / n0
    p_w = sum(map(sum, win)) / (n1 * n0)
    p_l = sum(map(sum, loss)) / (n1 * n0)
    se_log = math.sqrt(var_w / p_w**2 + var_l / p_l**2 - 2 * cov_wl / (p_w * p_l))
    return se_log, math.sqrt(var_w + var_l - 2 * cov_wl)


def trial(rng, n, effect=0.0):
    """Death time (inf = alive at day 28), ventilator-free days, WHO on day 28, arm."""
    arm = np.repeat([1, 0], n)
    risk = np.where(arm == 1, 0.3 * math.exp(-effect), 0.3)
    dead = rng.random(2 * n) < risk
    death = np.where(dead, rng.integers(1, 29, 2 * n).astype(float), np.inf)
    vfd = np.where(dead, 0.0, rng.choice([28.0, 28.0, 20.0, 14.0, 0.0], 2 * n))
    who = np.where(dead, 10.0, rng.integers(0, 8, 2 * n).astype(float))
    return [(death, "higher"), (vfd, "higher"), (who, "lower")], arm


@pytest.mark.parametrize("seed", range(5))
def test_counts_and_standard_errors_equal_the_brute_force(seed):
    rng = np.random.default_rng(seed)
    components, arm = trial(rng, 15 + 5 * seed, effect=0.4)
    res = win_ratio(components, arm)
    win, loss = brute_force(components, arm)
    wins, losses = sum(map(sum, win)), sum(map(sum, loss))
    assert (res.wins, res.losses) == (wins, losses)
    assert res.wins + res.losses + res.ties == res.n_treated * res.n_control
    assert res.estimate == pytest.approx(wins / losses, rel=1e-12)
    se_log, se_nb = brute_force_se(win, loss)
    assert res.se_log_wr == pytest.approx(se_log, rel=1e-10)
    assert res.se_net_benefit == pytest.approx(se_nb, rel=1e-10)
    assert res.ci_low == pytest.approx(res.estimate * math.exp(-1.959963984540054 * se_log))
    assert sum(res.decided_by) == wins + losses


def test_hierarchy_order_matters_and_lower_components_only_break_ties():
    death = np.array([np.inf, 10.0, np.inf, 5.0])
    who = np.array([6.0, 0.0, 1.0, 10.0])
    arm = np.array([1, 1, 0, 0])
    death_first = win_ratio([(death, "higher"), (who, "lower")], arm)
    # pairs (treated, control): (alive WHO 6, alive WHO 1) loss on WHO; (alive, died d5) win;
    # (died d10, alive) loss; (died d10, died d5) win: the later death wins
    assert (death_first.wins, death_first.losses) == (2, 2)
    assert death_first.decided_by == (3, 1)
    who_first = win_ratio([(who, "lower"), (death, "higher")], arm)
    # WHO first: 6 vs 1 loss, 6 vs 10 win, 0 vs 1 win, 0 vs 10 win
    assert (who_first.wins, who_first.losses) == (3, 1)
    assert who_first.decided_by == (4, 0)


def test_interval_covers_and_test_holds_its_size_over_simulated_trials():
    rng = np.random.default_rng(2020)
    big_components, big_arm = trial(rng, 3000, effect=0.5)
    true_wr = win_ratio(big_components, big_arm).estimate
    logs, ses, covered, rejected_null = [], [], 0, 0
    for _ in range(400):
        components, arm = trial(rng, 60, effect=0.5)
        res = win_ratio(components, arm)
        logs.append(math.log(res.estimate))
        ses.append(res.se_log_wr)
        covered += res.ci_low <= true_wr <= res.ci_high
        null_components, null_arm = trial(rng, 60)
        rejected_null += win_ratio(null_components, null_arm).p_value < 0.05
    assert statistics.fmean(ses) == pytest.approx(statistics.stdev(logs), rel=0.15)
    assert abs(covered / 400 - 0.95) < 3 * math.sqrt(0.95 * 0.05 / 400)
    assert abs(rejected_null / 400 - 0.05) < 3 * math.sqrt(0.05 * 0.95 / 400)


def test_degenerate_trials_are_defined_and_warn():
    alive = np.full(4, np.inf)
    with pytest.warns(StatisticsWarning, match="no losses"):
        res = win_ratio([(alive, "higher"), (np.array([0.0, 0, 5, 5]), "lower")],
                        [1, 1, 0, 0])
    assert res.estimate == math.inf and math.isnan(res.ci_low) and res.p_value < 1
    with pytest.warns(StatisticsWarning, match="an arm is empty"):
        res = win_ratio([(alive, "higher")], [1, 1, 1, 1])
    assert math.isnan(res.estimate) and res.p_value == 1.0
    with pytest.raises(InputError, match="direction"):
        win_ratio([(alive, "up")], [1, 1, 0, 0])
    with pytest.raises(InputError, match="components"):
        win_ratio([(alive[:3], "higher")], [1, 1, 0, 0])


def test_trial_endpoint_uses_death_then_ventilator_free_days_then_who():
    endpoint = get_endpoint("win_ratio_d28")
    assert (endpoint.kind, endpoint.favours_msc) == ("win", "above")
    values = pd.DataFrame({"death_time": [np.nan, 20.0, np.nan, 3.0, 40.0, np.nan],
                           "vfd_d28": [28.0, 0.0, 10.0, 0.0, 28.0, 28.0],
                           "who_d28": [1.0, 10.0, 5.0, 10.0, 4.0, 2.0]})
    arm = np.array([1, 1, 1, 0, 0, 0])
    data = endpoint.data(values, follow_up=60.0)
    assert list(data) == ["death_d28", "vfd_d28", "who_d28"]  # the default hierarchy
    assert data["death_d28"].tolist() == [np.inf, 20.0, np.inf, 3.0, np.inf, np.inf]  # d40 > d28
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        out = analyse("win", data, arm, AnalysisOptions())
    direct = win_ratio([(data["death_d28"], "higher"), (data["vfd_d28"], "higher"),
                        (data["who_d28"], "lower")], arm)
    assert out["estimate"] == direct.estimate and out["measure"] == "win ratio"
    assert out["decided_by"]["death_d28"] == direct.decided_by[0]


def _pairwise_wins(columns: list[tuple[np.ndarray, str]], arm: np.ndarray) -> tuple[int, int]:
    """Brute force: every treated against every control, the first comparison that is not
    tied decides."""
    wins = losses = 0
    for i in np.flatnonzero(arm == 1):
        for j in np.flatnonzero(arm == 0):
            for values, direction in columns:
                a, b = (values[i], values[j]) if direction == "higher" else (-values[i],
                                                                              -values[j])
                if a != b:
                    wins, losses = (wins + 1, losses) if a > b else (wins, losses + 1)
                    break
    return wins, losses


@pytest.mark.parametrize("order", [["death_d28", "vfd_d28", "who_d28"],
                                   ["who_d28", "death_d28"], ["vfd_d28", "who_d28", "death_d28"]])
def test_the_spec_orders_the_win_ratio_hierarchy(order: list[str]) -> None:
    """``endpoints.win_ratio_order`` sets the comparisons and their order: the trial's win
    ratio equals a brute-force pairwise count in that order, and its estimand says so."""
    from mscsim.trial import endpoint_of
    from tests._trial_helpers import spec

    s = spec(endpoints={"primary": "win_ratio_d28", "secondary": [], "win_ratio_order": order})
    endpoint = endpoint_of(s, "win_ratio_d28")
    assert endpoint.components == tuple(order)
    rng = np.random.default_rng(11)
    n = 40
    dead = rng.random(n) < 0.3
    values = pd.DataFrame({"death_time": np.where(dead, rng.integers(1, 40, n), np.nan),
                           "vfd_d28": np.where(dead, 0.0, rng.choice([28.0, 20.0, 5.0], n)),
                           "who_d28": np.where(dead, 10.0, rng.integers(0, 7, n))})
    arm = (np.arange(n) % 2).astype(float)
    data = endpoint.data(values, follow_up=60.0)
    assert list(data) == order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        out = analyse("win", data, arm, AnalysisOptions())
    directions = {"death_d28": "higher", "vfd_d28": "higher", "who_d28": "lower"}
    wins, losses = _pairwise_wins([(data[c], directions[c]) for c in order], arm)
    assert (out["wins"], out["losses"]) == (wins, losses)
    assert out["estimate"] == pytest.approx(wins / losses)
    assert list(out["decided_by"]) == order
    first = {"death_d28": "death by day 28", "vfd_d28": "ventilator-free days",
             "who_d28": "the WHO scale"}[order[0]]
    assert endpoint.label.startswith(f"win ratio of the hierarchy: {first}")


def test_a_comparison_named_twice_is_refused() -> None:
    from tests._trial_helpers import spec

    with pytest.raises(InputError, match="win_ratio_order names a comparison twice"):
        spec(endpoints={"primary": "win_ratio_d28", "secondary": [],
                        "win_ratio_order": ["death_d28", "death_d28"]})
    with pytest.raises(InputError, match="win_ratio_order"):
        spec(endpoints={"primary": "win_ratio_d28", "secondary": [],
                        "win_ratio_order": ["ventilation"]})


def _win_pool(n: int, p_control: float, p_treated: float, seed: int):
    from mscsim.trial import Pool

    rng = np.random.default_rng(seed)

    def frame(p: float) -> pd.DataFrame:
        dead = rng.random(n) < p
        return pd.DataFrame({
            "death_time": np.where(dead, rng.uniform(1, 28, n), np.nan),
            "improve_time": np.nan,
            "vfd_d28": np.where(dead, 0.0, rng.choice([28.0, 21.0, 10.0], n)),
            "who_d28": np.where(dead, 10.0, rng.integers(0, 8, n).astype(float))})
    return Pool(cohort=None, control=frame(p_control), treated=frame(p_treated))


def test_win_ratio_as_the_primary_endpoint_of_a_power_analysis():
    from mscsim.trial import PowerOptions, power_analysis
    from tests._trial_helpers import spec

    s = spec(sample_size=200, endpoints={"primary": "win_ratio_d28", "secondary": []})
    options = PowerOptions(replicates=600)
    null = power_analysis(s, options, pool=_win_pool(5000, 0.3, 0.3, seed=4)).to_dict()
    assert null["measure"] == "win ratio"
    assert abs(null["type_i_error"] - 0.05) < 3 * math.sqrt(0.05 * 0.95 / 600), null
    better = power_analysis(s, options, pool=_win_pool(5000, 0.3, 0.1, seed=5)).to_dict()
    assert better["power"] > 0.5 and better["effect_median"] > 1, better
