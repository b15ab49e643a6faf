"""Turn an SBML model's mathematics into Python callables, by walking libsbml's parsed ASTs.

Model text is never passed to ``eval``: every MathML node becomes a small closure. This is
what the scipy back end integrates, so it is an implementation independent of libroadrunner.
Supported: rate rules, assignment rules, initial assignments, constant parameters, function
definitions and the MathML operators used by rule-based models. Species, reactions, events
and algebraic rules are reported as unsupported with a clear error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import libsbml
import numpy as np

from mscsim._errors import ModelError

Env = dict[str, float]
Expr = Callable[[Env], float]
TIME = "__time__"


def _chain(compare: Callable[[float, float], bool], args: list[Expr]) -> Expr:
    def run(env: Env) -> float:
        values = [a(env) for a in args]
        return float(all(compare(x, y) for x, y in zip(values, values[1:], strict=False)))
    return run


_BINARY_RELATIONS: dict[int, Callable[[float, float], bool]] = {
    libsbml.AST_RELATIONAL_LT: lambda a, b: a < b,
    libsbml.AST_RELATIONAL_LEQ: lambda a, b: a <= b,
    libsbml.AST_RELATIONAL_GT: lambda a, b: a > b,
    libsbml.AST_RELATIONAL_GEQ: lambda a, b: a >= b,
    libsbml.AST_RELATIONAL_EQ: lambda a, b: a == b,
    libsbml.AST_RELATIONAL_NEQ: lambda a, b: a != b,
}

_UNARY_FUNCTIONS: dict[int, Callable[[float], float]] = {
    libsbml.AST_FUNCTION_EXP: math.exp,
    libsbml.AST_FUNCTION_LN: math.log,
    libsbml.AST_FUNCTION_ABS: abs,
    libsbml.AST_FUNCTION_FLOOR: math.floor,
    libsbml.AST_FUNCTION_CEILING: math.ceil,
    libsbml.AST_FUNCTION_SIN: math.sin,
    libsbml.AST_FUNCTION_COS: math.cos,
    libsbml.AST_FUNCTION_TAN: math.tan,
    libsbml.AST_FUNCTION_TANH: math.tanh,
}


class _Compiler:
    def __init__(self, functions: Mapping[str, tuple[list[str], libsbml.ASTNode]], where: str):
        self._functions = functions
        self._where = where

    def compile(self, node: libsbml.ASTNode) -> Expr:  # noqa: C901 - one dispatch table
        kind = node.getType()
        kids = [self.compile(node.getChild(i)) for i in range(node.getNumChildren())] \
            if kind != libsbml.AST_FUNCTION else []
        if kind in (libsbml.AST_INTEGER,):
            value = float(node.getInteger())
            return lambda env: value
        if kind in (libsbml.AST_REAL, libsbml.AST_REAL_E, libsbml.AST_RATIONAL):
            value = float(node.getReal())
            return lambda env: value
        if kind == libsbml.AST_NAME:
            name = node.getName()
            return lambda env: env[name]
        if kind == libsbml.AST_NAME_TIME:
            return lambda env: env[TIME]
        if kind == libsbml.AST_CONSTANT_E:
            return lambda env: math.e
        if kind == libsbml.AST_CONSTANT_PI:
            return lambda env: math.pi
        if kind == libsbml.AST_CONSTANT_TRUE:
            return lambda env: 1.0
        if kind == libsbml.AST_CONSTANT_FALSE:
            return lambda env: 0.0
        if kind == libsbml.AST_PLUS:
            return lambda env: sum(k(env) for k in kids)
        if kind == libsbml.AST_MINUS:
            if len(kids) == 1:
                (a,) = kids
                return lambda env: -a(env)
            a, b = kids
            return lambda env: a(env) - b(env)
        if kind == libsbml.AST_TIMES:
            return lambda env: math.prod(k(env) for k in kids)
        if kind == libsbml.AST_DIVIDE:
            a, b = kids
            return lambda env: a(env) / b(env)
        if kind in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
            a, b = kids
            return lambda env: a(env) ** b(env)
        if kind in _UNARY_FUNCTIONS:
            fn = _UNARY_FUNCTIONS[kind]
            (a,) = kids
            return lambda env: fn(a(env))
        if kind == libsbml.AST_FUNCTION_LOG:
            if len(kids) == 1:
                (a,) = kids
                return lambda env: math.log10(a(env))
            base, a = kids
            return lambda env: math.log(a(env)) / math.log(base(env))
        if kind == libsbml.AST_FUNCTION_ROOT:
            if len(kids) == 1:
                (a,) = kids
                return lambda env: math.sqrt(a(env))
            degree, a = kids
            return lambda env: a(env) ** (1.0 / degree(env))
        if kind == libsbml.AST_FUNCTION_MAX:
            return lambda env: max(k(env) for k in kids)
        if kind == libsbml.AST_FUNCTION_MIN:
            return lambda env: min(k(env) for k in kids)
        if kind in _BINARY_RELATIONS:
            return _chain(_BINARY_RELATIONS[kind], kids)
        if kind == libsbml.AST_LOGICAL_AND:
            return lambda env: float(all(k(env) for k in kids))
        if kind == libsbml.AST_LOGICAL_OR:
            return lambda env: float(any(k(env) for k in kids))
        if kind == libsbml.AST_LOGICAL_NOT:
            (a,) = kids
            return lambda env: float(not a(env))
        if kind == libsbml.AST_FUNCTION_PIECEWISE:
            return _piecewise(kids)
        if kind == libsbml.AST_FUNCTION:
            return self._call(node)
        raise ModelError(f"unsupported MathML construct '{node.getName() or kind}' in "
                         f"{self._where}", hint="the scipy back end supports rule-based models")

    def _call(self, node: libsbml.ASTNode) -> Expr:
        name = node.getName()
        if name not in self._functions:
            raise ModelError(f"call of undefined function '{name}' in {self._where}")
        params, body_node = self._functions[name]
        body = self.compile(body_node)
        args = [self.compile(node.getChild(i)) for i in range(node.getNumChildren())]
        if len(args) != len(params):
            raise ModelError(f"function '{name}' takes {len(params)} arguments, got "
                             f"{len(args)} in {self._where}")

        def run(env: Env) -> float:
            local = dict(env)
            local.update({p: a(env) for p, a in zip(params, args, strict=True)})
            return body(local)
        return run


def _piecewise(kids: list[Expr]) -> Expr:
    pairs = [(kids[i], kids[i + 1]) for i in range(0, len(kids) - 1, 2)]
    otherwise = kids[-1] if len(kids) % 2 == 1 else None

    def run(env: Env) -> float:
        for value, condition in pairs:
            if condition(env):
                return value(env)
        if otherwise is None:
            return math.nan
        return otherwise(env)
    return run


def _names(node: libsbml.ASTNode) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n.getType() == libsbml.AST_NAME:
            found.add(n.getName())
        stack.extend(n.getChild(i) for i in range(n.getNumChildren()))
    return found


def _topological(exprs: Mapping[str, set[str]], where: str) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ModelError(f"circular {where}: {' -> '.join(path + (name,))}")
        state[name] = 1
        for dep in sorted(exprs[name]):
            if dep in exprs:
                visit(dep, path + (name,))
        state[name] = 2
        order.append(name)

    for name in exprs:
        visit(name, ())
    return order


@dataclass
class CompiledSBML:
    """Python callables for the right-hand side, rules and initial values of an SBML model."""

    state_ids: tuple[str, ...]
    parameter_defaults: dict[str, float]
    _rates: list[Expr] = field(repr=False)
    _rules: list[tuple[str, Expr]] = field(repr=False)
    _initial: list[tuple[str, Expr]] = field(repr=False)
    _state_defaults: dict[str, float] = field(repr=False)
    rule_ids: tuple[str, ...] = ()

    def _env(self, t: float, y: np.ndarray, parameters: Mapping[str, float]) -> Env:
        env: Env = dict(parameters)
        env.update(zip(self.state_ids, (float(v) for v in y), strict=True))
        env[TIME] = t
        for name, expr in self._rules:
            env[name] = expr(env)
        return env

    def rhs(self, t: float, y: np.ndarray, parameters: Mapping[str, float]) -> np.ndarray:
        """Time derivatives of the states."""
        env = self._env(t, y, parameters)
        return np.array([rate(env) for rate in self._rates])

    def rules(self, t: float, y: np.ndarray, parameters: Mapping[str, float]) -> Env:
        """Every assignment-rule variable (observables included) at one time point."""
        env = self._env(t, y, parameters)
        return {name: env[name] for name in self.rule_ids}

    def initial_state(self, parameters: Mapping[str, float]) -> np.ndarray:
        """States at time 0: declared values, then initial assignments in dependency order."""
        env: Env = dict(parameters)
        env.update(self._state_defaults)
        env[TIME] = 0.0
        for name, expr in self._initial:
            env[name] = expr(env)
        return np.array([env[s] for s in self.state_ids])


def compile_sbml(sbml: str) -> CompiledSBML:
    """Compile an SBML document (a string) into :class:`CompiledSBML`.

    Raises:
        ModelError: the document cannot be read or uses unsupported features.
    """
    doc = libsbml.readSBMLFromString(sbml)
    if doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) + doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL):
        raise ModelError(f"SBML cannot be read: {doc.getError(0).getMessage().strip()}")
    model = doc.getModel()
    if model is None:
        raise ModelError("SBML document has no model")
    for what, count in (("species", model.getNumSpecies()), ("reactions", model.getNumReactions()),
                        ("events", model.getNumEvents())):
        if count:
            raise ModelError(f"the scipy back end supports rule-based models only; this model "
                             f"has {count} {what}", hint="use the roadrunner back end")

    functions = {}
    for fd in model.getListOfFunctionDefinitions():
        lam = fd.getMath()
        params = [lam.getChild(i).getName() for i in range(lam.getNumBvars())]
        functions[fd.getId()] = (params, lam.getChild(lam.getNumChildren() - 1))

    rate_rules, assignment_rules = {}, {}
    for rule in model.getListOfRules():
        if rule.isRate():
            rate_rules[rule.getVariable()] = rule.getMath()
        elif rule.isAssignment():
            assignment_rules[rule.getVariable()] = rule.getMath()
        else:
            raise ModelError("algebraic rules are not supported by the scipy back end")

    state_ids = tuple(rate_rules)
    constants = {p.getId(): float(p.getValue()) for p in model.getListOfParameters()
                 if p.getId() not in rate_rules and p.getId() not in assignment_rules}
    state_defaults = {p.getId(): float(p.getValue()) for p in model.getListOfParameters()
                      if p.getId() in rate_rules}
    for c in model.getListOfCompartments():
        constants[c.getId()] = float(c.getSize())

    def compiler(where: str) -> _Compiler:
        return _Compiler(functions, where)

    order = _topological({k: _names(v) for k, v in assignment_rules.items()}, "assignment rules")
    rules = [(name, compiler(f"assignment rule '{name}'").compile(assignment_rules[name]))
             for name in order]
    rates = [compiler(f"rate rule '{s}'").compile(rate_rules[s]) for s in state_ids]
    initial_math = {ia.getSymbol(): ia.getMath() for ia in model.getListOfInitialAssignments()}
    init_order = _topological({k: _names(v) for k, v in initial_math.items()},
                              "initial assignments")
    initial = [(name, compiler(f"initial assignment of '{name}'").compile(initial_math[name]))
               for name in init_order]
    return CompiledSBML(state_ids=state_ids, parameter_defaults=constants, _rates=rates,
                        _rules=rules, _initial=initial, _state_defaults=state_defaults,
                        rule_ids=tuple(order))
