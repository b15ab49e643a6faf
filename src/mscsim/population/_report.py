"""HTML report of a population folder: figures drawn from the tables of
:func:`figure_tables` (computed once from the summary and patient table), each written as
``figures/NAME.csv`` beside the report."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mscsim._html import FigureData, figure_html  # noqa: E402
from mscsim._io import write_text_atomic  # noqa: E402
from mscsim.population._generate import Population  # noqa: E402
from mscsim.population._summary import AGE_BANDS, summarise  # noqa: E402
from mscsim.population._targets import HOSPITALISED, levin_ifr  # noqa: E402


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _histogram(values: np.ndarray, bins: np.ndarray | int, unit: str) -> pd.DataFrame:
    """Counts of the finite ``values`` in ``bins``: ``{unit}_from``, ``{unit}_to``,
    ``patients``."""
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins)
    return pd.DataFrame({f"{unit}_from": edges[:-1], f"{unit}_to": edges[1:],
                         "patients": counts})


def _bars(ax: plt.Axes, table: pd.DataFrame, unit: str) -> None:
    low, high = table[f"{unit}_from"], table[f"{unit}_to"]
    ax.bar(low, table.patients, high - low, align="edge", color="#777777")


def figure_tables(population: Population, summary: dict) -> dict[str, pd.DataFrame]:
    """The tables the report's figures are drawn from (and written beside it), by name."""
    ok = population.ok
    age = ok.age.to_numpy(dtype=float)
    labels = [b[0] for b in AGE_BANDS]
    centres = [min(b[1] + 5, 90) for b in AGE_BANDS]
    grid = np.linspace(0, 95, 100)
    simulated = [summary["ifr_by_age"][b] for b in labels]
    ifr = pd.concat([
        pd.DataFrame({"series": "simulated", "age_band": labels, "age_years": centres,
                      "infection_fatality_ratio": [np.nan if v is None else float(v)
                                                   for v in simulated]}),
        pd.DataFrame({"series": "Levin 2020", "age_band": "", "age_years": grid,
                      "infection_fatality_ratio": [levin_ifr(a) for a in grid]})],
        ignore_index=True)
    hosp = ok.hospitalised.to_numpy(dtype=bool)
    rates = [hosp[(age >= lo) & (age < hi)].mean() if ((age >= lo) & (age < hi)).any()
             else np.nan for _, lo, hi in AGE_BANDS]
    vent = ok.ventilated.to_numpy(dtype=bool)
    il6 = ok.peak_il6_pg_ml.to_numpy(dtype=float)
    groups = {"not admitted": il6[~hosp], "admitted": il6[hosp & ~vent],
              "ventilated": il6[vent]}
    quantiles = (("q2.5", 0.025), ("q25", 0.25), ("median", 0.5), ("q75", 0.75),
                 ("q97.5", 0.975))
    il6_rows = []
    for group, values in groups.items():
        values = values[np.isfinite(values)]
        il6_rows.append({"severity": group, "patients": int(values.size),
                         **{f"peak_il6_pg_ml_{name}": float(np.quantile(values, q))
                            if values.size else np.nan for name, q in quantiles}})
    return {
        "age_histogram": _histogram(age, np.arange(0, 101, 5), "age_years"),
        "ifr_by_age": ifr,
        "hospitalised_by_age": pd.DataFrame({
            "age_band": labels, "hospitalised_per_infection": rates,
            "target_overall": HOSPITALISED.value}),
        "symptom_onset_histogram": _histogram(ok.symptom_onset_day.to_numpy(dtype=float),
                                              np.arange(0, 15, 0.5), "days_after_infection"),
        "peak_viral_load_histogram": _histogram(
            ok.peak_viral_load_log10.to_numpy(dtype=float), 40, "log10_copies_per_ml"),
        "peak_il6_by_severity": pd.DataFrame(il6_rows)}


def admission_figure(tables: dict[str, pd.DataFrame]) -> str:
    """Age histogram, infection fatality by age, hospitalised per infection by age."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    _bars(axes[0], tables["age_histogram"], "age_years")
    axes[0].set(title="Age of infected patients", xlabel="age (years)", ylabel="patients")
    ifr = tables["ifr_by_age"]
    sim, levin = ifr[ifr.series == "simulated"], ifr[ifr.series == "Levin 2020"]
    axes[1].semilogy(sim.age_years, sim.infection_fatality_ratio, "o", color="#b2182b",
                     label="simulated")
    axes[1].semilogy(levin.age_years, levin.infection_fatality_ratio, color="black",
                     label="Levin 2020")
    axes[1].set(title="Infection fatality by age", xlabel="age (years)")
    axes[1].legend(frameon=False, fontsize=8)
    hosp = tables["hospitalised_by_age"]
    axes[2].bar(range(len(hosp)), hosp.hospitalised_per_infection, color="#2166ac")
    axes[2].axhline(float(hosp.target_overall.iloc[0]), color="black", ls="--", lw=1)
    axes[2].set_xticks(range(len(hosp)), hosp.age_band.tolist(), rotation=45, fontsize=8)
    axes[2].set(title="Hospitalised per infection", ylabel="fraction")
    fig.tight_layout()
    return _png(fig)


def kinetics_figure(tables: dict[str, pd.DataFrame]) -> str:
    """Symptom onset and peak viral load histograms, peak IL-6 by severity (box: quartiles,
    whiskers: 2.5% and 97.5%)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    _bars(axes[0], tables["symptom_onset_histogram"], "days_after_infection")
    axes[0].set(title="Symptom onset (incubation)", xlabel="days after infection")
    _bars(axes[1], tables["peak_viral_load_histogram"], "log10_copies_per_ml")
    axes[1].set(title="Peak viral load", xlabel="log10 copies/mL")
    il6 = tables["peak_il6_by_severity"]
    stats = [{"label": r["severity"], "whislo": r["peak_il6_pg_ml_q2.5"],
              "q1": r["peak_il6_pg_ml_q25"], "med": r["peak_il6_pg_ml_median"],
              "q3": r["peak_il6_pg_ml_q75"], "whishi": r["peak_il6_pg_ml_q97.5"]}
             for r in il6.to_dict("records")]
    drawn = [k for k, r in enumerate(stats) if np.isfinite(r["med"])]
    if drawn:
        axes[2].bxp([stats[k] for k in drawn], positions=[k + 1 for k in drawn],
                    showfliers=False)
    axes[2].set_xticks(range(1, len(stats) + 1), [r["label"] for r in stats])
    axes[2].set_yscale("log")
    axes[2].set(title="Peak IL-6 by severity (whiskers 2.5-97.5%)", ylabel="pg/mL")
    fig.tight_layout()
    return _png(fig)


#: the figures of the report: title, the function that draws it and the names of the tables
#: (:func:`figure_tables`) it is drawn from
FIGURES: dict[str, tuple[Callable[[dict[str, pd.DataFrame]], str], tuple[str, ...]]] = {
    "Who is infected, who is admitted, who dies": (
        admission_figure, ("age_histogram", "ifr_by_age", "hospitalised_by_age")),
    "Viral and cytokine kinetics": (
        kinetics_figure, ("symptom_onset_histogram", "peak_viral_load_histogram",
                          "peak_il6_by_severity"))}


def population_report(population: Population, path: str | Path) -> Path:
    """Write a self-contained HTML report (figures embedded) of ``population``; the table of
    each figure is written as ``figures/NAME.csv`` beside it and linked under the figure."""
    summary = summarise(population)
    path = Path(path)
    tables = figure_tables(population, summary)
    data = FigureData(path)
    parts = [f"<h2>{html.escape(title)}</h2>"
             + figure_html(draw(tables), [data.table(n, tables[n]) for n in names])
             for title, (draw, names) in FIGURES.items()]
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>mscsim population</title>"
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}"
        "img{max-width:100%}pre{background:#f4f4f4;padding:1em}"
        ".data{font-size:11px;color:#555;margin:0 0 1em}</style></head><body>"
        f"<h1>Virtual population: {summary['n']} infections (seed {summary['seed']})</h1>"
        "<p>The cohort represents <b>infections</b>, not confirmed cases: every patient is "
        "infected on day 0.</p>"
        + "".join(parts)
        + f"<h2>Summary</h2><pre>{html.escape(json.dumps(summary, indent=2))}</pre>"
        + "</body></html>")
    write_text_atomic(path, body)
    return path
