"""Clinical and biological observables: canonical names used everywhere.

Each observable is an assignment rule of the same name in the model's SBML, so every SBML
tool sees it; this table adds the unit and meaning shown in CLI output, files and reports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Observable:
    """One observable: canonical name, unit and meaning."""

    name: str
    unit: str
    description: str
    integer: bool = False


OBSERVABLES: tuple[Observable, ...] = (
    Observable("viral_load_log10", "log10 copies/mL",
               "viral RNA of replicating virus, log10 copies/mL; 0 below 1 copy/mL"),
    Observable("viral_rna_log10", "log10 copies/mL",
               "PCR-detectable viral RNA (replicating virus and the RNA that outlasts it), "
               "log10 copies/mL; 0 below 1 copy/mL"),
    Observable("il6_pg_ml", "pg/mL", "plasma IL-6"),
    Observable("tnf_pg_ml", "pg/mL", "plasma TNF-alpha"),
    Observable("il10_pg_ml", "pg/mL", "plasma IL-10"),
    Observable("ifn_pg_ml", "pg/mL",
               "type-I interferon (model scale: its antiviral and symptom thresholds, not an "
               "assay's)"),
    Observable("lymphocytes_1e9_l", "1e9/L", "blood lymphocyte count"),
    Observable("cd4_blood_1e6_l", "1e6/L", "blood CD4 T-cell count (cells/uL)"),
    Observable("cd8_blood_1e6_l", "1e6/L", "blood CD8 T-cell count (cells/uL)"),
    Observable("lung_damage_frac", "fraction", "damaged fraction of alveolar epithelium"),
    Observable("pf_ratio_mmhg", "mmHg", "PaO2/FiO2 ratio"),
    Observable("spo2_pct", "%", "SpO2 on room air implied by P/F (Severinghaus equation)"),
    Observable("organ_dysfunction", "dimensionless",
               "organ dysfunction: lagged hypoxaemic and inflammatory stress (0-2)"),
    Observable("death_hazard_per_day", "1/day", "instantaneous death hazard"),
    Observable("cum_hazard", "dimensionless", "cumulative death hazard since infection"),
    Observable("msc_lung_cells", "cells", "viable MSC entrapped in the lung"),
    Observable("msc_total_cells", "cells",
               "MSC present in the body (blood, lung, liver and spleen label)"),
)

OBSERVABLE_NAMES: tuple[str, ...] = tuple(o.name for o in OBSERVABLES)


def observable(name: str) -> Observable:
    """Return the observable called ``name``.

    Raises:
        KeyError: no observable has that name.
    """
    for obs in OBSERVABLES:
        if obs.name == name:
            return obs
    raise KeyError(name)
