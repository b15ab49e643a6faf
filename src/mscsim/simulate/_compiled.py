"""Compiled back end: the model's own SBML turned into machine code, driven by LSODA.

The SBML parse trees are translated to sympy (:func:`mscsim.model._sbml_math.symbolic_sbml`,
no model text is parsed or evaluated), then printed as Python source for numba: a C-callable
right-hand side, its analytic Jacobian (forward-mode chain rule through the assignment
rules, one sympy derivative per rule and state), the initial state and every rule variable at
given times. Parameters are an array, so one compilation serves every patient.

The source is written once to a cache folder under a name that hashes the SBML (which fixes
the state and parameter layout) and the generator's own source, and numba caches the machine
code beside it, so later processes load it in well under a second. The folder is
``$MSCSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/mscsim``, else ``~/.cache/mscsim``. Files are
written to a temporary name and renamed, so concurrent processes are safe.

The integrator is LSODA from ``numbalsoda`` (a C++ port of ODEPACK's LSODA) called through
ctypes once per integration segment with the address of the compiled right-hand side: no
Python runs between steps. That LSODA builds its stiff-mode Jacobian by finite differences
of the compiled right-hand side; the analytic Jacobian (:attr:`CompiledModel.jacobian`) is
generated and tested but measured slower when driven from Python (``docs/performance.md``).

numbalsoda ships no wheel, so it is the optional extra ``mscsim[fast]``; without it,
:func:`mscsim.simulate.get_backend` refuses ``compiled`` with a one-line :class:`InputError`
naming the extra and the system packages its build needs, before anything is simulated.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mscsim._errors import InputError, ModelError, SimulationError
from mscsim._io import CACHE_ENV, cache_dir
from mscsim._limits import over_limit
from mscsim.model import Model, SymbolicSBML, symbolic_sbml
from mscsim.simulate._backends import Backend, register_backend
from mscsim.simulate._options import SolverOptions


# ---------------------------------------------------------------- code generation
def _printer(names: Mapping[str, str]) -> Any:
    from sympy.printing.pycode import PythonCodePrinter

    class Printer(PythonCodePrinter):
        def _print_Symbol(self, expr: Any) -> str:
            if expr.name not in names:
                raise ModelError(f"'{expr.name}' is not a state, parameter or rule of the "
                                 "model here", hint="initial assignments may refer to "
                                 "parameters and states only")
            return names[expr.name]

        def _print_Float(self, expr: Any) -> str:
            return _literal(float(expr))  # every bit of the double; 1e1000 is math.inf

        def _print_Integer(self, expr: Any) -> str:
            value = int(expr)
            if abs(value) < 2**53:
                return str(value)
            return _literal(float(value) if abs(value) < 2**1023 else math.copysign(
                math.inf, value))  # numba types a literal above 64 bits as an error

        def _print_Rational(self, expr: Any) -> str:
            return f"({self._print_Integer(expr.p)}/{self._print_Integer(expr.q)})"

        def _print_NaN(self, expr: Any) -> str:
            return "math.nan"

        def _print_ComplexInfinity(self, expr: Any) -> str:  # 1/0: IEEE division gives inf
            return "math.inf"

        def _print_Infinity(self, expr: Any) -> str:
            return "math.inf"

        def _print_NegativeInfinity(self, expr: Any) -> str:
            return "(-math.inf)"

        def _print_PowerOf(self, expr: Any) -> str:
            base, exponent = (self._print(a) for a in expr.args)
            return f"({base})**({exponent})"

        def _print_Heaviside(self, expr: Any) -> str:  # derivative of max and min
            x = self._print(expr.args[0])
            return f"(1.0 if ({x}) > 0 else (0.0 if ({x}) < 0 else 0.5))"

    return Printer({"fully_qualified_modules": True, "strict": True})


@functools.cache
def _power_function() -> Any:
    """``x**a`` as a sympy function whose derivative is ``a*x**(a-1)`` (printed as a power)."""
    import sympy

    class PowerOf(sympy.Function):
        nargs = 2

        def fdiff(self, argindex: int = 1) -> Any:
            base, exponent = self.args
            if argindex == 1:
                return exponent * PowerOf(base, exponent - 1)
            return PowerOf(base, exponent) * sympy.log(base)

    return PowerOf


def _literal(value: float) -> str:
    if np.isnan(value):
        return "math.nan"
    if np.isinf(value):
        return "math.inf" if value > 0 else "-math.inf"
    return repr(float(value))


def _needed_rules(symbolic: SymbolicSBML, exprs: Sequence[Any]) -> list[int]:
    """Indices of the rules that ``exprs`` depend on, directly or through other rules."""
    index = {name: k for k, (name, _) in enumerate(symbolic.rules)}
    needed: set[int] = set()
    stack = [s.name for e in exprs for s in e.free_symbols if s.name in index]
    while stack:
        k = index[stack.pop()]
        if k not in needed:
            needed.add(k)
            stack.extend(s.name for s in symbolic.rules[k][1].free_symbols if s.name in index)
    return sorted(needed)


@dataclass(frozen=True)
class _Layout:
    states: tuple[str, ...]
    parameters: tuple[str, ...]
    rules: tuple[str, ...]


def generate_source(symbolic: SymbolicSBML, sbml_hash: str) -> str:
    """Python source for numba: ``rhs`` (C callable ``void(t, y*, dy*, p*)``), ``jacobian``,
    ``initial`` and ``observe``.

    Raises:
        ModelError: a construct the printer cannot translate.
    """
    import sympy

    from mscsim.model import SBML_TIME as TIME

    layout = _Layout(symbolic.state_ids, tuple(symbolic.parameter_defaults),
                     tuple(name for name, _ in symbolic.rules))
    n = len(layout.states)
    names = {TIME: "t"}
    names.update({s: f"y[{i}]" for i, s in enumerate(layout.states)})
    names.update({p: f"p[{j}]" for j, p in enumerate(layout.parameters)})
    rule_names = {r: f"r{k}" for k, r in enumerate(layout.rules)}
    names.update(rule_names)
    printer = _printer(names)
    pr = printer.doprint
    state_index = {s: i for i, s in enumerate(layout.states)}

    def rule_lines(indices: Sequence[int], indent: str = "    ") -> list[str]:
        return [f"{indent}r{k} = {pr(symbolic.rules[k][1])}" for k in indices]

    rhs_rules = _needed_rules(symbolic, symbolic.rates)
    lines = [
        f'"""Generated by mscsim from SBML sha256 {sbml_hash}; do not edit."""',
        "import math",
        "",
        "import numba",
        "from numba import types",
        "",
        "RHS_SIGNATURE = types.void(types.double, types.CPointer(types.double),",
        "                           types.CPointer(types.double), types.CPointer(types.double))",
        f"N_STATES = {n}",
        f"STATES = {layout.states!r}",
        f"PARAMETERS = {layout.parameters!r}",
        f"RULES = {layout.rules!r}",
        "STATE_DEFAULTS = (" + "".join(_literal(symbolic.state_defaults.get(s, 0.0)) + ", "
                                       for s in layout.states) + ")",
        "",
        "",
        "@numba.cfunc(RHS_SIGNATURE, cache=True, error_model='numpy')",
        "def rhs(t, y, dy, p):",
        *rule_lines(rhs_rules),
        *[f"    dy[{i}] = {pr(rate)}" for i, rate in enumerate(symbolic.rates)],
        "",
        "",
    ]

    # Jacobian: forward-mode chain rule through the rules, d(rule k)/d(state j) held in
    # locals named d{k}_{j} so that each rule is differentiated once.
    deriv: dict[tuple[str, int], Any] = {}  # (rule name, state) -> symbol of its derivative
    jac_lines: list[str] = []

    power = _power_function()

    def total(expr: Any, j: int) -> Any:
        # sympy writes d(x**a)/dx as a*x**a/x, which is 0/0 at x = 0; differentiate the
        # non-integer powers as a*x**(a-1) instead
        expr = expr.replace(lambda e: e.is_Pow and not e.exp.is_Integer,
                            lambda e: power(e.base, e.exp))
        out = sympy.Integer(0)
        for s in expr.free_symbols:
            if s.name in state_index and state_index[s.name] == j:
                out += sympy.diff(expr, s)
            elif (s.name, j) in deriv:
                out += sympy.diff(expr, s) * deriv[(s.name, j)]
        return out

    for k in rhs_rules:
        name, expr = symbolic.rules[k]
        for j in range(n):
            d = total(expr, j)
            if d != 0:
                local = f"d{k}_{j}"
                deriv[(name, j)] = sympy.Symbol(local)
                names[local] = local
                jac_lines.append(f"    {local} = {pr(d)}")
    lines += [
        "@numba.njit(cache=True, error_model='numpy')",
        "def jacobian(t, y, p, J):",
        "    J[:, :] = 0.0",
        *rule_lines(rhs_rules),
        *jac_lines,
    ]
    for i, rate in enumerate(symbolic.rates):
        for j in range(n):
            d = total(rate, j)
            if d != 0:
                lines.append(f"    J[{i}, {j}] = {pr(d)}")
    lines += ["", ""]

    # initial state: declared values, then initial assignments in dependency order
    initial_names = {TIME: "0.0", **{s: f"y[{i}]" for i, s in enumerate(layout.states)},
                     **{p: f"p[{j}]" for j, p in enumerate(layout.parameters)}}
    init_printer = _printer(initial_names)
    lines += [
        "@numba.njit(cache=True, error_model='numpy')",
        "def initial(p, y):",
        "    # y holds the declared state values on entry",
        "    pass",
    ]
    for name, expr in symbolic.initial:
        if name not in state_index:
            raise ModelError(f"initial assignment of '{name}': only states may have one in "
                             "the compiled back end", hint="give the value in the parameter "
                             "table instead")
        lines.append(f"    y[{state_index[name]}] = {init_printer.doprint(expr)}")
    lines += ["", ""]

    # every state and rule variable at given times: columns are states, then rules
    lines += [
        "@numba.njit(cache=True, error_model='numpy')",
        "def observe(times, Y, p, out):",
        "    for row in range(len(times)):",
        "        t = times[row]",
        "        y = Y[row]",
        *rule_lines(range(len(layout.rules)), indent="        "),
        f"        out[row, :{n}] = y",
        *[f"        out[row, {n + k}] = r{k}" for k in range(len(layout.rules))],
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- loading (with cache)
@dataclass(frozen=True)
class CompiledModel:
    """A model's generated, compiled functions and its array layout."""

    states: tuple[str, ...]
    parameters: tuple[str, ...]
    rules: tuple[str, ...]
    state_defaults: np.ndarray
    rhs_address: int
    rhs: Callable[..., None]
    jacobian: Callable[..., None]
    initial: Callable[..., None]
    observe: Callable[..., None]
    source_path: Path

    def initial_state(self, p: np.ndarray) -> np.ndarray:
        y = self.state_defaults.copy()
        self.initial(p, y)
        return y


_LOADED: dict[str, CompiledModel] = {}
_LOCK = threading.Lock()


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cache_key(sbml: str) -> str:
    """Hash of the SBML (which fixes the state and parameter layout) and of the generator's
    own source, so a change to either makes a new cache entry."""
    digest = hashlib.sha256(sbml.encode())
    for module in (__name__, symbolic_sbml.__module__):
        digest.update(Path(sys.modules[module].__file__ or "").read_bytes())
    return digest.hexdigest()[:24]


def compiled_model(model: Model) -> CompiledModel:
    """Generate, compile (or load from the cache) and return ``model``'s functions.

    Raises:
        ModelError: the model uses constructs the generator does not translate.
        InputError: the cache folder cannot be written.
    """
    with _LOCK:
        if model.hash in _LOADED:
            return _LOADED[model.hash]
        size = len(model.state_ids) + len(model.rule_ids)
        too_big = over_limit(size, "compiled_rules", what="the number of states and rules")
        if too_big:  # numba's compile time and memory grow faster than the model
            raise ModelError(f"too large for the compiled back end: {too_big}",
                             file=model.source, hint="use the roadrunner back end")
        key = _cache_key(model.sbml)
        module_name = f"mscsim_model_{key}"
        path = cache_dir() / "compiled" / f"{module_name}.py"
        if not path.exists():
            source = generate_source(symbolic_sbml(model.sbml), model.hash)
            try:
                _write_atomic(path, source)
            except OSError as err:
                raise InputError(f"cannot write the compiled model cache at {path}: "
                                 f"{err.strerror or err}", field=CACHE_ENV,
                                 hint=f"set {CACHE_ENV} to a writable folder") from err
        module = _import(module_name, path)
        compiled = CompiledModel(
            states=tuple(module.STATES), parameters=tuple(module.PARAMETERS),
            rules=tuple(module.RULES), state_defaults=np.array(module.STATE_DEFAULTS),
            rhs_address=int(module.rhs.address), rhs=module.rhs, jacobian=module.jacobian,
            initial=module.initial, observe=module.observe, source_path=path)
        _LOADED[model.hash] = compiled
        return compiled


def _import(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SimulationError(f"cannot import the generated model code at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# ---------------------------------------------------------------- the integrator
#: numbalsoda ships no wheel, so it is the optional extra ``mscsim[fast]`` (docs/performance.md)
FAST_EXTRA_HINT = ("pip install 'mscsim[fast]'; numbalsoda builds from source and needs a "
                   "Fortran compiler and CMake: apt-get install gfortran cmake on Debian/Ubuntu")


def _lsoda_library() -> Path:
    """numbalsoda's shared library, found without importing the package.

    Raises:
        InputError: numbalsoda is not installed, or installed without its library.
    """
    spec = importlib.util.find_spec("numbalsoda")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the compiled back end needs numbalsoda, which is not installed",
                         field="backend", hint=FAST_EXTRA_HINT)
    folder = Path(next(iter(spec.submodule_search_locations)))
    library = folder / {"win32": "liblsoda.dll", "darwin": "liblsoda.dylib"}.get(
        sys.platform, "liblsoda.so")
    if not library.is_file():
        raise InputError(f"numbalsoda is installed without its library {library}",
                         field="backend", hint=FAST_EXTRA_HINT)
    return library


@functools.cache
def _lsoda() -> Any:
    """numbalsoda's C entry point: LSODA with a C-callable right-hand side.

    The shared library is loaded directly: importing the ``numbalsoda`` package compiles its
    numba drivers, which costs seconds in every worker process and is not needed here.
    """
    function = ctypes.CDLL(str(_lsoda_library())).lsoda_wrapper
    function.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double,
                         ctypes.c_double, ctypes.c_int, ctypes.c_void_p]
    function.restype = None
    return function


@register_backend("compiled")
class CompiledBackend(Backend):
    """LSODA on numba-compiled code generated from the model's SBML."""

    @classmethod
    def check_available(cls) -> None:
        _lsoda_library()

    def __init__(self, model: Model, outputs: Sequence[str], options: SolverOptions) -> None:
        super().__init__(model, outputs, options)
        code = compiled_model(model)
        columns = {name: i for i, name in enumerate(code.states + code.rules)}
        missing = [o for o in self.outputs if o not in columns]
        if missing:
            raise InputError(f"model '{model.name}' has no output '{missing[0]}'",
                             field="outputs")
        self._code = code
        self._columns = np.array([columns[o] for o in self.outputs], dtype=np.intp)
        self._width = len(columns)
        self._dosing = code.states.index(model.dosing.state) \
            if model.dosing is not None and model.dosing.state in code.states else -1
        self._solver = _lsoda()
        self._p = np.empty(0)
        self._y = np.empty(0)
        self._success = np.zeros(1, dtype=np.int32)

    def start(self, parameters: Mapping[str, float]) -> None:
        self._p = np.array([parameters[k] for k in self._code.parameters], dtype=float)
        self._y = self._code.initial_state(self._p)

    def advance(self, t0: float, t1: float, record: np.ndarray) -> np.ndarray:
        if len(record) and record[0] == t0 and record[-1] == t1:
            grid, keep = np.ascontiguousarray(record, dtype=float), None
        else:
            grid = np.unique(np.concatenate([[t0], record, [t1]]))
            keep = np.isin(grid, record)
        if len(grid) == 1:
            states = self._y[None, :].copy()
        else:
            states = self._integrate(grid)
            self._y = states[-1].copy()
        if keep is not None:
            grid, states = grid[keep], states[keep]
        out = np.empty((len(grid), self._width))
        self._code.observe(grid, states, self._p, out)
        return out[:, self._columns]

    def _integrate(self, grid: np.ndarray) -> np.ndarray:
        y0 = self._y
        states = np.empty((len(grid), len(y0)))
        success = self._success
        success[0] = 0
        self._solver(self._code.rhs_address, len(y0), y0.ctypes.data, self._p.ctypes.data,
                     len(grid), grid.ctypes.data, states.ctypes.data,
                     float(self.options.rtol), float(self.options.atol),
                     int(self.options.max_steps), success.ctypes.data)
        if success[0] != 1:
            raise SimulationError(f"LSODA failed between t={grid[0]:g} and t={grid[-1]:g}")
        return states

    def add_bolus(self, amount: float) -> None:
        if self._dosing < 0:
            raise InputError(f"model '{self.model.name}' declares no dosing state",
                             field="dose")
        self._y[self._dosing] += amount
