"""Power analysis of a 200-patient trial with 2,000 replicates; prints trials per second and
the split between simulation (potential-outcomes pool) and analysis.

    python benchmarks/trial_power.py [--population DIR | --n-infections 40000]
        [--replicates 2000] [--sample-size 200] [--primary mortality_d28] [--workers 2]

The population (infections) is generated first unless ``--population`` names a folder from
``mscsim population generate``; its generation is timed separately and is not part of the
trial's cost. Simulation = screening (untreated course of every admitted patient) + the MSC
arm of every eligible patient; analysis = the primary endpoint of every replicate, with and
without MSC effect (type I error). The script also prints what re-simulating every
replicate's patients would have cost at the measured rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

from mscsim.population import GenerationOptions, generate_population, read_population
from mscsim.trial import PowerOptions, build_pool, power_analysis, spec_from_dict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--population", help="population folder (default: generate)")
    parser.add_argument("--n-infections", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--sample-size", type=int, default=200)
    parser.add_argument("--primary", default="mortality_d28")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    spec = spec_from_dict({
        "seed": 1, "sample_size": args.sample_size, "follow_up_days": 28,
        "trial": {"name": "benchmark"},
        "population": {"source": "generate", "n_infections": args.n_infections,
                       "seed": args.seed},
        "eligibility": {"hypoxaemia": True}, "enrolment": {"window_days": [0, 1]},
        "arms": [{"name": "msc", "dose_cells_per_kg": 1e6, "doses": 2, "interval_days": 3},
                 {"name": "placebo", "control": True}],
        "allocation": {"ratio": {"msc": 1, "placebo": 1}, "method": "blocks",
                       "block_size": 4},
        "endpoints": {"primary": args.primary, "secondary": []},
    })
    start = time.perf_counter()
    if args.population:
        population = read_population(args.population)
    else:
        population = generate_population(args.n_infections, args.seed,
                                         options=GenerationOptions(), workers=args.workers)
    t_population = time.perf_counter() - start
    start = time.perf_counter()
    pool = build_pool(spec, population=population, workers=args.workers)
    t_sim = time.perf_counter() - start
    start = time.perf_counter()
    result = power_analysis(spec, PowerOptions(replicates=args.replicates), pool=pool)
    t_analysis = time.perf_counter() - start
    out = result.to_dict()
    screened = pool.cohort.flow["assessed at enrolment"] if pool.cohort else 0
    sims = screened + pool.size
    total = t_sim + t_analysis
    print(f"population: {len(population.patients)} infections "
          f"({'read' if args.population else 'generated'} in {t_population:.1f} s, "
          "not counted)")
    print(f"pool: {pool.size} eligible patients (pool/N = {pool.size / args.sample_size:.1f},"
          f" valid: {out['pool_valid']}); {sims} simulations ({screened} screening + "
          f"{pool.size} MSC arm)")
    print(f"simulation: {t_sim:.2f} s  analysis: {t_analysis:.2f} s  "
          f"analysis/simulation = {t_analysis / t_sim:.3f}")
    print(f"{args.replicates} replicate trials of {args.sample_size} patients: "
          f"{args.replicates / total:.1f} trials/s (simulation + analysis); "
          f"{args.replicates / t_analysis:.0f} trials/s once the pool exists")
    per_sim = t_sim / max(sims, 1)
    resim = args.replicates * args.sample_size * 2 * per_sim  # effect + null arms
    print(f"re-simulating every replicate would take about {resim:.0f} s "
          f"({resim / total:.0f}x longer)")
    print(f"power {out['power']:.3f}, type I error {out['type_i_error']:.3f} "
          f"({args.primary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
