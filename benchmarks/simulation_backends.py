"""Simulation speed of the same virtual patients by every route, and engine scaling.

    python benchmarks/simulation_backends.py [--n 500] [--scipy-n 10] [--rtol 1e-8]
        [--atol 1e-10] [--block 25] [--engine-n 2000] [--chunk-size 250]
        [--engine-backend roadrunner] [--skip-engines]

Patients come from the population sampler (covariates, random effects, calibration; seed
``--seed``), untreated, 60 days, 4 outputs a day, the outputs the population course uses.
Every route uses the same ``rtol``/``atol`` (default: mscsim's ``SolverOptions``). Routes:

- (a) mscsim's default path: ``simulate_batch`` with the ``roadrunner`` back end;
- (b) a plain libroadrunner loop written here (resetAll, setValue, reset, simulate);
- (c) a plain scipy ``solve_ivp`` (LSODA) loop on the model's SBML mathematics as interpreted
  by ``mscsim.model`` (the oracle's right-hand side), on the first ``--scipy-n`` patients;
- (c') the same scipy loop on the compiled right-hand side and analytic Jacobian;
- (d) ``simulate_batch`` with the ``compiled`` back end (needs the extra ``mscsim[fast]``;
  without it the route is left out and the script says why);
- (e) SUNDIALS CVODE (BDF, dense) from ``scikit-sundae``, a maintained solver that ships
  wheels, on the compiled right-hand side and analytic Jacobian, first ``--scipy-n``
  patients; measured only where ``scikit-sundae`` is installed (it is not a dependency).

Rates are patients per CPU second of this one process (per core); the routes take turns in
blocks of ``--block`` patients, so load from other processes falls on all of them alike.
Ratios are to (b), measured in the same run.
Then the default path on ``--engine-n`` patients of the same sampler through the ``process``
engine with 1 and 2 workers, and through the ``dask`` engine (LocalCluster) with 2 workers.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
import time
from collections.abc import Callable

import numpy as np
import roadrunner
from scipy.integrate import solve_ivp

from mscsim._errors import InputError
from mscsim.engine import chunk_ranges, get_engine
from mscsim.model import load_model
from mscsim.population import GenerationOptions
from mscsim.population._course import COURSE_OUTPUTS
from mscsim.population._sampling import draw_covariates, draw_parameters
from mscsim.population._tables import Calibration
from mscsim.simulate import SolverOptions, get_backend, output_times, simulate_batch
from mscsim.simulate._compiled import compiled_model

Params = list[dict[str, float]]
COMPILED_ROUTE = "(d) mscsim compiled back end"
SUNDIALS_ROUTE = "(e) scikit-sundae CVODE BDF, compiled RHS + Jacobian"


def patients(seed: int, start: int, stop: int) -> Params:
    model, calibration = load_model(), Calibration.load()
    return [draw_parameters(model, seed, i, draw_covariates(seed, i, calibration), calibration)
            for i in range(start, stop)]


def cpu_timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    """CPU seconds this process spent in ``fn`` (all its threads), and what it returned."""
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def mscsim_path(params: Params, times: np.ndarray, options: SolverOptions,
                backend: str = "roadrunner") -> np.ndarray:
    return simulate_batch(load_model(), params, times=times, outputs=COURSE_OUTPUTS,
                          backend=backend, options=options).values


@functools.cache
def _roadrunner(rtol: float, atol: float) -> roadrunner.RoadRunner:
    """Built once (its LLVM compilation is not part of the timed loop, as for route (a))."""
    rr = roadrunner.RoadRunner(load_model().sbml)
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = atol
    rr.timeCourseSelections = ["time", *COURSE_OUTPUTS]
    return rr


def compiled_path(params: Params, times: np.ndarray, options: SolverOptions) -> np.ndarray:
    return mscsim_path(params, times, options, "compiled")


def plain_roadrunner(params: Params, times: np.ndarray, options: SolverOptions) -> np.ndarray:
    rr = _roadrunner(options.rtol, options.atol)
    out = np.empty((len(params), len(times), len(COURSE_OUTPUTS)))
    for i, p in enumerate(params):
        rr.resetAll()
        for name, value in p.items():
            rr.setValue(name, value)
        rr.reset()
        out[i] = rr.simulate(times=times)[:, 1:]
    return out


def plain_scipy(params: Params, times: np.ndarray, options: SolverOptions) -> np.ndarray:
    """solve_ivp on the interpreted SBML (mscsim.model's parse-tree closures)."""
    model = load_model()
    compiled = model.compiled
    out = np.empty((len(params), len(times), len(COURSE_OUTPUTS)))
    for i, p in enumerate(params):
        values = model.resolve_parameters(p)
        sol = solve_ivp(lambda t, y, v=values: compiled.rhs(t, y, v), (times[0], times[-1]),
                        compiled.initial_state(values), method="LSODA", t_eval=times,
                        rtol=options.rtol, atol=options.atol)
        for k, t in enumerate(sol.t):
            rules = compiled.rules(t, sol.y[:, k], values)
            out[i, k] = [rules[o] if o in rules else sol.y[compiled.state_ids.index(o), k]
                         for o in COURSE_OUTPUTS]
    return out


def scipy_with_compiled_jacobian(params: Params, times: np.ndarray,
                                 options: SolverOptions) -> np.ndarray:
    """solve_ivp (LSODA) on the compiled right-hand side and analytic Jacobian."""
    import ctypes

    model = load_model()
    code = compiled_model(model)
    n = len(code.states)
    rhs = code.rhs.ctypes  # type: ignore[attr-defined]
    pointer = ctypes.POINTER(ctypes.c_double)
    columns = [(code.states + code.rules).index(o) for o in COURSE_OUTPUTS]
    out = np.empty((len(params), len(times), len(COURSE_OUTPUTS)))
    for i, p in enumerate(params):
        values = model.resolve_parameters(p)
        pv = np.array([values[k] for k in code.parameters])

        def f(t: float, y: np.ndarray, pv: np.ndarray = pv) -> np.ndarray:
            y = np.ascontiguousarray(y)
            dy = np.empty(n)
            rhs(t, y.ctypes.data_as(pointer), dy.ctypes.data_as(pointer),
                pv.ctypes.data_as(pointer))
            return dy

        def jac(t: float, y: np.ndarray, pv: np.ndarray = pv) -> np.ndarray:
            matrix = np.empty((n, n))
            code.jacobian(t, np.ascontiguousarray(y), pv, matrix)
            return matrix

        sol = solve_ivp(f, (times[0], times[-1]), code.initial_state(pv), method="LSODA",
                        t_eval=times, jac=jac, rtol=options.rtol, atol=options.atol)
        table = np.empty((len(times), n + len(code.rules)))
        code.observe(times, np.ascontiguousarray(sol.y.T), pv, table)
        out[i] = table[:, columns]
    return out


def sundials_with_compiled_jacobian(params: Params, times: np.ndarray,
                                    options: SolverOptions) -> np.ndarray:
    """scikit-sundae's CVODE (BDF) on the compiled right-hand side and analytic Jacobian: its
    callbacks are Python functions, called at every evaluation."""
    import ctypes

    from sksundae.cvode import CVODE

    model = load_model()
    code = compiled_model(model)
    rhs = code.rhs.ctypes  # type: ignore[attr-defined]
    pointer = ctypes.POINTER(ctypes.c_double)
    columns = [(code.states + code.rules).index(o) for o in COURSE_OUTPUTS]
    out = np.empty((len(params), len(times), len(COURSE_OUTPUTS)))
    for i, p in enumerate(params):
        values = model.resolve_parameters(p)
        pv = np.array([values[k] for k in code.parameters])

        # userdata is a dict: scikit-sundae tests its truth value, which an array has not
        def f(t: float, y: np.ndarray, dy: np.ndarray, data: dict[str, np.ndarray]) -> None:
            rhs(t, y.ctypes.data_as(pointer), dy.ctypes.data_as(pointer),
                data["p"].ctypes.data_as(pointer))

        def jac(t: float, y: np.ndarray, dy: np.ndarray, matrix: np.ndarray,
                data: dict[str, np.ndarray]) -> None:
            code.jacobian(t, y, data["p"], matrix)

        solver = CVODE(f, jacfn=jac, userdata={"p": pv}, rtol=options.rtol,
                       atol=options.atol, max_num_steps=options.max_steps)
        sol = solver.solve(times, code.initial_state(pv))
        table = np.empty((len(times), len(code.states) + len(code.rules)))
        code.observe(times, np.ascontiguousarray(sol.y), pv, table)
        out[i] = table[:, columns]
    return out


def max_relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a-b|/max(|b|, 1e-3) over every patient, time and output (the floor keeps a
    log10 viral load crossing 0, or a hazard near 0, from dividing by almost nothing)."""
    return float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-3)))


def _chunk(task: tuple[int, int, int, float, float, str]) -> np.ndarray:
    start, stop, seed, rtol, atol, backend = task
    options = GenerationOptions()
    return mscsim_path(patients(seed, start, stop), output_times(options.days,
                       options.points_per_day), SolverOptions(rtol=rtol, atol=atol), backend)


def engine_time(name: str, workers: int, tasks: list[tuple[int, int, int, float, float, str]]
                ) -> float:
    engine = get_engine(name, workers=workers)
    start = time.perf_counter()
    for _ in engine.map(_chunk, tasks):
        pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--scipy-n", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--block", type=int, default=25)
    parser.add_argument("--rtol", type=float, default=SolverOptions().rtol)
    parser.add_argument("--atol", type=float, default=SolverOptions().atol)
    parser.add_argument("--engine-n", type=int, default=2000)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--engine-backend", default="roadrunner")
    parser.add_argument("--skip-engines", action="store_true")
    args = parser.parse_args(argv)
    options = SolverOptions(rtol=args.rtol, atol=args.atol)
    generation = GenerationOptions()
    times = output_times(generation.days, generation.points_per_day)
    params = patients(args.seed, 0, args.n)
    few = params[:args.scipy_n]
    print(f"{args.n} patients (scipy: {len(few)}), {generation.days:g} days, {len(times)} "
          f"output times, rtol {options.rtol:g}, atol {options.atol:g}; one process "
          f"on a machine with {os.cpu_count()} cores", flush=True)

    Route = Callable[[Params, np.ndarray, SolverOptions], np.ndarray]
    routes: dict[str, tuple[Route, Params]] = {
        "(a) mscsim default (roadrunner)": (mscsim_path, params),
        "(b) plain libroadrunner loop": (plain_roadrunner, params),
        "(c) scipy solve_ivp LSODA, interpreted SBML": (plain_scipy, few),
        "(c') scipy solve_ivp LSODA, compiled RHS + Jacobian":
            (scipy_with_compiled_jacobian, few),
        COMPILED_ROUTE: (compiled_path, params),
        SUNDIALS_ROUTE: (sundials_with_compiled_jacobian, few),
    }
    try:
        get_backend("compiled")
    except InputError as err:
        print(f"{COMPILED_ROUTE}: not measured ({err})")
        del routes[COMPILED_ROUTE]
    if importlib.util.find_spec("sksundae") is None:
        print(f"{SUNDIALS_ROUTE}: not measured (pip install scikit-sundae)")
        del routes[SUNDIALS_ROUTE]
    # warm up every route (compilation, caches) outside the timed runs
    for route, _ in routes.values():
        route(params[:1], times, options)

    # CPU time of this process, in blocks of patients that take turns between the routes,
    # so that load from other processes on a shared machine falls on every route alike
    seconds = dict.fromkeys(routes, 0.0)
    parts: dict[str, list[np.ndarray]] = {label: [] for label in routes}
    for start in range(0, args.n, args.block):
        for label, (route, group) in routes.items():
            block = group[start:start + args.block]
            if block:
                spent, out = cpu_timed(functools.partial(route, block, times, options))
                seconds[label] += spent
                parts[label].append(out)
    results = {label: np.concatenate(chunks) for label, chunks in parts.items()}
    rates = {label: len(results[label]) / seconds[label] for label in routes}
    base = rates["(b) plain libroadrunner loop"]
    print(f"{'route':<52} {'patients/s per core':>20} {'vs (b)':>8}")
    for label, rate in rates.items():
        print(f"{label:<52} {rate:>20,.1f} {rate / base:>7.2f}x")
    a, b = results["(a) mscsim default (roadrunner)"], results["(b) plain libroadrunner loop"]
    print(f"(a) vs (b): identical values: {np.array_equal(a, b, equal_nan=True)}")
    for label in ("(c) scipy solve_ivp LSODA, interpreted SBML",
                  "(c') scipy solve_ivp LSODA, compiled RHS + Jacobian", COMPILED_ROUTE,
                  SUNDIALS_ROUTE):
        if label not in results:
            continue
        got = results[label]
        print(f"{label.split(' ')[0]} vs (a): max relative difference "
              f"{max_relative_difference(got, a[:len(got)]):.1e} (at these tolerances)")

    if args.skip_engines:
        return 0
    tasks = [(start, stop, args.seed, args.rtol, args.atol, args.engine_backend)
             for start, stop in chunk_ranges(args.engine_n, args.chunk_size)]
    print(f"\nengines: {args.engine_n} patients in {len(tasks)} chunks, back end "
          f"'{args.engine_backend}' (times include starting workers and loading the model; "
          "1 worker runs in this process)",
          flush=True)
    one = engine_time("process", 1, tasks)
    two = engine_time("process", 2, tasks)
    n = args.engine_n
    print(f"process engine, 1 worker : {one:6.2f} s ({n / one:,.0f} patients/s)")
    print(f"process engine, 2 workers: {two:6.2f} s ({n / two:,.0f} patients/s); "
          f"speed-up 1 -> 2 workers: {one / two:.2f}x")
    try:
        dask = engine_time("dask", 2, tasks)
    except Exception as err:  # noqa: BLE001 - dask is an optional extra
        print(f"dask engine: not measured ({' '.join(str(err).split())})")
        return 0
    print(f"dask engine,    2 workers: {dask:6.2f} s ({n / dask:,.0f} patients/s); "
          f"overhead vs process pool: {dask - two:+.2f} s ({dask / two:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
