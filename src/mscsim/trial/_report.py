"""HTML report of a trial folder (``mscsim trial run`` and/or ``mscsim trial power``
output): design, CONSORT-style flow, Kaplan-Meier curves, WHO scale bars, biomarker
trajectories, endpoint table, power curve. Each figure is drawn from tables computed once
(:func:`survival_table`, :func:`who_long_table`, :func:`incidence_curve_table`,
:func:`power_point_table`, :func:`effect_histogram_table`, :func:`curve_table` and, in
:mod:`._report_biomarkers`, :func:`trajectory_table` and :func:`death_table`); the same
tables are written as ``figures/NAME.csv`` beside the report and linked under the figure."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from mscsim._errors import InputError  # noqa: E402
from mscsim._html import (  # noqa: E402
    TABLE_CSS,
    FigureData,
    figure_html,
    format_number,
    html_table,
    png_base64,
)
from mscsim._io import read_parquet, write_text_atomic  # noqa: E402
from mscsim.trial._power import POOL_RATIO_VALID, pool_warning  # noqa: E402
from mscsim.trial._report_biomarkers import (  # noqa: E402
    UNITS,
    biomarker_figure,
    death_table,
    trajectory_table,
)
from mscsim.trial._report_published import published_section  # noqa: E402
from mscsim.trial._run import (  # noqa: E402
    PATIENTS_FILE,
    SPEC_FILE,
    SUMMARY_FILE,
    TRAJECTORIES_FILE,
)
from mscsim.trial._stats.survival import cumulative_incidence, kaplan_meier  # noqa: E402

POWER_FILE, REPLICATES_FILE = "power.json", "power_replicates.parquet"
COLOURS = ["#b2182b", "#2166ac", "#4d9221", "#762a83"]


#: the WHO clinical progression scale (Marshall 2020 Lancet Infect Dis), for the legend
WHO_WORDS = ("uninfected", "asymptomatic, RNA detected", "symptomatic, independent",
             "symptomatic, assistance needed", "hospitalised, no oxygen",
             "oxygen by mask or prongs", "high-flow oxygen or NIV", "ventilated, P/F >= 150",
             "ventilated, P/F < 150", "ventilated + organ support", "dead")
#: effect measures shown on a log scale
RATIO_MEASURES = ("risk ratio", "hazard ratio", "common odds ratio", "win ratio")


def survival_table(patients: pd.DataFrame, follow_up: float) -> pd.DataFrame:
    """Kaplan-Meier table of time to death per arm (``arm`` column added)."""
    parts = []
    for arm, group in patients.groupby("arm", sort=False):
        death = group.death_time.to_numpy(float)
        died = np.isfinite(death)
        km = kaplan_meier(np.where(died, death, follow_up), died.astype(float))
        parts.append(km.table.assign(arm=arm))
    return pd.concat(parts, ignore_index=True)


def first_events(group: pd.DataFrame, follow_up: float) -> tuple[np.ndarray, np.ndarray]:
    """Time and cause of each patient's first event: 1 = sustained improvement, 2 = death
    (a competing event), 0 = neither by the end of follow-up."""
    improve = group.improve_time.to_numpy(float)
    death = group.death_time.to_numpy(float)
    status = np.where(np.isfinite(improve), 1, np.where(np.isfinite(death), 2, 0))
    time = np.where(status == 1, improve, np.where(status == 2, death, follow_up))
    return time, status


def incidence_table(patients: pd.DataFrame, follow_up: float) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of improvement and of death (before improving)
    per arm at days 7, 14 and 28 within follow-up, each with its 95% limits (columns
    ``day D``, ``day D low``, ``day D high``; limits NaN where the incidence is 0)."""
    days = [d for d in (7, 14, 28) if d <= follow_up]
    rows = []
    for arm, group in patients.groupby("arm", sort=False):
        res = cumulative_incidence(*first_events(group, follow_up))
        for cause, label in ((1, "improved"), (2, "died before improving")):
            row: dict[str, Any] = {"arm": arm, "event": label}
            for column, suffix in (("cif", ""), ("ci_low", " low"), ("ci_high", " high")):
                values = res.at(days, cause, column) if cause in res.causes else \
                    np.full(len(days), 0.0 if column == "cif" else np.nan)
                row.update({f"day {d}{suffix}": float(v)
                            for d, v in zip(days, values, strict=True)})
            rows.append(row)
    return pd.DataFrame(rows)


def _share_with_limits(value: float, low: float, high: float) -> str:
    """``12.5% (4.1-32.0%)``; no limits where the incidence is 0."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.1%}"
    return f"{value:.1%} ({100 * low:.1f}-{100 * high:.1f}%)"


def who_table(patients: pd.DataFrame, day: int) -> pd.DataFrame:
    """Share of each arm at each WHO level (0-10) on ``day``: rows arms, columns levels."""
    column = f"who_d{day}"
    counts = pd.crosstab(patients.arm, patients[column].round().astype(int))
    counts = counts.reindex(columns=range(11), fill_value=0)
    return counts.div(counts.sum(axis=1), axis=0)


def who_long_table(patients: pd.DataFrame, days: list[int]) -> pd.DataFrame:
    """:func:`who_table` of each of ``days`` as one long table: ``day``, ``arm``,
    ``who_level`` (0-10) and ``share_of_arm``, what the WHO bars draw."""
    parts = []
    for day in days:
        table = who_table(patients, day)
        table.index.name, table.columns.name = "arm", None
        share = table.reset_index().melt(id_vars="arm", var_name="who_level",
                                         value_name="share_of_arm")
        share = share.sort_values(["arm", "who_level"], kind="stable")
        parts.append(share.assign(day=day)[["day", "arm", "who_level", "share_of_arm"]])
    return pd.concat(parts, ignore_index=True) if parts else \
        pd.DataFrame(columns=["day", "arm", "who_level", "share_of_arm"])


def incidence_curve_table(patients: pd.DataFrame, follow_up: float) -> pd.DataFrame:
    """The Aalen-Johansen curves per arm: ``arm``, ``time_days`` and the cumulative
    incidence of improvement and of death before improving after each event time (a row
    at day 0 first), what the incidence figure draws."""
    parts = []
    for arm, group in patients.groupby("arm", sort=False):
        res = cumulative_incidence(*first_events(group, follow_up))
        times = res.table.time.to_numpy(float)
        curves = {label: res.table[f"cif_{cause}"].to_numpy(float) if cause in res.causes
                  else np.zeros(len(times))
                  for cause, label in ((1, "cif_improved"), (2, "cif_died_before_improving"))}
        parts.append(pd.DataFrame({"arm": arm, "time_days": np.concatenate([[0.0], times]),
                                   **{k: np.concatenate([[0.0], v]) for k, v in
                                      curves.items()}}))
    return pd.concat(parts, ignore_index=True)


def _colour(arms: list[str], arm: str) -> str:
    return COLOURS[arms.index(arm) % len(COLOURS)]


def survival_who_figure(km: pd.DataFrame, who: pd.DataFrame, sizes: dict[str, int],
                        follow_up: float) -> str:
    """Kaplan-Meier curves of ``km`` (:func:`survival_table`) and the WHO bars of ``who``
    (:func:`who_long_table`); ``sizes``: patients per arm, in the order of the arms."""
    arms = list(sizes)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for arm, t in km.groupby("arm", sort=False):
        times = np.concatenate([[0.0], t.time.to_numpy(float), [follow_up]])
        surv = np.concatenate([[1.0], t.survival.to_numpy(float), [t.survival.iloc[-1]]])
        low = np.concatenate([[1.0], t.ci_low.to_numpy(float), [t.ci_low.iloc[-1]]])
        high = np.concatenate([[1.0], t.ci_high.to_numpy(float), [t.ci_high.iloc[-1]]])
        axes[0].step(times, surv, where="post", color=_colour(arms, str(arm)),
                     label=f"{arm} (n={sizes[str(arm)]})")
        axes[0].fill_between(times, low, high, step="post", alpha=0.15,
                             color=_colour(arms, str(arm)))
    axes[0].set(title="Kaplan-Meier survival after randomisation", xlabel="days",
                ylabel="alive", ylim=(0, 1.02), xlim=(0, follow_up))
    axes[0].legend(frameon=False)
    days = list(dict.fromkeys(who.day))
    width = 0.8 / max(1, len(arms))
    cmap = plt.get_cmap("RdYlGn_r")
    for k, day in enumerate(days):
        table = who[who.day == day].pivot(index="arm", columns="who_level",
                                          values="share_of_arm")
        for j, arm in enumerate(arms):
            if arm not in table.index:
                continue
            x = k + (j - (len(arms) - 1) / 2) * width
            bottom = 0.0
            for level in range(11):
                share = float(table.loc[arm, level])
                if share > 0:
                    axes[1].bar(x, share, width * 0.9, bottom=bottom, color=cmap(level / 10),
                                edgecolor="white")
                    if share > 0.06:
                        axes[1].text(x, bottom + share / 2, str(level), ha="center",
                                     va="center", fontsize=7)
                bottom += share
            axes[1].text(x, 1.02, arm, ha="center", fontsize=8)
    axes[1].set_xticks(range(len(days)), [f"day {d}" for d in days])
    axes[1].set(title="WHO clinical progression scale (10 = dead)", ylabel="share of arm",
                ylim=(0, 1.1))
    legend = [Patch(color=cmap(level / 10), label=f"{level} {WHO_WORDS[level]}")
              for level in range(11)]
    axes[1].legend(handles=legend, title="WHO level", fontsize=7, title_fontsize=8,
                   frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return png_base64(fig)


def incidence_figure(curves: pd.DataFrame, sizes: dict[str, int], follow_up: float) -> str:
    """The curves of ``curves`` (:func:`incidence_curve_table`) as steps, a panel per
    event."""
    arms = list(sizes)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    for arm, t in curves.groupby("arm", sort=False):
        for ax, column in zip(axes, ("cif_improved", "cif_died_before_improving"),
                              strict=True):
            ax.step(t.time_days, t[column], where="post", color=_colour(arms, str(arm)),
                    label=f"{arm} (n={sizes[str(arm)]})")
    axes[0].set(title="Sustained improvement (WHO 2 points better or discharged)",
                xlabel="days after randomisation", ylabel="cumulative incidence",
                ylim=(0, 1.02), xlim=(0, follow_up))
    axes[1].set(title="Death before improving (competing event)",
                xlabel="days after randomisation", ylabel="cumulative incidence",
                ylim=(0, 1.02), xlim=(0, follow_up))
    axes[0].legend(frameon=False)
    fig.tight_layout()
    return png_base64(fig)


#: column names of the figures' CSV files, with units where a column has one
_KM_COLUMNS = {"time": "time_days", "n_risk": "at_risk", "n_event": "deaths",
               "n_censor": "censored", "se": "survival_se", "ci_low": "survival_ci_low",
               "ci_high": "survival_ci_high"}
_TRAJECTORY_COLUMNS = {"day": "day_after_randomisation", "n": "patients_alive_measured"}


def _trial_figures(summary: dict[str, Any], patients: pd.DataFrame,
                   trajectories: pd.DataFrame, data: FigureData) -> list[tuple[str, str]]:
    """Each figure of a trial run: its title and HTML (the figure and its data links); the
    tables each is drawn from are written by ``data``."""
    follow_up = float(summary["follow_up_days"])
    sizes = {str(arm): int(v["n"]) for arm, v in summary["arms"].items()}
    km = survival_table(patients, follow_up)
    who = who_long_table(patients, [d for d in (14, 28) if f"who_d{d}" in patients.columns])
    links = [data.table("kaplan_meier", km[["arm", *km.columns.drop("arm")]].rename(
                 columns=_KM_COLUMNS)),
             data.table("who_scale", who)]
    figures = [("Kaplan-Meier survival and WHO clinical progression scale",
                figure_html(survival_who_figure(km, who, sizes, follow_up), links))]
    if "improve_time" in patients.columns:
        curves = incidence_curve_table(patients, follow_up)
        figures.append(("Cumulative incidence of improvement and death (Aalen-Johansen)",
                        figure_html(incidence_figure(curves, sizes, follow_up),
                                    [data.table("cumulative_incidence", curves)])))
    colours = {arm: _colour(list(sizes), arm) for arm in sizes}
    table, deaths = trajectory_table(trajectories), death_table(patients, follow_up)
    links = [data.table("biomarkers", table.rename(columns=_TRAJECTORY_COLUMNS).assign(
                 unit=table.marker.map(UNITS))),
             data.table("biomarker_deaths",
                        deaths.rename(columns={"day": "day_after_randomisation"}))]
    figures.append(("Biomarker trajectories by arm",
                    figure_html(png_base64(biomarker_figure(table, deaths, colours)), links)))
    return figures


def power_point_table(power: dict[str, Any]) -> pd.DataFrame:
    """The points of the power panel: the sample-size search's curve (if any) and the
    design: ``kind`` (search or design), ``patients_randomised``, ``power``."""
    curve = (power.get("sample_size_search") or {}).get("curve", [])
    rows = [{"kind": "search", "patients_randomised": p["n"], "power": p["power"]}
            for p in curve]
    rows.append({"kind": "design", "patients_randomised": power["sample_size"],
                 "power": power["power"]})
    return pd.DataFrame(rows)


def effect_histogram_table(power: dict[str, Any], replicates: pd.DataFrame | None
                           ) -> pd.DataFrame:
    """The histogram of the replicates' estimated effect, with and without the MSC effect:
    ``bin_low``, ``bin_high`` (the measure, log for a ratio), ``replicates_msc_effect``,
    ``replicates_msc_potency_0``; empty without replicates or finite estimates."""
    columns = ["bin_low", "bin_high", "replicates_msc_effect", "replicates_msc_potency_0"]
    if replicates is None:
        return pd.DataFrame(columns=columns)
    ratio = power["measure"] in RATIO_MEASURES

    def clean(v: np.ndarray) -> np.ndarray:
        v = v[np.isfinite(v)]
        return np.log(v[v > 0]) if ratio else v

    e = clean(replicates.estimate.to_numpy(float))
    z = clean(replicates.null_estimate.to_numpy(float))
    if not (e.size and z.size):
        return pd.DataFrame(columns=columns)
    bins = np.linspace(min(e.min(), z.min()), max(e.max(), z.max()) + 1e-9, 40)
    return pd.DataFrame(dict(zip(columns, (bins[:-1], bins[1:], np.histogram(e, bins)[0],
                                           np.histogram(z, bins)[0]), strict=True)))


def power_figure(power: dict[str, Any], points: pd.DataFrame,
                 histogram: pd.DataFrame | None) -> str:
    """The power of ``points`` (:func:`power_point_table`) and, with replicates, the effect
    histogram ``histogram`` (:func:`effect_histogram_table`)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    curve = points[points.kind == "search"]
    design = points[points.kind == "design"]
    if len(curve):
        axes[0].plot(curve.patients_randomised, curve.power, "o-", color="#2166ac")
        axes[0].axhline(power["sample_size_search"]["target_power"], color="black", ls="--",
                        lw=1)
    axes[0].plot(design.patients_randomised, design.power, "s", color="#b2182b",
                 label="design")
    if not len(curve):  # one design: say how to get a curve instead of an empty axis
        axes[0].set_xlim(0, 2 * power["sample_size"])
        axes[0].text(0.5, 0.5, "one sample size only: mscsim trial power SPEC\n"
                     "--sample-sizes N,N,... or --target-power P gives a curve",
                     transform=axes[0].transAxes, ha="center", va="center", fontsize=8,
                     color="#555555")
    axes[0].set(title=f"Power of {power['primary_endpoint']} (alpha {power['alpha']:g})",
                xlabel="patients randomised", ylabel="power", ylim=(0, 1))
    axes[0].legend(frameon=False)
    if histogram is not None:
        ratio = power["measure"] in RATIO_MEASURES
        if len(histogram):
            lows, widths = histogram.bin_low, histogram.bin_high - histogram.bin_low
            axes[1].bar(lows, histogram.replicates_msc_potency_0, widths, align="edge",
                        alpha=0.5, color="#777777", label="MSC potency 0")
            axes[1].bar(lows, histogram.replicates_msc_effect, widths, align="edge",
                        alpha=0.6, color="#b2182b", label="MSC effect")
        axes[1].legend(frameon=False)
        axes[1].set(title="Estimated effect across replicates",
                    xlabel=("log " if ratio else "") + power["measure"], ylabel="replicates")
    else:
        axes[1].axis("off")
    fig.tight_layout()
    return png_base64(fig)


def _power_figures(power: dict[str, Any], replicates: pd.DataFrame | None,
                   data: FigureData) -> list[tuple[str, str]]:
    points = power_point_table(power)
    links = [data.table("power", points)]
    histogram = None
    if replicates is not None:
        histogram = effect_histogram_table(power, replicates)
        links.append(data.table("effect_histogram", histogram))
    return [("Power curve and effect distribution",
             figure_html(power_figure(power, points, histogram), links))]


def _curve_table(power: dict[str, Any]) -> str:
    rows = [[p["n"], f"{format_number(p['power'])} ± {format_number(p['power_mc_se'])}",
             f"{format_number(p['type_i_error'])} ± {format_number(p['type_i_error_mc_se'])}",
             f"{format_number(p['effect_median'])} [{format_number(p['effect_q025'])}, "
             f"{format_number(p['effect_q975'])}]", f"{p['pool_ratio']:.1f}",
             "yes" if p["pool_valid"] else "NO: replicates share patients"]
            for p in power["power_curve"]]
    return html_table(rows, ["patients randomised", "power ± MC SE", "type I error ± MC SE",
                         f"{power['measure']}: median [2.5%, 97.5%]", "pool / N",
                         f"pool valid (>= {POOL_RATIO_VALID:g} N)"])


def curve_table(power: dict[str, Any]) -> pd.DataFrame:
    """The power curve over sample sizes (``power_curve`` of power.json): one row per
    ``patients_randomised`` with the power, the type I error, their Monte Carlo SE, whether
    the pool was large enough, and the estimated effect's median and 2.5% and 97.5%
    quantiles across replicates (empty where undefined)."""
    keys = {"n": "patients_randomised", "power": "power", "power_mc_se": "power_mc_se",
            "type_i_error": "type_i_error", "type_i_error_mc_se": "type_i_error_mc_se",
            "pool_valid": "pool_valid", "effect_median": "effect_median",
            "effect_q025": "effect_q025", "effect_q975": "effect_q975"}
    table = pd.DataFrame([{new: p.get(old) for old, new in keys.items()}
                          for p in power["power_curve"]], columns=list(keys.values()))
    for column in ("effect_median", "effect_q025", "effect_q975"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return table


def curve_figure(power: dict[str, Any], curve: pd.DataFrame) -> str:
    """Power and type I error over sample sizes, and the effect's range, of ``curve``
    (:func:`curve_table`)."""
    n = curve.patients_randomised.to_numpy(float)
    valid = curve.pool_valid.to_numpy(bool)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    for key, colour, label in (("power", "#2166ac", "power"),
                               ("type_i_error", "#777777", "type I error")):
        value = curve[key].to_numpy(float)
        se = curve[f"{key}_mc_se"].to_numpy(float)
        axes[0].errorbar(n, value, yerr=1.96 * se, fmt="-", color=colour, label=label,
                         capsize=3)
        axes[0].plot(n[valid], value[valid], "o", color=colour)
        axes[0].plot(n[~valid], value[~valid], "o", mfc="white", color=colour)
    axes[0].axhline(power["alpha"], color="black", ls=":", lw=1)
    axes[0].set(title=f"Power of {power['primary_endpoint']} (bars: 95% Monte Carlo; hollow: "
                      "pool too small)", xlabel="patients randomised", ylabel="rate",
                ylim=(0, 1))
    axes[0].title.set_fontsize(9)
    axes[0].legend(frameon=False)
    axes[1].plot(n, curve.effect_median, "o-", color="#b2182b")
    axes[1].fill_between(n, curve.effect_q025, curve.effect_q975, color="#b2182b", alpha=0.15)
    if power["measure"] in RATIO_MEASURES:
        axes[1].set_yscale("log")
    axes[1].set(title="Estimated effect across replicates: median and 95% range",
                xlabel="patients randomised", ylabel=power["measure"])
    axes[1].title.set_fontsize(9)
    fig.tight_layout()
    return png_base64(fig)


_ANCHOR_WORDS = {"admission": "admission", "ventilation": "intubation"}


def _cells(value: float) -> str:
    """``1e6`` as ``1 × 10^6`` (readable in a table); small numbers as they are."""
    exponent = int(math.floor(math.log10(abs(value)))) if value else 0
    if abs(exponent) < 3:
        return f"{value:g}"
    return f"{value / 10**exponent:.3g} × 10^{exponent}"


def _ratio(ratio: dict[str, float]) -> str:
    return ":".join(f"{v:g}" for v in ratio.values()) + " (" + ":".join(ratio) + ")"


def _eligibility_text(rule: dict[str, Any]) -> str:
    parts = []
    if rule.get("age_min") is not None or rule.get("age_max") is not None:
        parts.append(f"age {rule.get('age_min', 0):g} to {rule.get('age_max', 120):g} years")
    if rule.get("hypoxaemia") is True:
        parts.append("hypoxaemic at enrolment (SpO2 < 94% or P/F < 300)")
    elif rule.get("hypoxaemia") is False:
        parts.append("not hypoxaemic at enrolment")
    if rule.get("pf_max") is not None:
        parts.append(f"P/F below {rule['pf_max']:g} mmHg")
    if rule.get("pf_min") is not None:
        parts.append(f"P/F at least {rule['pf_min']:g} mmHg")
    if rule.get("ards"):
        parts.append("ARDS grade " + " or ".join(rule["ards"]) + " (Berlin, by P/F)")
    if rule.get("ventilated") is True:
        parts.append("on invasive ventilation")
    elif rule.get("ventilated") is False:
        parts.append("not on invasive ventilation")
    return "; ".join(parts) or "every admitted patient"


def _arm_text(arm: dict[str, Any]) -> str:
    if arm["control"]:
        return "placebo (no cells)"
    dose = (f"{_cells(arm['dose_cells_per_kg'])} cells/kg" if arm["dose_cells_per_kg"]
            is not None else f"{_cells(arm['dose_cells'])} cells")
    first = arm["first_dose_day"]
    if arm["doses"] == 1:
        return f"one infusion of {dose} on day {first:g}"
    days = ", ".join(f"{first + k * arm['interval_days']:g}" for k in range(arm["doses"]))
    return f"{arm['doses']} infusions of {dose} on days {days}"


def _background_text(trial: dict[str, Any]) -> str:
    care = trial.get("background_care", "era")
    if care != "era":
        return "none" if care == "none" else care.replace("+", " and ")
    period = trial.get("enrolment_period")
    when = f" ({period[0]} to {period[1]})" if period else ""
    return f"the standard of care of the enrolment period{when}"


def _design(spec: dict[str, Any]) -> str:
    population = spec["population"]
    if population.get("source") == "generate":
        source = (f"{population['n_infections']:,} simulated infections (seed "
                  f"{population['seed']}, calibration profile {population['calibration']}, "
                  f"{population['backend']} back end)")
    else:
        source = f"stored population {population.get('path')}"
    allocation = spec["allocation"]
    method = (f"permuted blocks of {allocation['block_size']}"
              if allocation["method"] == "blocks" else "simple randomisation")
    low, high = spec["enrolment"]["window_days"]
    anchor = _ANCHOR_WORDS[spec["enrolment"].get("anchor", "admission")]
    rows = [["trial", spec["trial"]["name"]], ["mirrors", spec["trial"].get("mirrors", "")],
            ["patients randomised", str(spec["sample_size"])],
            ["follow-up", f"{spec['follow_up_days']:g} days after randomisation"],
            ["primary endpoint", spec["endpoints"]["primary"]],
            ["allocation", f"{method}, ratio {_ratio(allocation['ratio'])}"],
            ["enrolment", f"randomised {low:g} to {high:g} days after {anchor}"],
            ["eligibility", _eligibility_text(spec["eligibility"])],
            ["background care", _background_text(spec["trial"])],
            ["virtual patients", source], ["trial seed", str(spec["seed"])]]
    rows += [[f"arm {arm['name']}", _arm_text(arm)] for arm in spec["arms"]]
    return html_table(rows, None)


def _consort(summary: dict[str, Any]) -> str:
    flow, excl = summary["flow"], summary.get("exclusions", {})
    boxes = [f"<div class='box'>{html.escape(k)}: <b>{v}</b></div><div class='arrow'>↓</div>"
             for k, v in flow.items() if isinstance(v, int) and k not in (
                 "randomised", "lost to follow-up")]
    excluded = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in excl.items() if v)
    arms = "".join(
        f"<div class='box arm'><b>{html.escape(a)}</b><br>allocated {flow['allocated'][a]}"
        f"<br>died during follow-up {flow['died during follow-up'][a]}<br>lost to follow-up "
        f"0<br>analysed {flow['analysed'][a]}</div>" for a in flow["allocated"])
    return ("<div class='consort'>" + "".join(boxes)
            + (f"<div class='box side'>excluded at screening:<ul>{excluded}</ul></div>"
               if excluded else "")
            + f"<div class='box'>randomised: <b>{flow['randomised']}</b></div>"
            + f"<div class='arrow'>↓</div><div class='arms'>{arms}</div></div>")


def _replicate_rows(power: dict[str, Any]) -> list[list[str]]:
    """The power analysis in words: what was replicated and what it showed."""
    def pct(v: Any) -> str:
        return "–" if v is None else f"{100 * v:.1f}%"
    pool = (f"{power.get('pool_size')} eligible virtual patients, "
            f"{format_number(power.get('pool_ratio'))} times the sample size: "
            + (f"valid (at least {POOL_RATIO_VALID:g} times)" if power.get("pool_valid") else
               f"too small for independent replicates (fewer than {POOL_RATIO_VALID:g} times)"))
    return [
        ["replicated trials", f"{power.get('replicates'):,} of {power.get('sample_size')} "
                              f"patients each ({power.get('method', 'pool')} method)"],
        ["primary endpoint", f"{power.get('primary_endpoint')} ({power.get('measure')})"],
        ["power (alpha " + format_number(power.get("alpha")) + ")",
         f"{pct(power.get('power'))} ± {pct(power.get('power_mc_se'))} (Monte Carlo SE)"],
        ["type I error (MSC potency zero)", f"{pct(power.get('type_i_error'))} ± "
                                            f"{pct(power.get('type_i_error_mc_se'))}"],
        ["estimated effect across replicates",
         f"median {format_number(power.get('effect_median'))}, 95% of replicates between "
         f"{format_number(power.get('effect_q025'))} and "
         f"{format_number(power.get('effect_q975'))}"],
        ["pool", pool]]


#: why an analysis gives no interval by design (not a warning of the analysis)
_NO_INTERVAL = {"rank": "the rank-sum analysis reports the Hodges-Lehmann shift without an "
                        "interval (docs/trial_statistics.md); the p-value is the test's"}


def _for_reader(note: str) -> str:
    """An analysis warning in a reader's words: the API's "(NaN)" says what the returned
    value is, which a report reader does not need."""
    return re.sub(r"\bNaN\b", "undefined", re.sub(r"\s*\(NaN\)", "", note))


def _endpoint_row(label: str, r: dict[str, Any]) -> list[str]:
    undefined = r["estimate"] is None or r["ci_low"] is None
    note = _for_reader("; ".join(r.get("warnings") or [])) if undefined else ""
    if undefined and not note:
        note = _NO_INTERVAL.get(str(r.get("kind")), "the analysis gave no interval")
    return [label, r["measure"], format_number(r["estimate"]),
            f"{format_number(r['ci_low'])} to {format_number(r['ci_high'])}",
            format_number(r["p_value"]),
            r["favours_msc"] + " null", note]


def _endpoint_table(summary: dict[str, Any]) -> str:
    """Each endpoint's main analysis, and its sensitivity analysis on the row below."""
    rows = []
    for name, r in summary["endpoints"].items():
        rows.append(_endpoint_row(name + (" (primary)" if r.get("primary") else ""), r))
        if r.get("sensitivity"):
            rows.append(_endpoint_row(f"{name}: sensitivity analysis ("
                                      f"{_strategy_words(r['sensitivity'])})",
                                      r["sensitivity"]))
    return html_table(rows, ["endpoint", "measure", "estimate", "95% CI", "p", "favours MSC",
                         "why no estimate or interval"])


#: endpoints that read out what the model's MSC mechanism acts on directly
_MECHANISTIC_PREFIXES = ("il6_", "tnf_", "il10_")


def _multiplicity_note(summary: dict[str, Any], alpha: float) -> str:
    """Words under the endpoints table: only the primary endpoint tests the design's
    hypothesis; the secondary ones are unadjusted, and those below ``alpha`` are named."""
    endpoints = summary["endpoints"]
    secondary = [name for name, r in endpoints.items() if not r.get("primary")]
    if not secondary:
        return ""
    small = [name for name in secondary
             if endpoints[name].get("p_value") is not None and endpoints[name]["p_value"] < alpha]
    primary_p = next((r.get("p_value") for r in endpoints.values() if r.get("primary")), None)
    k = len(secondary)
    text = (f"Only the primary endpoint tests the design's hypothesis. The {k} secondary "
            f"endpoints are shown without adjustment for multiplicity: of {k} tests at "
            f"{alpha:g}, about {k * alpha:.1f} would fall below it by chance alone.")
    if small:
        text += (f" Here {len(small)} do ({', '.join(small)})"
                 + (" while the primary does not" if primary_p is None or primary_p >= alpha
                    else "") + ".")
        if any(name.startswith(_MECHANISTIC_PREFIXES) for name in small):
            text += (" IL-6, TNF-alpha and IL-10 are the cytokines the model's MSC secretome "
                     "acts on directly: a difference in them reads out the mechanism the model "
                     "assumes, not a clinical benefit.")
    return f"<p class='note'>{html.escape(text)}</p>"


_STRATEGY_WORDS = {"composite": "deaths ranked worst", "while_alive": "last value alive",
                   "survivors": "survivors only"}


def _strategy_words(r: dict[str, Any]) -> str:
    strategy = str((r.get("estimand") or {}).get("death_strategy") or "")
    return _STRATEGY_WORDS.get(strategy, strategy)


def _estimand_table(summary: dict[str, Any]) -> str:
    """The estimand of every endpoint in words (ICH E9(R1)); empty for a summary written
    before estimands were recorded."""
    rows, population = [], None
    for name, r in summary["endpoints"].items():
        e = r.get("estimand")
        if not e:
            continue
        population = e["population"]
        events = "; ".join(f"{x['event']}: {x['strategy']}" for x in e["intercurrent_events"])
        sensitivity = r.get("sensitivity")
        rows.append([name, e["variable"], events, e["summary_measure"], r["method"],
                     f"{e['sensitivity']} ({sensitivity['method']})" if sensitivity
                     else "none"])
    if not rows:
        return ""
    return (f"<h2>Estimands (ICH E9(R1))</h2><p>Population of every estimand: "
            f"{html.escape(str(population))}.</p>"
            + html_table(rows, ["endpoint", "variable", "intercurrent events and strategy",
                            "summary measure", "main analysis", "sensitivity analysis"]))


def _percent(v: Any) -> str:
    """A share as a percentage, with two decimals below 1% (0.15%, not 0.1%)."""
    if v is None:
        return "–"
    share = 100 * float(v)
    return f"{share:.2f}%" if 0 < abs(share) < 1 else f"{share:.1f}%"


def _power_summary(power: dict[str, Any]) -> str:
    """What a power analysis found, in a few sentences for a reader."""
    favouring = power.get("power_favouring_msc", power.get("power"))
    text = (f"In {power.get('replicates'):,} simulated trials of this design "
            f"({power.get('sample_size')} patients each; primary endpoint "
            f"{power.get('primary_endpoint')}, {power.get('measure')}), "
            f"{_percent(favouring)} showed a benefit of MSC at the two-sided "
            f"{format_number(power.get('alpha'))} level (Monte Carlo SE "
            f"{_percent(power.get('power_mc_se'))}). With the MSC effect switched off, "
            f"{_percent(power.get('type_i_error'))} did (the type I error). Across replicates "
            f"the estimated effect had a median of {format_number(power.get('effect_median'))}"
            f" (95% of replicates between {format_number(power.get('effect_q025'))} and "
            f"{format_number(power.get('effect_q975'))}; without an MSC effect, "
            f"{format_number(power.get('null_effect_median'))}).")
    pilot = power.get("pilot_pattern") or {}
    if pilot.get("with_msc_effect") or pilot.get("without_msc_effect"):
        with_, without = pilot["with_msc_effect"], pilot["without_msc_effect"]
        text += (f" The pattern the Leng 2020 pilot reported, {pilot.get('definition')}, arose in "
                 f"{_percent(with_)} of replicates with the model's MSC effect and in "
                 f"{_percent(without)} without it")
        survival = pilot.get("survival_only") or {}
        if survival.get("with_msc_effect") is not None:
            text += (f"; its survival part alone in {_percent(survival['with_msc_effect'])} "
                     f"and {_percent(survival['without_msc_effect'])}")
        text += "."
    if not power.get("pool_valid", True):
        text += (" The eligible pool was too small for independent replicates (see the "
                 "warning below): these figures are optimistic about precision.")
    return text


def _run_summary(summary: dict[str, Any], alpha: float) -> str:
    """What one simulated trial found, in a few sentences for a reader."""
    primary = next((n for n, r in summary["endpoints"].items() if r.get("primary")), None)
    arms = summary["arms"]
    sizes = ", ".join(f"{v['n']} {a}" for a, v in arms.items())
    text = f"One simulated trial of {sum(v['n'] for v in arms.values())} patients ({sizes})."
    deaths = []
    for arm, v in arms.items():
        if v.get("deaths"):
            day, count = list(v["deaths"].items())[-1]
            deaths.append(f"{count} of {v['n']} {arm} patients ({_percent(count / v['n'])})")
    if deaths:
        text += f" Deaths by day {day}: " + ", ".join(deaths) + "."
    if primary is not None:
        r = summary["endpoints"][primary]
        shown = r["p_value"] is not None and r["p_value"] < alpha
        interval = ("" if r["ci_low"] is None else
                    f" (95% CI {format_number(r['ci_low'])} to {format_number(r['ci_high'])})")
        text += (f" Primary endpoint {primary}: {r['measure']} "
                 f"{format_number(r['estimate'])}{interval}, p = {format_number(r['p_value'])}"
                 f": {f'a difference at the {alpha:g} level' if shown else 'no difference shown'}"
                 ".")
    return text + (" One trial is one draw: a power analysis says how often the design shows "
                   "an effect.")


def trial_report(folder: str | Path, path: str | Path | None = None) -> Path:
    """Write a self-contained HTML report of a trial folder.

    Raises:
        InputError: the folder holds neither a trial run nor a power analysis.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("trial folder not found", file=folder)
    has_run = (folder / SUMMARY_FILE).is_file()
    has_power = (folder / POWER_FILE).is_file()
    if not (has_run or has_power):
        raise InputError(f"not a trial folder: neither {SUMMARY_FILE} nor {POWER_FILE}",
                         file=folder)
    out = Path(path) if path is not None else folder / "report.html"
    data = FigureData(out)
    parts = []
    title = folder.name
    power = json.loads((folder / POWER_FILE).read_text(encoding="utf-8")) if has_power \
        else None
    summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8")) if has_run \
        else None
    warning = pool_warning(power) if power is not None else None
    if warning:
        parts.append(f"<p class='warning'><b>Pool too small for valid replicates:</b> "
                     f"{html.escape(warning)}.</p>")
    try:
        spec = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
        title = spec["trial"]["name"]
        mirrors = spec["trial"].get("mirrors", "")
        parts.append(f"<p>{html.escape(spec['trial'].get('title', ''))}<br><i>Mirrors: "
                     f"{html.escape(mirrors)}</i></p>")
        parts.append("<h2>Design</h2>" + _design(spec))
        alpha = float((spec.get("analysis") or {}).get("alpha", 0.05))
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"cannot read the trial spec: {err}", file=folder / SPEC_FILE) \
            from None
    patients = read_parquet(folder / PATIENTS_FILE) if summary is not None else None
    parts.append(published_section(spec, patients))
    in_short = [_power_summary(power)] if power is not None else []
    if summary is not None:
        in_short.append(_run_summary(summary, alpha))
    parts.insert(0, "<div class='summary'><h2>In short</h2>" + "".join(
        f"<p>{html.escape(t)}</p>" for t in in_short) + "</div>")
    if summary is not None and patients is not None:
        trajectories = read_parquet(folder / TRAJECTORIES_FILE)
        parts.append("<h2>Flow of patients (CONSORT-style)</h2>" + _consort(summary))
        deaths = [[a, v["n"], ", ".join(f"day {d}: {c}" for d, c in v["deaths"].items())]
                  for a, v in summary["arms"].items()]
        parts.append("<h2>Arms</h2>" + html_table(deaths, ["arm", "n", "deaths by"]))
        parts.append("<h2>Endpoints</h2>" + _endpoint_table(summary)
                     + _multiplicity_note(summary, alpha))
        parts.append(_estimand_table(summary))
        if "improve_time" in patients.columns:
            cif = incidence_table(patients, float(summary["follow_up_days"]))
            days = [c for c in cif.columns[2:] if not c.endswith((" low", " high"))]
            rows = [[r["arm"], r["event"], *(_share_with_limits(r[d], r[f"{d} low"],
                                                               r[f"{d} high"]) for d in days)]
                    for r in cif.to_dict("records")]
            parts.append("<h2>Cumulative incidence (Aalen-Johansen)</h2><p>First event: a "
                         "sustained improvement (held 2 days or to the end of follow-up), or "
                         "death before improving, a competing event (not censored).</p>"
                         + html_table(rows, ["arm", "event", *(f"{d} (95% CI)"
                                                               for d in days)]))
        for name, figure in _trial_figures(summary, patients, trajectories, data):
            parts.append(f"<h2>{html.escape(name)}</h2>{figure}")
    if power is not None:
        reps = read_parquet(folder / REPLICATES_FILE) if (
            folder / REPLICATES_FILE).is_file() else None
        rows = _replicate_rows(power)
        pilot = power.get("pilot_pattern", {})
        rows.append(["P(all MSC recover and a control dies), with / without MSC effect",
                     f"{format_number(pilot.get('with_msc_effect'))} / "
                     f"{format_number(pilot.get('without_msc_effect'))}"])
        surv = pilot.get("survival_only") or {}
        if surv:
            rows.append(["P(all MSC alive and a control dies), with / without MSC effect",
                         f"{format_number(surv.get('with_msc_effect'))} / "
                         f"{format_number(surv.get('without_msc_effect'))}"])
        search = power.get("sample_size_search") or {}
        if search:
            rows.append([f"patients for power {search['target_power']:g}",
                         format_number(search.get("required_n")) if search.get("reached")
                         else f"not reached up to {search.get('searched_up_to')}"])
        parts.append("<h2>Replicated trials</h2>" + html_table(rows, None))
        for name, figure in _power_figures(power, reps, data):
            parts.append(f"<h3>{html.escape(name)}</h3>{figure}")
        if power.get("power_curve"):
            curve = curve_table(power)
            parts.append("<h2>Power curve</h2>" + _curve_table(power)
                         + figure_html(curve_figure(power, curve),
                                       [data.table("power_curve", curve)]))
    style = ("body{font-family:sans-serif;max-width:1250px;margin:2em auto}"
             "img{max-width:100%}" + TABLE_CSS +
             ".consort{display:flex;flex-direction:column;align-items:center}"
             ".box{border:1px solid #333;padding:6px 12px;margin:2px;background:#f7f7f7}"
             ".side{font-size:12px;background:#fff8f0}.arrow{font-size:18px}"
             ".arms{display:flex;gap:40px}.arm{min-width:200px}"
             ".warning{border:2px solid #b2182b;background:#fdecea;padding:8px 12px}"
             ".note{font-size:12px;color:#444;overflow-wrap:anywhere}"
             ".summary{border-left:4px solid #2166ac;background:#f0f5fb;padding:4px 14px}")
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>mscsim trial "
            f"{html.escape(title)}</title><style>{style}</style></head><body>"
            f"<h1>Virtual trial: {html.escape(title)}</h1>" + "".join(parts)
            + "<p style='font-size:12px;color:#666'>Virtual patients simulated with the "
              "covid_msc model; not clinical evidence.</p></body></html>")
    write_text_atomic(out, body)
    return out
