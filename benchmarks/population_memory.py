"""Peak memory of a streamed population run does not grow with the number of patients.

    python benchmarks/population_memory.py [--n 5000 40000] [--workers 2] [--chunk-size 1000]
    python benchmarks/population_memory.py --n 1000000 --workers 16
    python benchmarks/population_memory.py --n 2000 --tile 1000000   # reading at 1M


Each size runs in a fresh Python process: ``mscsim population generate`` (the API call
``generate_population_folder``) streams the patients into a temporary folder, one Parquet file
per chunk, then the summary is computed from the folder with column selection. The script
prints, per size, the time, patients/s and the peak resident memory (``ru_maxrss``) of the
parent (during generation, and after the summary) and of the largest worker process; then the
ratio of each peak to the peak of the smallest size, measured in the same run (1.0 = memory
does not grow with N). ``--in-memory`` adds the in-memory ``generate_population`` for
contrast (it holds every patient, so its parent peak grows with N). ``--tile N`` writes an
N-patient folder from copies of one generated chunk and measures, in a fresh process, the
summary (13 columns read) and a DuckDB query over it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def one(n: int, workers: int, chunk_size: int, days: float, in_memory: bool) -> dict[str, float]:
    """Measure one size in this process (called in a fresh process per size)."""
    from mscsim.population import (
        GenerationOptions,
        generate_population,
        generate_population_folder,
        read_population,
        summarise,
    )
    from mscsim.population._summary import COLUMNS

    options = GenerationOptions(days=days)
    start = time.perf_counter()
    if in_memory:
        population = generate_population(n, seed=1, options=options, workers=workers,
                                         chunk_size=chunk_size)
        seconds = time.perf_counter() - start
        parent = peak_mib(resource.RUSAGE_SELF)
        summarise(population)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            generate_population_folder(Path(tmp) / "pop", n, seed=1, options=options,
                                       workers=workers, chunk_size=chunk_size)
            seconds = time.perf_counter() - start
            parent = peak_mib(resource.RUSAGE_SELF)
            summarise(read_population(Path(tmp) / "pop", columns=COLUMNS))
    return {"n": n, "seconds": seconds, "patients_per_s": n / seconds,
            "parent_peak_mib": parent,
            "parent_peak_with_summary_mib": peak_mib(resource.RUSAGE_SELF),
            "worker_peak_mib": peak_mib(resource.RUSAGE_CHILDREN)}


def tile(folder: Path, n: int, chunk_size: int, days: float) -> None:
    """Write an ``n``-patient folder made of copies of one generated chunk (patients
    renumbered), to measure reading and querying at a size too slow to simulate here."""
    from mscsim.population import GenerationOptions, generate_population
    from mscsim.population._generate import population_manifest
    from mscsim.population._store import LAYOUT, open_population_folder
    from mscsim.population._tables import Calibration
    from mscsim.store import store_manifest, write_chunk

    options, calibration = GenerationOptions(days=days), Calibration.load()
    base = generate_population(chunk_size, seed=1, options=options, engine="serial").patients
    manifest = store_manifest(population_manifest(n, 1, options, calibration), n=n,
                              chunk_size=chunk_size, layout=LAYOUT)
    open_population_folder(folder, manifest)
    for k in range(manifest["n_chunks"]):
        part = base.iloc[: min(chunk_size, n - k * chunk_size)].copy()
        part["patient"] += k * chunk_size
        write_chunk(folder, k, part)


def read_side(folder: Path) -> dict[str, float]:
    """Peak memory of a DuckDB query, then of the summary (column selection), over
    ``folder`` in this fresh process."""
    from mscsim.population import read_population, summarise
    from mscsim.population._summary import COLUMNS
    from mscsim.store import query_results

    before = peak_mib(resource.RUSAGE_SELF)
    start = time.perf_counter()  # the query first: peaks only grow
    query_results(folder, "SELECT floor(age / 10) AS decade, avg(died::int) AS ifr, count(*) "
                          "FROM patients GROUP BY 1")
    query_s = time.perf_counter() - start
    after_query = peak_mib(resource.RUSAGE_SELF)
    start = time.perf_counter()
    summarise(read_population(folder, columns=COLUMNS))
    return {"baseline_mib": before, "query_s": query_s, "query_peak_mib": after_query,
            "summary_s": time.perf_counter() - start,
            "summary_peak_mib": peak_mib(resource.RUSAGE_SELF)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[5000, 40000])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--days", type=float, default=60.0)
    parser.add_argument("--in-memory", action="store_true",
                        help="also measure the in-memory generate_population, for contrast")
    parser.add_argument("--tile", type=int, default=0, metavar="N",
                        help="also measure summary and query memory on an N-patient folder "
                             "tiled from one generated chunk")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.n[0], args.workers, args.chunk_size, args.days,
                             args.in_memory)))
        return 0
    if args.read:
        print(json.dumps(read_side(args.read)))
        return 0
    if args.tile:
        with tempfile.TemporaryDirectory() as tmp:
            tile(Path(tmp) / "pop", args.tile, args.chunk_size, args.days)
            read = json.loads(subprocess.run(
                [sys.executable, __file__, "--read", str(Path(tmp) / "pop")], check=True,
                capture_output=True, text=True).stdout.splitlines()[-1])
        print(f"{args.tile} tiled patients: summary {read['summary_s']:.1f} s, peak "
              f"{read['summary_peak_mib']:.0f} MiB; DuckDB query {read['query_s']:.1f} s, peak "
              f"{read['query_peak_mib']:.0f} MiB (process after imports: "
              f"{read['baseline_mib']:.0f} MiB)")
    modes = ["streamed"] + (["in-memory"] if args.in_memory else [])
    print(f"workers={args.workers} chunk_size={args.chunk_size} days={args.days:g}")
    print(f"{'mode':<10} {'n':>9} {'s':>8} {'patients/s':>11} {'parent MiB':>11} "
          f"{'+summary':>9} {'worker MiB':>11} {'parent/first':>13} {'worker/first':>13}")
    for mode in modes:
        first: dict[str, float] | None = None
        for n in sorted(args.n):
            command = [sys.executable, __file__, "--one", "--n", str(n), "--workers",
                       str(args.workers), "--chunk-size", str(args.chunk_size), "--days",
                       str(args.days)] + (["--in-memory"] if mode == "in-memory" else [])
            result = json.loads(subprocess.run(command, check=True, capture_output=True,
                                               text=True).stdout.splitlines()[-1])
            first = first or result
            workers = (f"{result['worker_peak_mib'] / first['worker_peak_mib']:>13.2f}"
                       if first["worker_peak_mib"] else f"{'-':>13}")  # 1 chunk: no workers
            print(f"{mode:<10} {n:>9} {result['seconds']:>8.1f} "
                  f"{result['patients_per_s']:>11.0f} {result['parent_peak_mib']:>11.0f} "
                  f"{result['parent_peak_with_summary_mib']:>9.0f} "
                  f"{result['worker_peak_mib']:>11.0f} "
                  f"{result['parent_peak_mib'] / first['parent_peak_mib']:>13.2f} "
                  f"{workers}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
