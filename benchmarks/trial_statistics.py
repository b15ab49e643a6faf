"""The batch statistics of a power analysis against their scalar forms, replicate by
replicate, in the same run: prints each batch time, the scalar loop's time (the baseline) and
the ratio.

    python benchmarks/trial_statistics.py [--replicates 2000] [--patients 200]

Workload: ``replicates`` trials of ``patients`` (two equal arms), daily event times with ties
and 10% early censoring to day 28, as in a 28-day mortality power simulation. The scalar loop
is timed on a tenth of the replicates and scaled (it is linear in the replicates).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

from mscsim.trial import (
    cox_ph,
    cox_ph_batch,
    logrank_test,
    logrank_test_batch,
    wilcoxon_rank_sum,
    wilcoxon_rank_sum_batch,
)


def trials(rng: np.random.Generator, reps: int, patients: int, follow_up: int = 28
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arm = np.tile(np.repeat([0.0, 1.0], patients // 2), (reps, 1))
    t_event = np.ceil(rng.exponential(1 / np.where(arm == 1, 0.02, 0.035)))
    t_cens = np.where(rng.random(arm.shape) < 0.1, rng.integers(1, follow_up, arm.shape),
                      follow_up)
    return np.minimum(t_event, t_cens), (t_event <= t_cens).astype(float), arm


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--patients", type=int, default=200)
    args = parser.parse_args(argv)
    t, e, arm = trials(np.random.default_rng(26), args.replicates, args.patients)
    values = np.random.default_rng(27).normal(size=t.shape).round(1)
    part = max(args.replicates // 10, 1)
    cases = {
        "log-rank": (lambda: logrank_test_batch(t, e, arm),
                     lambda: [logrank_test(t[i], e[i], arm[i]) for i in range(part)]),
        "Cox (Efron)": (lambda: cox_ph_batch(t, e, arm),
                        lambda: [cox_ph(t[i], e[i], arm[i]) for i in range(part)]),
        "rank-sum": (lambda: wilcoxon_rank_sum_batch(values, arm),
                     lambda: [wilcoxon_rank_sum(values[i], arm[i]) for i in range(part)]),
    }
    print(f"{args.replicates} replicate trials of {args.patients} patients, one process")
    print(f"{'statistic':<14}{'batch s':>10}{'scalar loop s':>16}{'ratio':>9}")
    for name, (batch, scalar) in cases.items():
        batch()  # warm up (first-call imports and caches)
        batch_s = timed(batch)
        scalar_s = timed(scalar) * args.replicates / part
        print(f"{name:<14}{batch_s:>10.3f}{scalar_s:>16.3f}{scalar_s / batch_s:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
