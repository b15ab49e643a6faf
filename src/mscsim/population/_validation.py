"""Every calibration target and validation check of the model, measured on a population.

One table of rows: the published value with its acceptance band and citation, the simulated
value (with a 95% bootstrap interval over patients), pass or fail, and whether the row was
used for fitting (in which calibration profile). ``mscsim validate`` writes it as
``validation.json`` and ``validation.html``; the calibration script writes the same rows in
its fit report.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd

from mscsim.population._calibrate import deaths_mean_age, ifr_by_age
from mscsim.population._generate import Population
from mscsim.population._targets import (
    ADMISSION_TO_DEATH,
    ADMITTED_LYMPHOCYTES,
    ADMITTED_LYMPHOPENIA,
    ADMITTED_WITHOUT_OXYGEN,
    CARE_HOME_DEATH_SHARE,
    CARE_HOME_IFR,
    CD4_SEVERE_VS_MODERATE,
    CD8_SEVERE_VS_MODERATE,
    CEILING_BANDS,
    DEATHS_MEAN_AGE,
    HOSP_DEATH_BY_AGE,
    HOSPITAL_MORTALITY,
    HOSPITALISED,
    HOSPITALISED_MEAN_AGE,
    ICU_BY_AGE,
    ICU_GIVEN_HOSPITALISED,
    IFR,
    IFR_80_PLUS,
    IFR_85_ALL_INFECTIONS,
    IFR_AGES,
    IFR_BY_AGE,
    IL6_AUC_VENTILATION,
    IL6_MILD,
    IL6_SEVERE,
    IMV_GIVEN_HOSPITALISED,
    IMV_MORTALITY,
    IMV_MORTALITY_70_79,
    IMV_MORTALITY_80_PLUS,
    INCUBATION_MEDIAN,
    LENGTH_OF_STAY,
    ONSET_TO_ADMISSION,
    PEAK_DAY_YOUNG,
    PEAK_TO_ONSET,
    PEAK_VIRAL_LOAD,
    RNA_SHEDDING_HOSPITALISED,
    RNA_SHEDDING_OUTPATIENTS,
    SALJE_AGE_BANDS,
    SYMPTOMATIC,
    VIRAL_CLEARANCE_AGE_GAP,
    VIRAL_CLEARED,
    Target,
)

TARGETS: tuple[Target, ...] = (
    HOSPITALISED, HOSPITALISED_MEAN_AGE, IFR, DEATHS_MEAN_AGE, *IFR_BY_AGE, IFR_80_PLUS,
    *ICU_BY_AGE, ICU_GIVEN_HOSPITALISED, IMV_GIVEN_HOSPITALISED, HOSPITAL_MORTALITY,
    *HOSP_DEATH_BY_AGE, IMV_MORTALITY, IMV_MORTALITY_70_79, IMV_MORTALITY_80_PLUS,
    ONSET_TO_ADMISSION, ADMISSION_TO_DEATH, LENGTH_OF_STAY, ADMITTED_WITHOUT_OXYGEN,
    SYMPTOMATIC, INCUBATION_MEDIAN, PEAK_VIRAL_LOAD, PEAK_DAY_YOUNG, PEAK_TO_ONSET, IL6_MILD,
    IL6_SEVERE, IL6_AUC_VENTILATION, ADMITTED_LYMPHOPENIA, ADMITTED_LYMPHOCYTES,
    CD4_SEVERE_VS_MODERATE, CD8_SEVERE_VS_MODERATE, VIRAL_CLEARED, VIRAL_CLEARANCE_AGE_GAP,
    RNA_SHEDDING_OUTPATIENTS, RNA_SHEDDING_HOSPITALISED)
#: rows measured only in a cohort that includes care-home residents
CARE_HOME_TARGETS: tuple[Target, ...] = (CARE_HOME_IFR, CARE_HOME_DEATH_SHARE,
                                         IFR_85_ALL_INFECTIONS)
_CEILING_ROWS = {t.name for t in ICU_BY_AGE
                 if any(t.name.endswith(f"_{b[0]}_{b[1] - 1}") or
                        t.name.endswith(f"_{b[0]}_plus") for b in CEILING_BANDS)}
#: the rows each calibration profile was fitted to; every other row is a check
FITTED: dict[str, frozenset[str]] = {
    "salje": frozenset({HOSPITALISED.name, HOSPITALISED_MEAN_AGE.name, IFR.name,
                        IFR_80_PLUS.name, DEATHS_MEAN_AGE.name, SYMPTOMATIC.name,
                        *_CEILING_ROWS}),
    "levin": frozenset({*(t.name for t in IFR_BY_AGE), CARE_HOME_IFR.name, SYMPTOMATIC.name,
                        *_CEILING_ROWS}),
}


def _median(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else math.nan


def _share(mask: np.ndarray, among: np.ndarray) -> float:
    return float(mask[among].mean()) if among.any() else math.nan


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``positive`` (Mann-Whitney, ties count
    half)."""
    pos, neg = score[positive], score[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    ranks = pd.Series(np.concatenate([pos, neg])).rank().to_numpy()
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2)
                 / (len(pos) * len(neg)))


def statistics(ok: pd.DataFrame) -> dict[str, float]:
    """The simulated value of every row of :data:`TARGETS` (and, with care-home residents,
    :data:`CARE_HOME_TARGETS`) on the plausible patients ``ok``."""
    col = ok.__getitem__
    hosp = col("hospitalised").to_numpy(dtype=bool)
    died = col("died").to_numpy(dtype=bool)
    p = col("death_probability").to_numpy(dtype=float)
    age = col("age").to_numpy(dtype=float)
    icu = col("icu").to_numpy(dtype=bool)
    imv = col("ventilated").to_numpy(dtype=bool)
    peak_il6 = col("peak_il6_pg_ml").to_numpy(dtype=float)
    onset = col("symptom_onset_day").to_numpy(dtype=float)
    admission = col("admission_day").to_numpy(dtype=float)
    symptomatic = np.isfinite(onset)
    clearance = col("viral_clearance_day").to_numpy(dtype=float)
    shedding = clearance - onset  # onset to viral clearance
    moderate = hosp & ~icu & ~died
    out = {
        HOSPITALISED.name: float(hosp.mean()),
        HOSPITALISED_MEAN_AGE.name: float(age[hosp].mean()) if hosp.any() else math.nan,
        IFR.name: float(p.mean()),
        DEATHS_MEAN_AGE.name: deaths_mean_age(ok, p),
        IFR_80_PLUS.name: float(p[age >= 80].mean()) if (age >= 80).any() else math.nan,
        ICU_GIVEN_HOSPITALISED.name: _share(icu, hosp),
        IMV_GIVEN_HOSPITALISED.name: _share(imv, hosp),
        HOSPITAL_MORTALITY.name: _share(died, hosp),
        IMV_MORTALITY.name: _share(died, imv),
        IMV_MORTALITY_70_79.name: _share(died, imv & (age >= 70) & (age < 80)),
        IMV_MORTALITY_80_PLUS.name: _share(died, imv & (age >= 80)),
        SYMPTOMATIC.name: float(symptomatic.mean()),
        ONSET_TO_ADMISSION.name: _median((admission - onset)[hosp]),
        ADMISSION_TO_DEATH.name: _median((col("death_day").to_numpy(dtype=float)
                                          - admission)[hosp & died]),
        LENGTH_OF_STAY.name: _median((col("discharge_day").to_numpy(dtype=float)
                                      - admission)[hosp & ~died]),
        ADMITTED_WITHOUT_OXYGEN.name: _share(col("support_at_admission").to_numpy() == "none",
                                             hosp),
        INCUBATION_MEDIAN.name: _median(onset),
        # Wolfel's patients were hospitalised, so the peak-load target is checked on them
        PEAK_VIRAL_LOAD.name: _median(col("peak_viral_load_log10").to_numpy(dtype=float)[hosp]),
        PEAK_DAY_YOUNG.name: _median(col("peak_viral_load_day").to_numpy(dtype=float)[
            (age >= 18) & (age < 30)]),
        PEAK_TO_ONSET.name: _median((col("peak_viral_load_day").to_numpy(dtype=float)
                                     - onset)[hosp]),
        IL6_MILD.name: _median(peak_il6[hosp & ~imv]),
        IL6_SEVERE.name: _median(peak_il6[imv]),
        IL6_AUC_VENTILATION.name: auc(peak_il6[hosp], imv[hosp]),
        ADMITTED_LYMPHOPENIA.name: _share(col("lymphopenia_at_admission").to_numpy(dtype=bool),
                                          hosp),
        ADMITTED_LYMPHOCYTES.name: _median(
            col("lymphocytes_at_admission_1e9_l").to_numpy(dtype=float)[hosp]),
        CD4_SEVERE_VS_MODERATE.name: _median(col("cd4_nadir_1e6_l").to_numpy(dtype=float)[imv])
        / _median(col("cd4_nadir_1e6_l").to_numpy(dtype=float)[moderate]),
        CD8_SEVERE_VS_MODERATE.name: _median(col("cd8_nadir_1e6_l").to_numpy(dtype=float)[imv])
        / _median(col("cd8_nadir_1e6_l").to_numpy(dtype=float)[moderate]),
        VIRAL_CLEARED.name: float(np.isfinite(clearance).mean()),
        RNA_SHEDDING_OUTPATIENTS.name: _median(shedding[symptomatic & ~hosp]),
        RNA_SHEDDING_HOSPITALISED.name: _median(shedding[hosp & ~died]),
        VIRAL_CLEARANCE_AGE_GAP.name: _median(shedding[symptomatic & (age >= 65)])
        - _median(shedding[symptomatic & (age < 65)]),
    }
    for target, (low, high) in zip(ICU_BY_AGE, [b for b in SALJE_AGE_BANDS if b[0] >= 40],
                                   strict=True):
        out[target.name] = _share(icu, hosp & (age >= low) & (age < high))
    for target, (low, high) in zip(HOSP_DEATH_BY_AGE,
                                   [b for b in SALJE_AGE_BANDS if b[0] >= 40], strict=True):
        out[target.name] = _share(died, hosp & (age >= low) & (age < high))
    for a, target in zip(IFR_AGES, IFR_BY_AGE, strict=True):
        out[target.name] = ifr_by_age(ok, p)[a]
    residents = col("care_home").to_numpy(dtype=bool)
    if residents.any():
        out[CARE_HOME_IFR.name] = float(p[residents].mean())
        out[CARE_HOME_DEATH_SHARE.name] = float(p[residents].sum() / max(p.sum(), 1e-300))
        out[IFR_85_ALL_INFECTIONS.name] = ifr_by_age(ok, p, as_serosurveys=False)[85]
    return out


def bootstrap(ok: pd.DataFrame, reps: int, rng: np.random.Generator
              ) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of every statistic over ``reps`` resamples of patients."""
    draws: dict[str, list[float]] = {}
    for _ in range(reps):
        sample = ok.iloc[rng.integers(0, len(ok), len(ok))]
        for k, v in statistics(sample).items():
            draws.setdefault(k, []).append(float(v))
    return {k: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5)))
            if np.isfinite(v).any() else (math.nan, math.nan) for k, v in draws.items()}


def validation_rows(ok: pd.DataFrame, profile: str, *, reps: int = 200, seed: int = 0
                    ) -> list[dict[str, object]]:
    """One row per target (see the module docstring)."""
    simulated = statistics(ok)
    intervals = bootstrap(ok, reps, np.random.default_rng(seed)) if reps else {}
    targets = TARGETS + (CARE_HOME_TARGETS if CARE_HOME_IFR.name in simulated else ())
    rows: list[dict[str, object]] = []
    for t in targets:
        value = simulated[t.name]
        low, high = intervals.get(t.name, (math.nan, math.nan))
        rows.append({
            "target": t.name, "published": None if math.isnan(t.value) else t.value,
            "band_low": t.low, "band_high": t.high,
            "simulated": None if math.isnan(value) else value,
            "ci_low": None if math.isnan(low) else low,
            "ci_high": None if math.isnan(high) else high,
            "passed": bool(math.isfinite(value) and t.low <= value <= t.high),
            "role": "fitting target" if t.name in FITTED[profile] else "check",
            "source": t.source})
    return rows


class PassCounts(TypedDict):
    """Rows by role: those inside their band (``passed``) or all of them (``total``)."""

    fitting_targets: int
    checks: int


class ValidationResult(TypedDict):
    """What :func:`validate` returns and ``validation.json`` holds."""

    kind: str
    profile: str
    n: int
    n_plausible: int
    seed: object
    model_sha256: object
    bootstrap_replicates: int
    fitting_targets: list[dict[str, object]]
    checks: list[dict[str, object]]
    passed: PassCounts
    total: PassCounts


def validate(population: Population, profile: str, *, reps: int = 200) -> ValidationResult:
    """The validation table of ``population`` (generated under calibration ``profile``)."""
    ok = population.ok
    rows = validation_rows(ok, profile, reps=reps,
                           seed=int(population.manifest.get("seed", 0)))  # type: ignore[call-overload]
    fitted = [r for r in rows if r["role"] == "fitting target"]
    checks = [r for r in rows if r["role"] == "check"]
    return {
        "kind": "mscsim.validation", "profile": profile,
        "n": int(len(population.patients)), "n_plausible": int(len(ok)),
        "seed": population.manifest.get("seed"), "model_sha256":
            population.manifest.get("model_sha256"), "bootstrap_replicates": reps,
        "fitting_targets": fitted, "checks": checks,
        "passed": {"fitting_targets": sum(bool(r["passed"]) for r in fitted),
                   "checks": sum(bool(r["passed"]) for r in checks)},
        "total": {"fitting_targets": len(fitted), "checks": len(checks)},
    }


def _fmt(x: object) -> str:
    if x is None:
        return "range only"
    value = float(x)  # type: ignore[arg-type]
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"


def markdown_table(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table (docs/validation.md)."""
    lines = ["| row | published | band | simulated [95% CI] | result | source |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['target']} | {_fmt(r['published'])} | {_fmt(r['band_low'])} to "
                     f"{_fmt(r['band_high'])} | {_fmt(r['simulated'])} [{_fmt(r['ci_low'])}, "
                     f"{_fmt(r['ci_high'])}] | {'pass' if r['passed'] else '**FAIL**'} | "
                     f"{r['source']} |")
    return "\n".join(lines)


def html_report(result: ValidationResult) -> str:
    """A self-contained HTML page of the validation table."""
    def table(rows: list[dict[str, object]]) -> str:
        head = ("<tr><th>row</th><th>published</th><th>band</th><th>simulated [95% CI]</th>"
                "<th>result</th><th>source</th></tr>")
        body = "".join(
            f"<tr class=\"{'pass' if r['passed'] else 'fail'}\"><td>{html.escape(str(r['target']))}"
            f"</td><td>{_fmt(r['published'])}</td><td>{_fmt(r['band_low'])} to "
            f"{_fmt(r['band_high'])}</td><td>{_fmt(r['simulated'])} [{_fmt(r['ci_low'])}, "
            f"{_fmt(r['ci_high'])}]</td><td>{'pass' if r['passed'] else 'FAIL'}</td>"
            f"<td class=\"src\">{html.escape(str(r['source']))}</td></tr>" for r in rows)
        return f"<div class=\"wrap\"><table>{head}{body}</table></div>"
    passed, total = result["passed"], result["total"]
    summary = (f"On {result['n']:,} simulated infections (seed {result['seed']}, calibration "
               f"profile <code>{result['profile']}</code>), {passed['fitting_targets']} of "
               f"{total['fitting_targets']} fitting targets and {passed['checks']} of "
               f"{total['checks']} checks not used for fitting fall inside their published "
               "bands. Failed rows are shown in red and are not hidden.")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             ".wrap{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}"
             "tr.fail td{background:#fde0dd}td.src{font-size:11px;color:#444;max-width:420px}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>mscsim validation"
            f"</title><style>{style}</style></head><body><h1>Model validation</h1>"
            f"<p>{summary}</p><h2>Fitting targets</h2>"
            f"{table(result['fitting_targets'])}"
            f"<h2>Checks not used for fitting</h2>{table(result['checks'])}"
            "<p>Each row's band and citation are in the source column; the simulated value's "
            "interval is a percentile bootstrap over patients.</p></body></html>")


def write_validation(folder: Path, result: ValidationResult,
                     writer: Callable[[Path, str], None]) -> None:
    """Write ``validation.json`` and ``validation.html`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    writer(folder / "validation.json", json.dumps(result, indent=2) + "\n")
    writer(folder / "validation.html", html_report(result))
