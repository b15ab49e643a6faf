"""The mechanistic model as data: Antimony/SBML source, parameter table, observables."""

from mscsim.model._model import (
    BUILTIN_MODELS,
    Dosing,
    Model,
    ReferencePatient,
    load_model,
    load_model_file,
    sbml_errors,
    sbml_warning_count,
)
from mscsim.model._observables import OBSERVABLE_NAMES, OBSERVABLES, Observable, observable
from mscsim.model._parameters import Parameter, ParameterTable, Variability

__all__ = [
    "BUILTIN_MODELS", "OBSERVABLES", "OBSERVABLE_NAMES", "Dosing", "Model", "Observable",
    "Parameter", "ParameterTable", "ReferencePatient", "Variability", "load_model",
    "load_model_file",
    "observable", "sbml_errors", "sbml_warning_count",
]
