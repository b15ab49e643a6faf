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
from mscsim.model._pathway import (
    IMV,
    PATHWAY_INPUTS,
    SUPPORT_LEVELS,
    Fate,
    Pathway,
    PathwayRules,
    care_pathway,
    death_time,
    has_pathway,
    hazard_under_support,
    pathway_and_death,
    supported_hazard,
    symptomatic,
)
from mscsim.model._sbml_math import TIME as SBML_TIME
from mscsim.model._sbml_math import SymbolicSBML, symbolic_sbml
from mscsim.model._standard_of_care import (
    ERAS,
    STANDARDS_OF_CARE,
    standard_of_care_of_period,
    standard_of_care_on,
    therapy_parameters,
)

__all__ = [
    "BUILTIN_MODELS", "ERAS", "IMV", "STANDARDS_OF_CARE", "OBSERVABLES", "OBSERVABLE_NAMES",
    "PATHWAY_INPUTS", "SUPPORT_LEVELS",
    "Dosing", "Fate", "Model", "Observable", "Parameter", "ParameterTable", "Pathway",
    "PathwayRules",
    "ReferencePatient", "Variability", "care_pathway", "death_time", "has_pathway",
    "hazard_under_support",
    "load_model", "pathway_and_death", "supported_hazard", "symptomatic",
    "load_model_file",
    "observable", "sbml_errors", "sbml_warning_count", "standard_of_care_of_period",
    "standard_of_care_on", "therapy_parameters", "SBML_TIME", "SymbolicSBML", "symbolic_sbml",
]
