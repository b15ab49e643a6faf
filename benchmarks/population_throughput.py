"""Generate and simulate a large virtual population; print patients/s and peak memory.

    python benchmarks/population_throughput.py [--n 100000] [--workers 2] [--chunk-size 2000]

Baseline measured in the same run: a plain loop of single-patient ``mscsim.simulate`` calls
(one process, no batching) on ``--baseline-n`` of the same patients; the script prints the
ratio of the two per-core rates.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

from mscsim.model import load_model
from mscsim.population import GenerationOptions, generate_population
from mscsim.population._course import COURSE_OUTPUTS
from mscsim.population._sampling import draw_covariates, draw_parameters
from mscsim.population._tables import Calibration
from mscsim.simulate import output_times, simulate


def peak_memory_mib() -> float:
    """Peak resident memory of this process and of its (finished) children, MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def baseline_rate(n: int, seed: int, options: GenerationOptions) -> float:
    model, calibration = load_model(), Calibration.load()
    times = output_times(options.days, options.points_per_day)
    start = time.perf_counter()
    for i in range(n):
        params = draw_parameters(model, seed, i, draw_covariates(seed, i, calibration),
                                 calibration)
        simulate(model, parameters=params, times=times, outputs=COURSE_OUTPUTS)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--baseline-n", type=int, default=300)
    args = parser.parse_args(argv)
    options = GenerationOptions()
    base = baseline_rate(args.baseline_n, args.seed, options)
    print(f"baseline (plain simulate() loop, 1 process): {base:,.0f} patients/s", flush=True)
    done = {"t": time.perf_counter()}

    def progress(k: int, n: int) -> None:
        rate = k / (time.perf_counter() - done["t"])
        print(f"  {k:>8,}/{n:,} patients  {rate:,.0f}/s", file=sys.stderr, flush=True)

    start = time.perf_counter()
    population = generate_population(args.n, args.seed, options=options, workers=args.workers,
                                     chunk_size=args.chunk_size, progress=progress)
    elapsed = time.perf_counter() - start
    rate = args.n / elapsed
    print(f"mscsim generate_population: {args.n:,} patients in {elapsed:,.1f} s = "
          f"{rate:,.0f} patients/s with {args.workers} workers "
          f"({rate / args.workers:,.0f}/s per worker)")
    print(f"per-core ratio to baseline: {rate / args.workers / base:.2f}x")
    print(f"plausible: {len(population.ok):,}; peak memory (largest process): "
          f"{peak_memory_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
