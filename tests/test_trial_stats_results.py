"""One result type per statistic holds one trial or a batch (issue #16)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mscsim import trial


def _trials(reps: int = 4, n: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    time = rng.integers(1, 29, (reps, n)).astype(float)
    event = (rng.random((reps, n)) < 0.6).astype(float)
    return time, event, np.tile(np.repeat([0.0, 1.0], n // 2), (reps, 1))


def _pairs() -> list[tuple[object, object]]:
    time, event, arm = _trials()
    value = np.where(event == 1, np.nan, time)
    death = np.where(event == 1, time, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", trial.StatisticsWarning)
        return [
            (trial.risk_ratio(3, 10, 5, 11),
             trial.risk_ratio_batch([3, 0], [10, 10], [5, 0], [11, 10])),
            (trial.fisher_exact(3, 10, 5, 11),
             trial.fisher_exact_batch([3, 1], [10, 10], [5, 2], [11, 9])),
            (trial.logrank_test(time[0], event[0], arm[0]),
             trial.logrank_test_batch(time, event, arm)),
            (trial.cox_ph(time[0], event[0], arm[0]), trial.cox_ph_batch(time, event, arm)),
            (trial.wilcoxon_rank_sum(time[0], arm[0]), trial.wilcoxon_rank_sum_batch(time, arm)),
            (trial.worst_rank_test(value[0], death[0], arm[0]),
             trial.worst_rank_test_batch(value, death, arm)),
        ]


@pytest.mark.parametrize(("one", "batch"), _pairs())
def test_one_trial_and_a_batch_are_one_type(one, batch) -> None:
    assert type(one) is type(batch) is type(batch[0])
    assert not one.is_batch and batch.is_batch
    assert isinstance(one.p_value, float) and batch.p_value.shape == (len(batch),)
    assert batch[1].p_value == batch.p_value[1]
    with pytest.raises(TypeError):
        len(one)
    with pytest.raises(TypeError):
        one[0]


@pytest.mark.parametrize(("one", "batch"), _pairs())
def test_summary_and_repr_are_short_and_readable(one, batch) -> None:
    name = type(one).__name__
    assert repr(one).startswith(f"{name}(estimate=") and "\n" not in repr(one)
    assert repr(batch).startswith(f"{name}(trials={len(batch)},") and "\n" not in repr(batch)
    assert one.summary().startswith(f"{name}, one trial\n") and one.method[:30] in \
        one.summary().replace("\n", " ")
    text = batch.summary()
    assert text.startswith(f"{name}, {len(batch)} trials") and "median" in text
    assert all(w in text for w in batch.warnings)


def test_equal_results_compare_equal_and_hash_alike() -> None:
    a, b = trial.risk_ratio(3, 10, 5, 11), trial.risk_ratio(3, 10, 5, 11)
    assert a == b and hash(a) == hash(b) and a != trial.risk_ratio(4, 10, 5, 11)
    batch = trial.risk_ratio_batch([3, 4], [10, 10], [5, 5], [11, 11])
    assert batch == trial.risk_ratio_batch([3, 4], [10, 10], [5, 5], [11, 11]) and batch != a


def test_results_without_a_batch_form_have_a_summary_too() -> None:
    time, event, _ = _trials(1)
    km = trial.kaplan_meier(time[0], event[0])
    assert repr(km).startswith("KaplanMeierResult(median=")
    assert "table:" in km.summary()
