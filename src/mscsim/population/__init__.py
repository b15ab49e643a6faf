"""Virtual patients: covariates, parameter variability, clinical course, calibration."""

from mscsim.population._course import clinical_course
from mscsim.population._generate import (
    PARAMETER_COLUMNS,
    PLAUSIBLE,
    GenerationOptions,
    Population,
    generate_population,
)
from mscsim.population._report import population_report
from mscsim.population._store import read_population, write_population
from mscsim.population._summary import summarise
from mscsim.population._tables import Calibration

__all__ = ["PARAMETER_COLUMNS", "PLAUSIBLE", "Calibration", "GenerationOptions", "Population",
           "clinical_course", "generate_population", "population_report", "read_population",
           "summarise", "write_population"]
