"""The trial report's biomarker panels: median and interquartile range of each biomarker per
arm and day among the patients alive that day (while alive), with the deaths marked.

A median over the survivors changes when a patient dies: the curve kinks because the patient
left it, not because the biomarker moved. Each panel therefore marks every death on its day
(one tick per death, in the arm's colour, in a strip under the panel) and prints the numbers
alive under the axis, so a reader sees why a curve bends. The figure is drawn from
:func:`trajectory_table` and :func:`death_table`.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

MARKERS = {"il6": "IL-6 (pg/mL)", "tnf": "TNF-alpha (pg/mL)", "il10": "IL-10 (pg/mL)",
           "lymphocytes": "lymphocytes (×10^9/L)", "pf": "P/F (mmHg)"}
#: the unit of each marker's values (the figure's CSV names it beside the values)
UNITS = {marker: label[label.index("(") + 1:-1] for marker, label in MARKERS.items()}
#: share of each panel's height kept below the curves for the death ticks
DEATH_STRIP = 0.16


def trajectory_table(trajectories: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles of each biomarker per arm and day (patients alive that day)."""
    rows = []
    for (arm, day), group in trajectories.groupby(["arm", "day"], sort=True):
        for marker in MARKERS:
            v = group[marker].dropna().to_numpy(float)
            q = np.quantile(v, [0.25, 0.5, 0.75]) if v.size else [np.nan] * 3
            rows.append({"arm": arm, "day": day, "marker": marker, "q25": q[0],
                         "median": q[1], "q75": q[2], "n": int(v.size)})
    return pd.DataFrame(rows)


def death_table(patients: pd.DataFrame, follow_up: float) -> pd.DataFrame:
    """One row per death within follow-up: ``arm`` and ``day`` (days after randomisation),
    sorted by arm and day."""
    died = patients[np.isfinite(patients.death_time.to_numpy(float))
                    & (patients.death_time.to_numpy(float) <= follow_up)]
    table = pd.DataFrame({"arm": died.arm.astype(str).to_numpy(),
                          "day": died.death_time.to_numpy(float)})
    return table.sort_values(["arm", "day"], kind="stable").reset_index(drop=True)


def _mark_deaths(ax: plt.Axes, deaths: pd.DataFrame, arm_names: list[str],
                 colours: dict[str, str]) -> None:
    """One tick per death on its day, a row per arm, in the strip ``ax`` under a panel."""
    for k, arm in enumerate(arm_names):
        days = deaths.day[deaths.arm == arm].to_numpy(float)
        ax.vlines(days, k - 0.35, k + 0.35, color=colours[arm], linewidth=1.4)
    ax.set_ylim(len(arm_names) - 0.5, -0.5)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)


def _numbers_alive(ax: plt.Axes, rows: pd.DataFrame, arm_names: list[str],
                   colours: dict[str, str]) -> None:
    """Patients alive and measured, per arm, under the axis at every 7th day."""
    days = [d for d in sorted(rows.day.unique()) if d % 7 == 0]
    for k, arm in enumerate(arm_names):
        counts = rows[rows.arm.astype(str) == arm].set_index("day")["n"]
        for d in days:
            if d in counts.index:
                ax.annotate(f"{int(counts[d])}", (d, 0), xycoords=("data", "axes fraction"),
                            xytext=(0, -40 - 10 * k), textcoords="offset points",
                            ha="center", fontsize=7, color=colours[arm])


def biomarker_figure(table: pd.DataFrame, deaths: pd.DataFrame,
                     colours: dict[str, str]) -> Figure:
    """Panels of :data:`MARKERS`: per arm the median (line), interquartile range (band) and
    baseline value (dot) from ``table`` (:func:`trajectory_table`), the deaths of ``deaths``
    (:func:`death_table`) as ticks in a strip under each panel, and the numbers alive
    under the strip."""
    arm_names = [a for a in colours if a in set(table.arm.astype(str))]
    fig, grid = plt.subplots(2, len(MARKERS), figsize=(15, 4.3 + 0.4 * len(arm_names)),
                             sharex="col", gridspec_kw={
                                 "height_ratios": [6, 0.35 + 0.25 * len(arm_names)]})
    for ax, strip, (marker, label) in zip(grid[0], grid[1], MARKERS.items(), strict=True):
        rows = table[table.marker == marker]
        for arm, t in rows.groupby("arm", sort=False):
            c = colours[str(arm)]
            ax.plot(t.day, t["median"], color=c, label=f"{arm} median")
            ax.fill_between(t.day, t.q25, t.q75, color=c, alpha=0.15)
            first = t[t.day == t.day.min()]
            ax.plot(first.day, first["median"], "o", color=c, ms=4)  # the value at baseline
        ax.set_title(label)
        _mark_deaths(strip, deaths, arm_names, colours)
        strip.set_xlabel("days after randomisation")
        _numbers_alive(strip, rows, arm_names, colours)
    grid[1][0].set_yticks(range(len(arm_names)), [f"deaths, {a}" for a in arm_names],
                          fontsize=7)
    for k, arm in enumerate(arm_names):
        grid[1][0].get_yticklabels()[k].set_color(colours[arm])
        grid[1][0].annotate(f"alive, {arm}", (0, 0), xycoords="axes fraction",
                            xytext=(-8, -40 - 10 * k), textcoords="offset points",
                            ha="right", fontsize=7, color=colours[arm])
    grid[0][0].legend(frameon=False, fontsize=8, loc="upper right")
    fig.suptitle("Biomarkers by arm among patients alive on each day (while alive): median, "
                 "interquartile range, the baseline value as a dot; each death a tick in the "
                 "strip under the panel, numbers alive below", fontsize=10)
    fig.tight_layout()
    return fig
