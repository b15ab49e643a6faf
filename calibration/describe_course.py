"""Distributions of the clinical course of a population folder, as Markdown tables.

    mscsim population generate --n 100000 --seed 777 --backend compiled -o POP
    python calibration/describe_course.py POP > course.md

Prints what a modelling change is judged on (docs/population.md, "Clinical course"): delays
from infection, onset and admission (quartiles), respiratory support at admission and at its
highest, WHO levels reached, ICU, ventilation and death by age band, biomarkers by severity
group and viral clearance by age band. Reads the folder through ``mscsim.population``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from mscsim.population import read_population

AGE_BANDS = ((0, 40), (40, 50), (50, 60), (60, 70), (70, 80), (80, 120))
SUPPORT_LEVELS = ("none", "oxygen", "hfnc_niv", "imv")


def _quartiles(values: pd.Series) -> str:
    """Median [IQR] with the number of finite values."""
    n = int(np.isfinite(values.to_numpy(dtype=float)).sum())
    return f"{_median_iqr(values)} (n={n:,})" if n else "– (none)"


def _share(mask: pd.Series, among: pd.Series) -> str:
    n = int(among.sum())
    return f"{(mask & among).sum() / n:.1%} ({int((mask & among).sum()):,}/{n:,})" if n else "–"


def _band_label(low: int, high: int) -> str:
    return f"{low}+" if high >= 120 else f"{low}-{high - 1}"


def delays(p: pd.DataFrame) -> str:
    hosp, died = p.hospitalised, p.died
    rows = [
        ("infection to symptom onset (symptomatic)", p.symptom_onset_day),
        ("symptom onset to admission", (p.admission_day - p.symptom_onset_day)[hosp]),
        ("admission to ICU (ICU patients)", (p.icu_day - p.admission_day)[hosp & p.icu]),
        ("admission to invasive ventilation", (p.ventilation_day - p.admission_day)[p.ventilated]),
        ("symptom onset to death (hospitalised)", (p.death_day - p.symptom_onset_day)[hosp & died]),
        ("admission to death", (p.death_day - p.admission_day)[hosp & died]),
        ("admission to discharge (survivors)", (p.discharge_day - p.admission_day)[hosp & ~died]),
        ("symptom onset to viral clearance (symptomatic)",
         (p.viral_clearance_day - p.symptom_onset_day)),
    ]
    lines = ["| delay (days) | median [IQR] |", "|---|---|"]
    lines += [f"| {name} | {_quartiles(values)} |" for name, values in rows]
    return "\n".join(lines)


def support(p: pd.DataFrame) -> str:
    hosp = p[p.hospitalised]
    lines = ["| respiratory support | at admission | highest |", "|---|---|---|"]
    for level in SUPPORT_LEVELS:
        at = (hosp.support_at_admission == level).mean()
        top = (hosp.max_support == level).mean()
        lines.append(f"| {level} | {at:.1%} | {top:.1%} |")
    who = hosp.peak_who.value_counts(normalize=True).sort_index()
    lines += ["", "| highest WHO level (hospitalised; 10 = died) | share |", "|---|---|"]
    lines += [f"| {int(level)} | {share:.1%} |" for level, share in who.items()]
    return "\n".join(lines)


def by_age(p: pd.DataFrame) -> str:
    lines = ["| age | infections | hospitalised | ICU given hosp. | IMV given hosp. | "
             "death given hosp. | IMV mortality | IFR |", "|---|---|---|---|---|---|---|---|"]
    for low, high in AGE_BANDS:
        band = (p.age >= low) & (p.age < high)
        hosp = band & p.hospitalised
        imv = band & p.ventilated
        lines.append(
            f"| {_band_label(low, high)} | {int(band.sum()):,} | {_share(p.hospitalised, band)} | "
            f"{_share(p.icu, hosp)} | {_share(p.ventilated, hosp)} | {_share(p.died, hosp)} | "
            f"{_share(p.died, imv)} | {p.death_probability[band].mean():.3%} |")
    return "\n".join(lines)


def biomarkers(p: pd.DataFrame) -> str:
    symptomatic = p.symptom_onset_day.notna()
    groups = (
        ("symptomatic, never admitted", symptomatic & ~p.hospitalised),
        ("admitted, never in ICU", p.hospitalised & ~p.icu),
        ("ICU without invasive ventilation", p.icu & ~p.ventilated),
        ("invasive ventilation", p.ventilated),
        ("admitted and died", p.hospitalised & p.died),
    )
    lines = ["| group | n | peak IL-6 pg/mL | IL-6 at admission | lymphocyte nadir x1e9/L | "
             "lymphocytes at admission | CD4 nadir /uL | CD8 nadir /uL | lowest P/F mmHg |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, mask in groups:
        g = p[mask]
        cells = [_median_iqr(g.peak_il6_pg_ml), _median_iqr(g.il6_at_admission_pg_ml),
                 _median_iqr(g.min_lymphocytes_1e9_l, 2),
                 _median_iqr(g.lymphocytes_at_admission_1e9_l, 2),
                 _median_iqr(g.cd4_nadir_1e6_l, 0), _median_iqr(g.cd8_nadir_1e6_l, 0),
                 _median_iqr(g.min_pf_ratio_mmhg, 0)]
        lines.append(f"| {name} | {len(g):,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _median_iqr(values: pd.Series, digits: int = 1) -> str:
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return "–"
    q1, q2, q3 = np.percentile(finite, [25, 50, 75])
    return f"{q2:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


def clearance(p: pd.DataFrame) -> str:
    symptomatic = p.symptom_onset_day.notna()
    lines = ["| age | symptomatic | cleared by day 60 | onset to clearance, median [IQR] |",
             "|---|---|---|---|"]
    for low, high in AGE_BANDS:
        band = symptomatic & (p.age >= low) & (p.age < high)
        g = p[band]
        lines.append(f"| {_band_label(low, high)} | {len(g):,} | "
                     f"{g.viral_clearance_day.notna().mean():.1%} | "
                     f"{_median_iqr(g.viral_clearance_day - g.symptom_onset_day)} |")
    return "\n".join(lines)


def describe(folder: Path) -> str:
    population = read_population(folder)
    p = population.patients
    p = p[p.status == "ok"].copy()
    for flag in ("hospitalised", "icu", "ventilated", "died"):
        p[flag] = p[flag].astype(bool)
    seed = population.manifest.get("seed")
    return "\n\n".join([
        f"Population `{folder.name}`: {len(p):,} plausible infections, seed {seed}.",
        "### Delays\n\n" + delays(p),
        "### Respiratory support and WHO level (hospitalised)\n\n" + support(p),
        "### By age\n\n" + by_age(p),
        "### Biomarkers by severity (median [IQR])\n\n" + biomarkers(p),
        "### Viral clearance by age\n\n" + clearance(p),
    ]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="population folder")
    args = parser.parse_args()
    print(describe(args.folder), end="")


if __name__ == "__main__":
    main()
