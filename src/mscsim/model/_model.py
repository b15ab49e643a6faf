"""The model as data: an Antimony or SBML source, compiled, validated and described.

A :class:`Model` wraps one SBML document plus what mscsim needs beside it: the parameter
table (values, units, sources), how an IV dose enters the model, and named reference
patients. Any rule-based SBML model that defines the observables a task asks for can be used.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import antimony
import libsbml

from mscsim._errors import InputError, ModelError
from mscsim._limits import over_limit
from mscsim.model._guard import check_antimony_imports, check_model_text, check_sbml_document
from mscsim.model._observables import OBSERVABLE_NAMES
from mscsim.model._parameters import ParameterTable
from mscsim.model._sbml_math import CompiledSBML, SBMLVariables, compile_sbml, sbml_variables

BUILTIN_MODELS = ("covid_msc",)
_ANTIMONY_LINE = re.compile(r"line (\d+)")


@dataclass(frozen=True)
class Dosing:
    """Where an intravenous dose enters the model.

    Arguments:
        state: the state that receives the bolus.
        cells_per_state_unit: cells in one unit of that state (1e6 when it counts Mcells).
        body_weight_parameter: the parameter holding body weight in kg (doses are per kg).
    """

    state: str
    cells_per_state_unit: float
    body_weight_parameter: str


@dataclass(frozen=True)
class ReferencePatient:
    """A documented, named parameter set (for example ``reference-severe``)."""

    name: str
    description: str
    source: str
    parameters: Mapping[str, float]


class Model:
    """A compiled, validated model. Create it with :func:`load_model`,
    :meth:`from_antimony` or :meth:`from_sbml`."""

    def __init__(self, *, name: str, sbml: str, parameter_table: ParameterTable | None = None,
                 dosing: Dosing | None = None,
                 patients: Mapping[str, ReferencePatient] | None = None,
                 msc_states: tuple[str, ...] = (), msc_cleared_state: str | None = None,
                 source: str | None = None) -> None:
        self.name = name
        self.sbml = sbml
        self.parameter_table = parameter_table
        self.dosing = dosing
        self.patients = dict(patients or {})
        self.msc_states = msc_states
        self.msc_cleared_state = msc_cleared_state
        self.source = source
        check_model_text(sbml, source)  # before libsbml reads it: deep nesting crashes it
        document = libsbml.readSBMLFromString(sbml)
        check_sbml_document(document, source)
        errors = _consistency_errors(document)
        if errors:
            raise ModelError(f"model '{name}' fails the SBML consistency check: {errors[0]}",
                             file=source)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_antimony(cls, text_or_path: str | Path, *,
                      parameter_table: ParameterTable | None = None, **kwargs: object) -> Model:
        """Compile Antimony (a file path or the text itself) to SBML.

        When ``parameter_table`` is given, its values and units are injected into the model,
        so the table is the single source of parameter values.

        Raises:
            ModelError: the Antimony does not compile (the message names file and line).
        """
        path, text = _read_source(text_or_path)
        check_model_text(text, path, sbml=False)
        text = check_antimony_imports(text, path)
        if parameter_table is not None:
            text = _inject_parameters(text, parameter_table)
        antimony.clearPreviousLoads()
        if antimony.loadAntimonyString(text) < 0:
            message = " ".join(antimony.getLastError().split())
            match = _ANTIMONY_LINE.search(message)
            raise ModelError(f"Antimony does not compile: {message}", file=path,
                             line=int(match.group(1)) if match else None)
        modules = [m for m in antimony.getModuleNames() if m != "__main"]
        module = modules[-1] if modules else antimony.getMainModuleName()
        sbml = antimony.getSBMLString(module)
        kwargs.setdefault("source", None if path is None else str(path))
        return cls(name=module, sbml=sbml, parameter_table=parameter_table, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_sbml(cls, text_or_path: str | Path, **kwargs: object) -> Model:
        """Load an SBML document (a file path or the XML text).

        Raises:
            ModelError: the document cannot be read or fails the consistency check.
        """
        path, text = _read_source(text_or_path)
        check_model_text(text, path)  # before libsbml reads it: deep nesting crashes it
        doc = libsbml.readSBMLFromString(text)
        fatal = [doc.getError(i) for i in range(doc.getNumErrors())
                 if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
        if fatal or doc.getModel() is None:
            err = fatal[0] if fatal else None
            raise ModelError("SBML cannot be read: "
                             + (" ".join(err.getMessage().split()) if err else "no model"),
                             file=path, line=err.getLine() if err else None)
        name = doc.getModel().getId() or "model"
        kwargs.setdefault("source", None if path is None else str(path))
        return cls(name=name, sbml=text, **kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ description
    @functools.cached_property
    def compiled(self) -> CompiledSBML:
        """Python callables for this model's mathematics (used by the scipy back end)."""
        return compile_sbml(self.sbml)

    @functools.cached_property
    def variables(self) -> SBMLVariables:
        """States, rule variables and parameters, whatever back end simulates the model
        (:attr:`compiled` refuses what only roadrunner supports)."""
        return sbml_variables(self.sbml)

    @property
    def state_ids(self) -> tuple[str, ...]:
        return self.variables.state_ids

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Variables of the assignment rules, in dependency order."""
        return self.variables.rule_ids

    @property
    def parameter_defaults(self) -> dict[str, float]:
        """Default value of every constant parameter."""
        return dict(self.variables.parameter_defaults)

    @property
    def observable_names(self) -> tuple[str, ...]:
        """The canonical observables this model defines, in canonical order."""
        defined = set(self.rule_ids) | set(self.state_ids)
        return tuple(o for o in OBSERVABLE_NAMES if o in defined)

    @property
    def default_outputs(self) -> tuple[str, ...]:
        """What a simulation reports unless told otherwise: the canonical observables, or,
        for a model that defines none of them, every state and rule variable."""
        return self.observable_names or (*self.state_ids, *self.rule_ids)

    @functools.cached_property
    def hash(self) -> str:
        """SHA-256 of the SBML text: identifies the exact model a result came from."""
        return hashlib.sha256(self.sbml.encode()).hexdigest()

    @property
    def antimony(self) -> str:
        """The model as Antimony text (converted from the SBML)."""
        antimony.clearPreviousLoads()
        if antimony.loadSBMLString(self.sbml) < 0:
            raise ModelError(f"cannot convert to Antimony: {antimony.getLastError()}")
        modules = [m for m in antimony.getModuleNames() if m != "__main"]
        return antimony.getAntimonyString(modules[-1] if modules else "__main")

    # ------------------------------------------------------------------ parameters
    def resolve_parameters(self, overrides: Mapping[str, float] | None = None, *,
                           where: str = "parameter") -> dict[str, float]:
        """Defaults updated with ``overrides``, each checked.

        Raises:
            InputError: an unknown parameter (with close matches), a non-finite value, or a
                negative value for a parameter whose lower bound is not negative.
        """
        values = self.parameter_defaults
        for name, value in (overrides or {}).items():
            if name not in values:
                close = difflib.get_close_matches(name, list(values), n=3)
                hint = f"did you mean {', '.join(close)}?" if close else \
                    "see 'mscsim model params' for the list"
                raise InputError(f"unknown parameter '{name}'", field=where, hint=hint)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InputError(f"value '{value}' of parameter '{name}' is not a number",
                                 field=where) from None
            if not math.isfinite(number):
                raise InputError(f"value of parameter '{name}' must be finite", field=where)
            row = self.parameter_table.get(name) if self.parameter_table else None
            if row is not None and row.lower >= 0 and number < 0:
                raise InputError(f"parameter '{name}' cannot be negative (got {number:g})",
                                 field=where)
            values[name] = number
        return values

    def required_parameter_table(self) -> ParameterTable:
        """The parameter table, for work that reads parameter values, units or bounds.

        Raises:
            ModelError: the model was loaded without one (an SBML file of the user's).
        """
        if self.parameter_table is None:
            raise ModelError(f"model '{self.name}' has no parameter table",
                             file=self.source,
                             hint="load it from Antimony with a parameters.csv beside it")
        return self.parameter_table

    def patient(self, name: str) -> ReferencePatient:
        """The named reference patient.

        Raises:
            InputError: no patient of that name (the message lists the known ones).
        """
        if name not in self.patients:
            known = ", ".join(sorted(self.patients)) or "none"
            raise InputError(f"unknown patient '{name}' (known: {known})", field="patient")
        return self.patients[name]

    def with_defaults(self, overrides: Mapping[str, float]) -> Model:
        """A copy whose SBML default values include ``overrides`` (for export)."""
        values = self.resolve_parameters(overrides)
        doc = libsbml.readSBMLFromString(self.sbml)
        for name, value in values.items():
            p = doc.getModel().getParameter(name)
            if p is not None and p.getConstant():
                p.setValue(value)
        return Model(name=self.name, sbml=libsbml.writeSBMLToString(doc),
                     parameter_table=self.parameter_table, dosing=self.dosing,
                     patients=self.patients, msc_states=self.msc_states,
                     msc_cleared_state=self.msc_cleared_state, source=self.source)


def sbml_errors(sbml: str) -> list[str]:
    """Messages of every libsbml consistency failure of severity error or fatal."""
    check_model_text(sbml)
    return _consistency_errors(libsbml.readSBMLFromString(sbml))


def _consistency_errors(doc: libsbml.SBMLDocument) -> list[str]:
    doc.checkConsistency()
    return [" ".join(doc.getError(i).getMessage().split())
            for i in range(doc.getNumErrors())
            if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]


def sbml_warning_count(sbml: str) -> int:
    """Number of libsbml consistency warnings (units, modelling practice)."""
    doc = libsbml.readSBMLFromString(sbml)
    doc.checkConsistency()
    return sum(1 for i in range(doc.getNumErrors())
               if doc.getError(i).getSeverity() == libsbml.LIBSBML_SEV_WARNING)


def _read_source(text_or_path: str | Path) -> tuple[Path | None, str]:
    if isinstance(text_or_path, Path) or ("\n" not in text_or_path
                                          and len(text_or_path) < 4096):
        path = Path(text_or_path)
        try:
            too_big = over_limit(path.stat().st_size, "model_bytes",
                                 what="the model's size in bytes")
            if too_big:
                raise ModelError(too_big, file=path)
            return path, path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("file not found", file=path) from None
        except UnicodeDecodeError:
            raise ModelError("file is not UTF-8 text", file=path) from None
    return None, str(text_or_path)


def _inject_parameters(text: str, table: ParameterTable) -> str:
    end = text.rfind("\nend")
    if end < 0:
        raise ModelError("Antimony model has no closing 'end'")
    lines = [f"  {name} = {table[name].value!r}; {name} has {table[name].unit}"
             for name in table]
    return text[:end] + "\n  // parameter values injected from the parameter table\n" \
        + "\n".join(lines) + text[end:]


@functools.lru_cache(maxsize=len(BUILTIN_MODELS))
def load_model(name: str = "covid_msc") -> Model:
    """Load a model shipped with mscsim (``covid_msc``, the flagship).

    Raises:
        InputError: unknown model name.
    """
    if name not in BUILTIN_MODELS:
        raise InputError(f"unknown model '{name}' (built in: {', '.join(BUILTIN_MODELS)})",
                         field="model")
    folder = resources.files("mscsim.model") / "models"
    table = ParameterTable.read_csv(Path(str(folder / f"{name}.parameters.csv")))
    meta = json.loads((folder / f"{name}.meta.json").read_text(encoding="utf-8"))
    patients_raw = json.loads((folder / f"{name}.patients.json").read_text(encoding="utf-8"))
    patients = {key: ReferencePatient(name=key, description=v["description"],
                                      source=v["source"], parameters=v["parameters"])
                for key, v in patients_raw.items()}
    dosing = Dosing(**meta["dosing"])
    return Model.from_antimony(Path(str(folder / f"{name}.ant")), parameter_table=table,
                               dosing=dosing, patients=patients,
                               msc_states=tuple(meta["msc_states"]),
                               msc_cleared_state=meta["msc_cleared_state"])


def load_model_file(path: str | Path) -> Model:
    """Load a user's model from an SBML (``.xml``, ``.sbml``) or Antimony file.

    Its parameter values are those in the file; it can be dosed only if it has the flagship's
    dosing state and body-weight parameter.

    Raises:
        InputError: unknown suffix or missing file. ModelError: the model does not compile.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    flagship_dosing = load_model().dosing
    if suffix in (".xml", ".sbml"):
        model = Model.from_sbml(path)
    elif suffix in (".ant", ".txt", ".antimony"):
        model = Model.from_antimony(path)
    else:
        raise InputError(f"unknown model file type '{suffix}'", file=path,
                         hint="use .xml/.sbml for SBML or .ant/.txt for Antimony")
    if flagship_dosing and flagship_dosing.state in model.state_ids \
            and flagship_dosing.body_weight_parameter in model.parameter_defaults:
        model.dosing = flagship_dosing
    return model
