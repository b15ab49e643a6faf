"""Plots of simulated clinical courses, drawn from the result tables the API returns."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mscsim._io import atomic_path  # noqa: E402
from mscsim.model import OBSERVABLE_NAMES, observable  # noqa: E402
from mscsim.simulate import TIME_COLUMN, SimulationResult  # noqa: E402

PANELS: tuple[tuple[str, str], ...] = (
    ("viral_load_log10", "Viral load (log10 copies/mL)"),
    ("il6_pg_ml", "IL-6 (pg/mL)"),
    ("tnf_pg_ml", "TNF-alpha (pg/mL)"),
    ("il10_pg_ml", "IL-10 (pg/mL)"),
    ("lymphocytes_1e9_l", "Lymphocytes (1e9/L)"),
    ("pf_ratio_mmhg", "PaO2/FiO2 (mmHg)"),
    ("who_scale", "WHO clinical progression scale"),
    ("support_level", "Respiratory support (0 none ... 3 IMV)"),
    ("cum_hazard", "Probability of death"),
    ("msc_lung_cells", "MSC in lung (cells)"),
)


def _integer(name: str) -> bool:
    """Whether a column holds levels (drawn as steps): the care pathway's, or an integer
    observable."""
    return name in ("who_scale", "support_level") or (
        name in OBSERVABLE_NAMES and observable(name).integer)


def plot_course(results: Mapping[str, SimulationResult], path: str | Path, *,
                title: str = "", dose_days: tuple[float, ...] = ()) -> Path:
    """Draw one panel per observable, one line per labelled result, and save the figure.

    Observables a result lacks are skipped; the death-probability panel shows
    1 - exp(-cumulative hazard).
    """
    panels = [(name, label) for name, label in PANELS
              if any(name in r.table.columns for r in results.values())]
    ncols = 3
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.9 * nrows), sharex=True,
                             squeeze=False)
    colours = ["#4d4d4d", "#1b7837", "#2166ac", "#b2182b", "#762a83"]
    for ax, (name, label) in zip(axes.flat, panels, strict=False):
        for (run_label, result), colour in zip(results.items(), colours, strict=False):
            if name not in result.table.columns:
                continue
            t = result.table[TIME_COLUMN].to_numpy()
            y = result.table[name].to_numpy()
            if name == "cum_hazard":  # the hazard under support decides death where there is one
                y = -np.expm1(-result.table.get("cum_hazard_supported", result.table[name])
                              .to_numpy())
            if name == "msc_lung_cells":
                y = np.where(y >= 1.0, y, np.nan)  # log axis: below one cell is none
            style = {"drawstyle": "steps-post"} if _integer(name) else {}
            ax.plot(t, y, color=colour, lw=1.8, label=run_label, **style)
        for k, day in enumerate(dose_days):
            ax.axvline(day, color="#1b7837", ls=":", lw=1,
                       label="MSC infusion" if k == 0 else None)
        if name == "pf_ratio_mmhg":
            ax.axhline(300, color="grey", ls="--", lw=0.8)
            ax.text(0.5, 305, "P/F 300", fontsize=7, color="grey")
        if name == "msc_lung_cells" and ax.has_data():
            ax.set_yscale("log")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("days after infection")
    axes.flat[0].legend(fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
