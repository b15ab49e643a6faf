"""Checks on a model file before any library parses, compiles or simulates it.

libsbml, libroadrunner and the generated code of the compiled back end trust their input:
100,000 nested ``<apply>`` elements crash libsbml's reader, a function definition that
calls itself crashes libroadrunner's code generator, 39 nested doubling functions inline to
2**39 terms, and ``import "/etc/passwd"`` makes Antimony read (and quote) any file. So:

- :func:`check_model_text` streams the XML through expat (which needs no recursion) and
  refuses an oversized file, MathML nested deeper than ``MSCSIM_MAX_MATH_DEPTH``, more rules
  than ``MSCSIM_MAX_MODEL_RULES`` and references to external model files;
- :func:`check_antimony_imports` allows ``import "FILE"`` only for files inside the model's
  own folder;
- :func:`check_sbml_document` (on a parsed document) refuses recursive function definitions,
  math that inlines to more than ``MSCSIM_MAX_MATH_NODES`` nodes or nests deeper than the
  depth limit once inlined, ``delay()``, and parameter, compartment or species values that
  are not finite.

Every refusal is a :class:`~mscsim.ModelError` naming the file and the element.
"""

from __future__ import annotations

import math
import re
import xml.parsers.expat
from pathlib import Path

import libsbml

from mscsim._errors import ModelError
from mscsim._limits import check_limit, limit, over_limit

#: element depth allowed outside MathML (SBML structure and annotations)
_XML_DEPTH = 1000
_RULES = ("rateRule", "assignmentRule", "algebraicRule")


class _Stop(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def check_model_text(text: str, file: str | Path | None = None, *, sbml: bool = True) -> None:
    """Refuse a model text that is too large, or (SBML) too deep, too many rules or that
    refers to other files, before libsbml reads it.

    Raises:
        ModelError: a limit is exceeded or an external model is referenced.
    """
    size = len(text) if len(text) * 4 <= limit("model_bytes") else len(text.encode("utf-8"))
    message = over_limit(size, "model_bytes", what="the model's size in bytes")
    if message:
        raise ModelError(message, file=file)
    if not sbml:
        return
    math_depth = limit("math_depth")
    rule_limit = limit("model_rules")
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    state = {"depth": 0, "math_at": -1, "rules": 0}

    def local(name: str) -> str:
        return name.rsplit(" ", 1)[-1]

    def start(name: str, attributes: dict[str, str]) -> None:
        state["depth"] += 1
        tag = local(name)
        line = parser.CurrentLineNumber
        if state["math_at"] < 0 and tag == "math":
            state["math_at"] = state["depth"]
        elif state["math_at"] >= 0 and state["depth"] - state["math_at"] > math_depth:
            raise _Stop(f"MathML nested more than {math_depth:,} elements deep, above the "
                        f"limit (set MSCSIM_MAX_MATH_DEPTH to raise the limit)", line)
        if state["depth"] > _XML_DEPTH:
            raise _Stop(f"XML nested more than {_XML_DEPTH} elements deep", line)
        if tag in _RULES:
            state["rules"] += 1
            if state["rules"] > rule_limit:
                raise _Stop(over_limit(state["rules"], "model_rules",
                                       what="the number of rules") or "", line)
        if tag == "externalModelDefinition":
            raise _Stop(f"the model refers to another model file "
                        f"('{attributes.get('source', '')}' via comp:externalModelDefinition); "
                        "mscsim reads one self-contained SBML file", line)

    def end(name: str) -> None:
        if state["math_at"] == state["depth"]:
            state["math_at"] = -1
        state["depth"] -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(text, True)
    except _Stop as stop:
        raise ModelError(str(stop), file=file, line=stop.line) from None
    except (xml.parsers.expat.ExpatError, ValueError):
        pass  # malformed XML: libsbml stops at the same place and says where


_IMPORT = re.compile(r"""^\s*import\s+(["'])(.*?)\1""", re.MULTILINE)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/|#[^\n]*", re.DOTALL)


def check_antimony_imports(text: str, path: Path | None) -> str:
    """``text`` with every ``import "FILE"`` checked to lie inside the model's folder and
    rewritten to its absolute path (so it does not depend on the working directory); files
    it imports are checked the same way.

    Raises:
        ModelError: an import outside the folder, of a missing file, or in model text that
            has no folder (given as a string).
    """
    if not _IMPORT.search(_COMMENT.sub("", text)):
        return text
    if path is None:
        raise ModelError("Antimony text given as a string cannot import files",
                         hint="save the model to a file beside the files it imports")
    folder = path.resolve().parent
    seen: set[Path] = set()

    def resolve(source: str, importer: Path) -> Path:
        target = (importer.parent / source).resolve()
        line = next((i for i, ln in enumerate(importer.read_text(encoding="utf-8",
                                                                 errors="replace")
                                                .splitlines(), 1) if source in ln), None)
        if not target.is_relative_to(folder):
            raise ModelError(f"import of '{source}' is refused: only files inside the "
                             f"model's folder {folder} may be imported", file=importer,
                             line=line)
        if not target.is_file():
            raise ModelError(f"imported file '{source}' not found", file=importer, line=line)
        return target

    def visit(source_text: str, importer: Path) -> None:
        for match in _IMPORT.finditer(_COMMENT.sub("", source_text)):
            target = resolve(match.group(2), importer)
            if target in seen:
                continue
            seen.add(target)
            if len(seen) > 100:
                raise ModelError("more than 100 imported files", file=path)
            visit(target.read_text(encoding="utf-8", errors="replace"), target)

    visit(text, path.resolve())

    def absolute(match: re.Match[str]) -> str:
        target = (path.resolve().parent / match.group(2)).resolve()
        return match.group(0).replace(match.group(2), str(target))

    return _IMPORT.sub(absolute, text)


# ---------------------------------------------------------------- parsed documents
def _children(node: libsbml.ASTNode) -> list[libsbml.ASTNode]:
    return [node.getChild(i) for i in range(node.getNumChildren())]


def _measure(node: libsbml.ASTNode, cost: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(nodes, depth) of ``node`` once the functions in ``cost`` are inlined, iteratively."""
    nodes, depth = 0, 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        nodes += 1
        depth = max(depth, level)
        if current.getType() == libsbml.AST_FUNCTION and current.getName() in cost:
            inner_nodes, inner_depth = cost[current.getName()]
            nodes += inner_nodes
            depth = max(depth, level + inner_depth)
        stack.extend((c, level + 1) for c in _children(current))
    return nodes, depth


def _calls(node: libsbml.ASTNode) -> set[str]:
    found, stack = set(), [node]
    while stack:
        current = stack.pop()
        if current.getType() == libsbml.AST_FUNCTION:
            found.add(current.getName())
        stack.extend(_children(current))
    return found


def _has_delay(node: libsbml.ASTNode) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.getType() == libsbml.AST_FUNCTION_DELAY:
            return True
        stack.extend(_children(current))
    return False


def _function_order(bodies: dict[str, libsbml.ASTNode], file: str | Path | None,
                    lines: dict[str, int]) -> list[str]:
    """Function definitions callees first; a cycle (a function that calls itself, directly
    or through others) is refused, naming it."""
    calls = {name: _calls(body) & bodies.keys() for name, body in bodies.items()}
    order: list[str] = []
    state: dict[str, int] = {}
    for root in bodies:
        if state.get(root):
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(calls[root]))]
        path = [root]
        state[root] = 1
        while stack:
            name, pending = stack[-1]
            if pending:
                callee = pending.pop()
                if state.get(callee) == 1:
                    cycle = path[path.index(callee):] + [callee]
                    raise ModelError("recursive function definition: "
                                     + " -> ".join(cycle), file=file,
                                     line=lines.get(callee) or None,
                                     hint="SBML function definitions may not call "
                                          "themselves, directly or through others")
                if not state.get(callee):
                    state[callee] = 1
                    path.append(callee)
                    stack.append((callee, sorted(calls[callee])))
            else:
                stack.pop()
                path.pop()
                state[name] = 2
                order.append(name)
    return order


def _math_elements(model: libsbml.Model) -> list[tuple[str, libsbml.ASTNode]]:
    found = []
    for rule in model.getListOfRules():
        found.append((f"rule for '{rule.getVariable()}'", rule.getMath()))
    for ia in model.getListOfInitialAssignments():
        found.append((f"initial assignment of '{ia.getSymbol()}'", ia.getMath()))
    for reaction in model.getListOfReactions():
        law = reaction.getKineticLaw()
        if law is not None:
            found.append((f"kinetic law of reaction '{reaction.getId()}'", law.getMath()))
    for event in model.getListOfEvents():
        name = event.getId() or "event"
        if event.getTrigger() is not None:
            found.append((f"trigger of {name}", event.getTrigger().getMath()))
        if event.getDelay() is not None:
            found.append((f"delay of {name}", event.getDelay().getMath()))
        for assignment in event.getListOfEventAssignments():
            found.append((f"assignment of '{assignment.getVariable()}' in {name}",
                          assignment.getMath()))
    for constraint in model.getListOfConstraints():
        found.append(("constraint", constraint.getMath()))
    return [(where, node) for where, node in found if node is not None]


def check_sbml_document(document: libsbml.SBMLDocument, file: str | Path | None = None) -> None:
    """Refuse recursive or exploding function definitions, ``delay()`` and non-finite values
    in a parsed SBML document.

    Raises:
        ModelError: naming the function, rule or parameter.
    """
    model = document.getModel()
    if model is None:
        return
    bodies: dict[str, libsbml.ASTNode] = {}
    lines: dict[str, int] = {}
    for fd in model.getListOfFunctionDefinitions():
        lam = fd.getMath()
        if lam is not None and lam.getNumChildren():
            bodies[fd.getId()] = lam.getChild(lam.getNumChildren() - 1)
            lines[fd.getId()] = fd.getLine()
    cost: dict[str, tuple[int, int]] = {}
    node_limit, depth_limit = limit("math_nodes"), limit("math_depth")
    for name in _function_order(bodies, file, lines):
        nodes, depth = _measure(bodies[name], cost)
        if nodes > node_limit or depth > depth_limit:
            raise ModelError(f"function '{name}' inlines to {nodes:,} MathML nodes nested "
                             f"{depth:,} deep, above the limits of {node_limit:,} nodes and "
                             f"{depth_limit:,} levels", file=file, line=lines[name] or None,
                             hint="set MSCSIM_MAX_MATH_NODES or MSCSIM_MAX_MATH_DEPTH to raise "
                                  "the limits")
        cost[name] = (nodes, depth)
    total = 0
    for where, node in _math_elements(model):
        nodes, depth = _measure(node, cost)
        total += nodes
        if depth > depth_limit:
            raise ModelError(f"the {where} nests {depth:,} levels deep once its functions "
                             f"are inlined, above the limit of {depth_limit:,}", file=file,
                             hint="set MSCSIM_MAX_MATH_DEPTH to raise the limit")
        check_limit(total, "math_nodes", file=file,
                    what="MathML nodes of the model once its function calls are inlined")
        if _has_delay(node):
            raise ModelError(f"the {where} uses delay(), which no back end of mscsim "
                             "integrates", file=file)
    for kind, items, value in (
            ("parameter", model.getListOfParameters(), lambda p: p.getValue()
             if p.isSetValue() else 0.0),
            ("compartment", model.getListOfCompartments(), lambda c: c.getSize()
             if c.isSetSize() else 0.0),
            ("species", model.getListOfSpecies(), lambda s: s.getInitialAmount()
             if s.isSetInitialAmount() else s.getInitialConcentration()
             if s.isSetInitialConcentration() else 0.0)):
        for item in items:
            number = float(value(item))
            if not math.isfinite(number):
                raise ModelError(f"{kind} '{item.getId()}' has the value {number}; values "
                                 "must be finite numbers", file=file, line=item.getLine() or None)
