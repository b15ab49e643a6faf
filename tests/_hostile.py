"""Hostile and broken inputs of issue 14, built in code so each test states what it feeds."""

from __future__ import annotations

from pathlib import Path

SBML_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
             '<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" '
             'version="2">\n<model id="hostile">\n')
MATHML = 'xmlns="http://www.w3.org/1998/Math/MathML"'


def sbml(parameters: str = "", rules: str = "", functions: str = "") -> str:
    """A rule-based SBML document: one state ``x`` (rate rule given in ``rules``)."""
    body = ""
    if functions:
        body += f"<listOfFunctionDefinitions>\n{functions}</listOfFunctionDefinitions>\n"
    body += ('<listOfParameters>\n<parameter id="x" value="1" constant="false"/>\n'
             f"{parameters}</listOfParameters>\n")
    body += f"<listOfRules>\n{rules}</listOfRules>\n"
    return SBML_HEAD + body + "</model>\n</sbml>\n"


def rate_rule(variable: str, math: str) -> str:
    return f'<rateRule variable="{variable}"><math {MATHML}>{math}</math></rateRule>\n'


def function(name: str, args: list[str], body: str) -> str:
    bvars = "".join(f"<bvar><ci>{a}</ci></bvar>" for a in args)
    return (f'<functionDefinition id="{name}"><math {MATHML}><lambda>{bvars}{body}</lambda>'
            "</math></functionDefinition>\n")


def call(name: str, *args: str) -> str:
    return f"<apply><ci>{name}</ci>{''.join(args)}</apply>"


def nested_minus(depth: int) -> str:
    """``-(-(-(... x)))``, ``depth`` applies deep."""
    return "<apply><minus/>" * depth + "<ci>x</ci>" + "</apply>" * depth


def deep_model(depth: int) -> str:
    return sbml(rules=rate_rule("x", nested_minus(depth)))


def self_recursive_model() -> str:
    return sbml(functions=function("f", ["a"], call("f", "<ci>a</ci>")),
                rules=rate_rule("x", call("f", "<ci>x</ci>")))


def mutually_recursive_model() -> str:
    return sbml(functions=function("f", ["a"], call("g", "<ci>a</ci>"))
                + function("g", ["a"], call("f", "<ci>a</ci>")),
                rules=rate_rule("x", call("f", "<ci>x</ci>")))


def doubling_model(levels: int) -> str:
    """``f_k(a) = f_{k-1}(a) + f_{k-1}(a)``: inlined, the rate has 2**levels leaves."""
    fds = function("f0", ["a"], "<ci>a</ci>")
    for k in range(1, levels + 1):
        inner = call(f"f{k - 1}", "<ci>a</ci>")
        fds += function(f"f{k}", ["a"], f"<apply><plus/>{inner}{inner}</apply>")
    return sbml(functions=fds, rules=rate_rule("x", call(f"f{levels}", "<ci>x</ci>")))


def many_rules_model(n: int) -> str:
    params = "".join(f'<parameter id="r{i}" constant="false"/>\n' for i in range(n))
    rules = "".join(f'<assignmentRule variable="r{i}"><math {MATHML}><apply><times/>'
                    f"<cn>{i}</cn><ci>x</ci></apply></math></assignmentRule>\n"
                    for i in range(n))
    return sbml(parameters=params, rules=rules + rate_rule("x", "<apply><minus/><ci>r1</ci>"
                                                                "</apply>"))


def parameter_value_model(value: str) -> str:
    """A parameter ``k`` with the given ``value`` attribute (``INF``, ``NaN``, ...)."""
    return sbml(parameters=f'<parameter id="k" value="{value}" constant="true"/>\n',
                rules=rate_rule("x", "<apply><times/><ci>k</ci><ci>x</ci></apply>"))


def antimony(rate: str, extra: str = "") -> str:
    """An Antimony model with one state ``x`` whose rate is ``rate``."""
    return f"model hostile()\n{extra}  x = 1\n  x' = {rate}\nend\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
