"""Turn an SBML model's mathematics into Python callables, by walking libsbml's parsed ASTs.

Model text is never passed to ``eval``: every MathML node becomes a small closure. This is
what the scipy back end integrates, so it is an implementation independent of libroadrunner.
Supported: rate rules, assignment rules, initial assignments, constant parameters, function
definitions and the MathML operators used by rule-based models. Species, reactions, events
and algebraic rules are reported as unsupported with a clear error.

:func:`symbolic_sbml` walks the same parse trees into sympy expressions instead, for the
compiled back end's code generation and symbolic Jacobian.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    """Names in dependency order (iterative: a chain of 10,000 rules must not recurse)."""
    order: list[str] = []
    state: dict[str, int] = {}
    for root in exprs:
        if state.get(root) == 2:
            continue
        state[root] = 1
        path = [root]
        stack = [iter(sorted(d for d in exprs[root] if d in exprs))]
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                stack.pop()
                done = path.pop()
                state[done] = 2
                order.append(done)
            elif state.get(dep) == 1:
                raise ModelError(f"circular {where}: {' -> '.join([*path, dep])}")
            elif state.get(dep) != 2:
                state[dep] = 1
                path.append(dep)
                stack.append(iter(sorted(d for d in exprs[dep] if d in exprs)))
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


@dataclass
class _ParsedSBML:
    """The mathematics of a rule-based SBML model, as libsbml parse trees."""

    functions: dict[str, tuple[list[str], libsbml.ASTNode]]
    rate_rules: dict[str, libsbml.ASTNode]
    assignment_rules: dict[str, libsbml.ASTNode]
    rule_order: list[str]
    initial_math: dict[str, libsbml.ASTNode]
    initial_order: list[str]
    constants: dict[str, float]
    state_defaults: dict[str, float]
    document: libsbml.SBMLDocument  # owns the parse trees above; keep it alive


@dataclass(frozen=True)
class SBMLVariables:
    """What a model defines, whatever back end simulates it: states (rate-rule variables),
    assignment-rule variables in dependency order, and constant parameters (with compartment
    sizes) and their values."""

    state_ids: tuple[str, ...]
    rule_ids: tuple[str, ...]
    parameter_defaults: dict[str, float]


def _variables(model: libsbml.Model) -> tuple[dict[str, libsbml.ASTNode],
                                              dict[str, libsbml.ASTNode], dict[str, float],
                                              dict[str, float]]:
    rate_rules, assignment_rules = {}, {}
    for rule in model.getListOfRules():
        if rule.isRate():
            rate_rules[rule.getVariable()] = rule.getMath()
        elif rule.isAssignment():
            assignment_rules[rule.getVariable()] = rule.getMath()
    constants = {p.getId(): float(p.getValue()) for p in model.getListOfParameters()
                 if p.getId() not in rate_rules and p.getId() not in assignment_rules}
    state_defaults = {p.getId(): float(p.getValue()) for p in model.getListOfParameters()
                      if p.getId() in rate_rules}
    for c in model.getListOfCompartments():
        constants[c.getId()] = float(c.getSize())
    return rate_rules, assignment_rules, constants, state_defaults


def sbml_variables(sbml: str) -> SBMLVariables:
    """The variables of an SBML document (a string), with no back end's restrictions.

    Raises:
        ModelError: the document cannot be read, or its assignment rules are circular.
    """
    doc = libsbml.readSBMLFromString(sbml)
    model = doc.getModel()
    if model is None:
        raise ModelError("SBML document has no model")
    rate_rules, assignment_rules, constants, _ = _variables(model)
    order = _topological({k: _names(v) for k, v in assignment_rules.items()}, "assignment rules")
    return SBMLVariables(state_ids=tuple(rate_rules), rule_ids=tuple(order),
                         parameter_defaults=constants)


def _parse(sbml: str) -> _ParsedSBML:
    doc = libsbml.readSBMLFromString(sbml)
    if doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) + doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL):
        raise ModelError(f"SBML cannot be read: {doc.getError(0).getMessage().strip()}")
    model = doc.getModel()
    if model is None:
        raise ModelError("SBML document has no model")
    for what, count in (("species", model.getNumSpecies()), ("reactions", model.getNumReactions()),
                        ("events", model.getNumEvents())):
        if count:
            raise ModelError(f"the scipy and compiled back ends support rule-based models "
                             f"only; this model has {count} {what}",
                             hint="use the roadrunner back end")
    if any(rule.isAlgebraic() for rule in model.getListOfRules()):
        raise ModelError("algebraic rules are not supported by the scipy and compiled "
                         "back ends", hint="use the roadrunner back end")

    functions = {}
    for fd in model.getListOfFunctionDefinitions():
        lam = fd.getMath()
        params = [lam.getChild(i).getName() for i in range(lam.getNumBvars())]
        functions[fd.getId()] = (params, lam.getChild(lam.getNumChildren() - 1))

    rate_rules, assignment_rules, constants, state_defaults = _variables(model)
    order = _topological({k: _names(v) for k, v in assignment_rules.items()}, "assignment rules")
    initial_math = {ia.getSymbol(): ia.getMath() for ia in model.getListOfInitialAssignments()}
    init_order = _topological({k: _names(v) for k, v in initial_math.items()},
                              "initial assignments")
    return _ParsedSBML(functions=functions, rate_rules=rate_rules,
                       assignment_rules=assignment_rules, rule_order=order,
                       initial_math=initial_math, initial_order=init_order, constants=constants,
                       state_defaults=state_defaults, document=doc)


def compile_sbml(sbml: str) -> CompiledSBML:
    """Compile an SBML document (a string) into :class:`CompiledSBML`.

    Raises:
        ModelError: the document cannot be read or uses unsupported features.
    """
    parsed = _parse(sbml)

    def compiler(where: str) -> _Compiler:
        return _Compiler(parsed.functions, where)

    state_ids = tuple(parsed.rate_rules)
    rules = [(name, compiler(f"assignment rule '{name}'").compile(parsed.assignment_rules[name]))
             for name in parsed.rule_order]
    rates = [compiler(f"rate rule '{s}'").compile(parsed.rate_rules[s]) for s in state_ids]
    initial = [(name, compiler(f"initial assignment of '{name}'").compile(
        parsed.initial_math[name])) for name in parsed.initial_order]
    return CompiledSBML(state_ids=state_ids, parameter_defaults=parsed.constants, _rates=rates,
                        _rules=rules, _initial=initial, _state_defaults=parsed.state_defaults,
                        rule_ids=tuple(parsed.rule_order))


# ---------------------------------------------------------------- symbolic form (sympy)
@dataclass
class SymbolicSBML:
    """The model's mathematics as sympy expressions, for code generation and differentiation.

    Built by walking libsbml's parse trees (no text is parsed or evaluated). Every SBML
    identifier is a ``sympy.Symbol`` of the same name; time is :attr:`time`. Rates and rules
    refer to rule variables by symbol (not expanded), so a generator can compute each rule once.

    Attributes:
        state_ids: variables with a rate rule, in SBML order.
        parameter_defaults: constant parameters and compartment sizes with their values.
        state_defaults: declared values of the states (before initial assignments).
        rates: time derivative of each state.
        rules: ``(variable, expression)`` of every assignment rule, in dependency order.
        initial: ``(variable, expression)`` of every initial assignment, in dependency order.
    """

    time: Any
    state_ids: tuple[str, ...]
    parameter_defaults: dict[str, float]
    state_defaults: dict[str, float]
    rates: tuple[Any, ...]
    rules: tuple[tuple[str, Any], ...]
    initial: tuple[tuple[str, Any], ...]


class _Symbolic:
    """libsbml AST -> sympy expression, one node type at a time."""

    def __init__(self, functions: Mapping[str, tuple[list[str], libsbml.ASTNode]],
                 time: Any, where: str) -> None:
        import sympy

        self._sp = sympy
        self._functions = functions
        self._time = time
        self._where = where
        self._unary: dict[int, Callable[[Any], Any]] = {
            libsbml.AST_FUNCTION_EXP: sympy.exp, libsbml.AST_FUNCTION_LN: sympy.log,
            libsbml.AST_FUNCTION_ABS: sympy.Abs, libsbml.AST_FUNCTION_FLOOR: sympy.floor,
            libsbml.AST_FUNCTION_CEILING: sympy.ceiling, libsbml.AST_FUNCTION_SIN: sympy.sin,
            libsbml.AST_FUNCTION_COS: sympy.cos, libsbml.AST_FUNCTION_TAN: sympy.tan,
            libsbml.AST_FUNCTION_TANH: sympy.tanh,
        }
        self._relations: dict[int, Callable[[Any, Any], Any]] = {
            libsbml.AST_RELATIONAL_LT: sympy.Lt, libsbml.AST_RELATIONAL_LEQ: sympy.Le,
            libsbml.AST_RELATIONAL_GT: sympy.Gt, libsbml.AST_RELATIONAL_GEQ: sympy.Ge,
            libsbml.AST_RELATIONAL_EQ: sympy.Eq, libsbml.AST_RELATIONAL_NEQ: sympy.Ne,
        }

    def _is_truth(self, x: Any) -> bool:
        # not sympy's Boolean: a Symbol is one too
        sp = self._sp
        return isinstance(x, sp.core.relational.Relational | sp.logic.boolalg.BooleanFunction
                          | sp.logic.boolalg.BooleanAtom)

    def number(self, x: Any) -> Any:
        """A truth value used as a number is 1 or 0 (as in the interpreter above)."""
        sp = self._sp
        if self._is_truth(x):
            return sp.Piecewise((sp.Integer(1), x), (sp.Integer(0), True))
        return x

    def condition(self, x: Any) -> Any:
        """A number used as a truth value is true when non-zero."""
        return x if self._is_truth(x) else self._sp.Ne(x, 0)

    def translate(self, node: libsbml.ASTNode,  # noqa: C901 - one dispatch table
                  bound: Mapping[str, Any] | None = None) -> Any:
        sp = self._sp
        bound = bound or {}
        kind = node.getType()
        if kind == libsbml.AST_FUNCTION:
            return self._call(node, bound)
        kids = [self.translate(node.getChild(i), bound) for i in range(node.getNumChildren())]
        nums = [self.number(k) for k in kids]
        if kind == libsbml.AST_INTEGER:
            return sp.Integer(node.getInteger())
        if kind in (libsbml.AST_REAL, libsbml.AST_REAL_E, libsbml.AST_RATIONAL):
            return sp.Float(float(node.getReal()))
        if kind == libsbml.AST_NAME:
            name = node.getName()
            return bound[name] if name in bound else sp.Symbol(name)
        if kind == libsbml.AST_NAME_TIME:
            return self._time
        constants = {libsbml.AST_CONSTANT_E: sp.E, libsbml.AST_CONSTANT_PI: sp.pi,
                     libsbml.AST_CONSTANT_TRUE: sp.true, libsbml.AST_CONSTANT_FALSE: sp.false}
        if kind in constants:
            return constants[kind]
        if kind == libsbml.AST_PLUS:
            return sp.Add(*nums) if nums else sp.Integer(0)
        if kind == libsbml.AST_MINUS:
            return -nums[0] if len(nums) == 1 else nums[0] - nums[1]
        if kind == libsbml.AST_TIMES:
            return sp.Mul(*nums) if nums else sp.Integer(1)
        if kind == libsbml.AST_DIVIDE:
            return nums[0] / nums[1]
        if kind in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
            return self._power(nums[0], nums[1])
        if kind in self._unary:
            return self._unary[kind](nums[0])
        if kind == libsbml.AST_FUNCTION_LOG:
            return sp.log(nums[0], 10) if len(nums) == 1 else sp.log(nums[1], nums[0])
        if kind == libsbml.AST_FUNCTION_ROOT:
            return sp.sqrt(nums[0]) if len(nums) == 1 else sp.Pow(nums[1], 1 / nums[0])
        if kind == libsbml.AST_FUNCTION_MAX:
            return sp.Max(*nums)
        if kind == libsbml.AST_FUNCTION_MIN:
            return sp.Min(*nums)
        if kind in self._relations:
            relation = self._relations[kind]
            pairs = [relation(a, b) for a, b in zip(nums, nums[1:], strict=False)]
            return sp.And(*pairs)
        if kind == libsbml.AST_LOGICAL_AND:
            return sp.And(*(self.condition(k) for k in kids))
        if kind == libsbml.AST_LOGICAL_OR:
            return sp.Or(*(self.condition(k) for k in kids))
        if kind == libsbml.AST_LOGICAL_NOT:
            return sp.Not(self.condition(kids[0]))
        if kind == libsbml.AST_FUNCTION_PIECEWISE:
            pieces = [(self.number(kids[i]), self.condition(kids[i + 1]))
                      for i in range(0, len(kids) - 1, 2)]
            otherwise = self.number(kids[-1]) if len(kids) % 2 == 1 else sp.nan
            return sp.Piecewise(*pieces, (otherwise, True))
        raise ModelError(f"unsupported MathML construct '{node.getName() or kind}' in "
                         f"{self._where}", hint="the compiled back end supports rule-based "
                         "models")

    def _power(self, base: Any, exponent: Any) -> Any:
        """``base ** exponent``; two numbers are folded in double precision unless the exact
        result is small (sympy would compute ``99999999**99999999`` exactly, for ever)."""
        sp = self._sp
        if not (isinstance(base, sp.Number) and isinstance(exponent, sp.Number)):
            return sp.Pow(base, exponent)
        if isinstance(base, sp.Rational) and isinstance(exponent, sp.Integer) \
                and abs(int(exponent)) <= 64 and abs(base.p) < 2**64 and base.q < 2**64:
            return sp.Pow(base, exponent)
        a, b = float(base), float(exponent)
        try:
            return sp.Float(math.pow(a, b))
        except OverflowError:
            odd = b.is_integer() and int(b) % 2 == 1
            return sp.Float(math.copysign(math.inf, a) if odd else math.inf)
        except (ValueError, ZeroDivisionError):  # a negative base, a fractional power; 0**-1
            return sp.Float(math.inf) if a == 0 else sp.nan

    def _call(self, node: libsbml.ASTNode, bound: Mapping[str, Any]) -> Any:
        name = node.getName()
        if name not in self._functions:
            raise ModelError(f"call of undefined function '{name}' in {self._where}")
        params, body = self._functions[name]
        if node.getNumChildren() != len(params):
            raise ModelError(f"function '{name}' takes {len(params)} arguments, got "
                             f"{node.getNumChildren()} in {self._where}")
        args = [self.number(self.translate(node.getChild(i), bound))
                for i in range(node.getNumChildren())]
        return self.translate(body, dict(zip(params, args, strict=True)))


def symbolic_sbml(sbml: str) -> SymbolicSBML:
    """The mathematics of an SBML document (a string) as sympy expressions.

    Raises:
        ModelError: the document cannot be read or uses unsupported features.
    """
    import sympy

    parsed = _parse(sbml)
    time = sympy.Symbol(TIME)

    def expr(node: libsbml.ASTNode, where: str) -> Any:
        translator = _Symbolic(parsed.functions, time, where)
        return translator.number(translator.translate(node))

    state_ids = tuple(parsed.rate_rules)
    return SymbolicSBML(
        time=time, state_ids=state_ids, parameter_defaults=dict(parsed.constants),
        state_defaults=dict(parsed.state_defaults),
        rates=tuple(expr(parsed.rate_rules[s], f"rate rule '{s}'") for s in state_ids),
        rules=tuple((n, expr(parsed.assignment_rules[n], f"assignment rule '{n}'"))
                    for n in parsed.rule_order),
        initial=tuple((n, expr(parsed.initial_math[n], f"initial assignment of '{n}'"))
                      for n in parsed.initial_order))
