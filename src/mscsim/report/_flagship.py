"""The main job: the reference severe patient with and without MSC."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mscsim._io import atomic_path, write_text_atomic
from mscsim._provenance import MSCSIM_VERSION
from mscsim.engine import EngineLike
from mscsim.model import load_model
from mscsim.report._course import plot_course
from mscsim.simulate import Regimen, SimulationResult, output_times, simulate

if TYPE_CHECKING:
    from mscsim.trial import PowerOptions, TrialSpec

REFERENCE_PATIENT = "reference-severe"


def first_day_below(result: SimulationResult, column: str, threshold: float, *,
                    whole_days: bool = False) -> float | None:
    """First output time (only whole days if ``whole_days``) at which ``column`` is below
    ``threshold``; None if never."""
    table = result.table
    if whole_days:
        table = table[table["time_days"] % 1 == 0]
    below = table[column].to_numpy() < threshold
    return float(table["time_days"].to_numpy()[below][0]) if below.any() else None


def _summary(result: SimulationResult) -> dict[str, float]:
    t = result.table
    return {
        "peak_viral_load_log10": float(t["viral_load_log10"].max()),
        "peak_il6_pg_ml": float(t["il6_pg_ml"].max()),
        "min_pf_ratio_mmhg": float(t["pf_ratio_mmhg"].min()),
        "min_lymphocytes_1e9_l": float(t["lymphocytes_1e9_l"].min()),
        "peak_who_scale": int(t["who_scale"].max()),
        "death_probability": float(-np.expm1(-t["cum_hazard_supported"].iloc[-1])),
    }


def flagship_report(folder: str | Path, *, dose_cells_per_kg: float = 1e6,
                    days: float = 60.0) -> list[Path]:
    """Simulate the reference severe patient untreated, and treated with one IV dose on the
    first day P/F falls below 300; write both courses (CSV), a plot and a JSON summary.

    Returns:
        The paths written.
    """
    folder = Path(folder)
    model = load_model()
    times = output_times(days, points_per_day=4)
    untreated = simulate(model, patient=REFERENCE_PATIENT, times=times)
    dose_day = first_day_below(untreated, "pf_ratio_mmhg", 300.0, whole_days=True)
    if dose_day is None:
        raise RuntimeError("the reference patient never reaches P/F < 300")
    regimen = Regimen.of([(dose_day, dose_cells_per_kg)])
    treated = simulate(model, patient=REFERENCE_PATIENT, times=times, regimen=regimen)
    paths = []
    for name, result in (("untreated", untreated), ("treated", treated)):
        path = folder / f"{name}.csv"
        with atomic_path(path) as tmp:
            result.table.to_csv(tmp, index=False, float_format="%.10g")
        paths.append(path)
    label = f"MSC {dose_cells_per_kg:.0e} cells/kg on day {dose_day:g}"
    paths.append(plot_course({"no MSC": untreated, label: treated}, folder / "flagship.png",
                             title="Reference severe patient: course with and without MSC",
                             dose_days=(dose_day,)))
    summary = {
        "patient": REFERENCE_PATIENT,
        "patient_description": model.patient(REFERENCE_PATIENT).description,
        "dose_cells_per_kg": dose_cells_per_kg,
        "dose_day": dose_day,
        "days": days,
        "untreated": _summary(untreated),
        "treated": _summary(treated),
        "model": model.name,
        "model_sha256": model.hash,
        "mscsim_version": MSCSIM_VERSION,
    }
    summary_path = folder / "summary.json"
    write_text_atomic(summary_path, json.dumps(summary, indent=2))
    paths.append(summary_path)
    return paths


def flagship_trial(spec: TrialSpec | str | Path, folder: str | Path, *,
                   power_options: PowerOptions | None = None, engine: EngineLike = "process",
                   workers: int | None = None,
                   progress: Callable[[str, int, int], None] | None = None) -> list[Path]:
    """Run the flagship virtual trial once, replicate it as ``power_options`` say (default:
    2000 replicates; power, type I error, effect distribution; for a pilot design also how
    often its published pattern arises with and without an MSC effect) and write its HTML
    report. ``spec``: a spec, a spec file or a shipped design's name. ``progress`` is
    called with ``(stage, done, total)``, stages named ``run: ...`` and ``power: ...``.

    Returns:
        The paths written.
    """
    from mscsim.trial import (
        PowerOptions,
        TrialSpec,
        load_spec,
        power_analysis,
        run_trial,
        trial_report,
        write_power,
        write_trial,
    )

    if not isinstance(spec, TrialSpec):
        spec = load_spec(spec)
    folder = Path(folder)
    def named(prefix: str) -> Callable[[str, int, int], None] | None:
        if progress is None:
            return None
        return lambda stage, done, total: progress(f"{prefix}: {stage}", done, total)

    result = run_trial(spec, engine=engine, workers=workers, progress=named("run"))
    write_trial(result, folder, overwrite=True)
    power = power_analysis(spec, power_options or PowerOptions(replicates=2000),
                           engine=engine, workers=workers, progress=named("power"))
    write_power(power, folder)
    return [folder, trial_report(folder)]
