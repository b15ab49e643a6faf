"""Virtual patients: covariates, parameter variability, clinical course, calibration."""

from mscsim.population._cache import (
    clear_stored,
    list_stored,
    population_store,
    stored_population,
)
from mscsim.population._calibrate import symptom_threshold_for_share
from mscsim.population._course import clinical_course
from mscsim.population._generate import (
    PARAMETER_COLUMNS,
    PLAUSIBLE,
    GenerationOptions,
    Population,
    generate_population,
)
from mscsim.population._report import population_report
from mscsim.population._store import (
    FolderRun,
    generate_population_folder,
    read_population,
    read_population_manifest,
    write_population,
)
from mscsim.population._summary import COLUMNS as SUMMARY_COLUMNS
from mscsim.population._summary import summarise
from mscsim.population._tables import CALIBRATION_PROFILES, Calibration
from mscsim.population._validation import validate as validate_population
from mscsim.population._validation import write_validation

__all__ = ["CALIBRATION_PROFILES", "SUMMARY_COLUMNS", "clear_stored", "list_stored",
           "FolderRun", "PARAMETER_COLUMNS", "PLAUSIBLE", "Calibration",
           "GenerationOptions", "Population", "clinical_course", "generate_population",
           "generate_population_folder", "population_report", "population_store",
           "read_population", "read_population_manifest", "stored_population", "summarise",
           "symptom_threshold_for_share",
           "validate_population", "write_population", "write_validation"]
