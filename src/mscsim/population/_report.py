"""HTML report of a population folder: figures drawn from the summary and patient table."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mscsim._io import write_text_atomic  # noqa: E402
from mscsim.population._generate import Population  # noqa: E402
from mscsim.population._summary import AGE_BANDS, summarise  # noqa: E402
from mscsim.population._targets import HOSPITALISED, levin_ifr  # noqa: E402


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _figures(population: Population, summary: dict) -> list[tuple[str, str]]:
    ok = population.ok
    age = ok.age.to_numpy(dtype=float)
    figures = []
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].hist(age, bins=np.arange(0, 101, 5), color="#777777")
    axes[0].set(title="Age of infected patients", xlabel="age (years)", ylabel="patients")
    labels = [b[0] for b in AGE_BANDS]
    centres = [min(b[1] + 5, 90) for b in AGE_BANDS]
    ifr = [summary["ifr_by_age"][b] or np.nan for b in labels]
    axes[1].semilogy(centres, ifr, "o", color="#b2182b", label="simulated")
    grid = np.linspace(0, 95, 100)
    axes[1].semilogy(grid, [levin_ifr(a) for a in grid], color="black", label="Levin 2020")
    axes[1].set(title="Infection fatality by age", xlabel="age (years)")
    axes[1].legend(frameon=False, fontsize=8)
    hosp = ok.hospitalised.to_numpy(dtype=bool)
    rates = [hosp[(age >= lo) & (age < hi)].mean() if ((age >= lo) & (age < hi)).any()
             else np.nan for _, lo, hi in AGE_BANDS]
    axes[2].bar(range(len(labels)), rates, color="#2166ac")
    axes[2].axhline(HOSPITALISED.value, color="black", ls="--", lw=1)
    axes[2].set_xticks(range(len(labels)), labels, rotation=45, fontsize=8)
    axes[2].set(title="Hospitalised per infection", ylabel="fraction")
    fig.tight_layout()
    figures.append(("Who is infected, who is admitted, who dies", _png(fig)))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].hist(ok.symptom_onset_day.dropna(), bins=np.arange(0, 15, 0.5), color="#777777")
    axes[0].set(title="Symptom onset (incubation)", xlabel="days after infection")
    axes[1].hist(ok.peak_viral_load_log10, bins=40, color="#777777")
    axes[1].set(title="Peak viral load", xlabel="log10 copies/mL")
    il6 = ok.peak_il6_pg_ml.to_numpy(dtype=float)
    axes[2].boxplot([il6[~hosp], il6[hosp & ~ok.ventilated.to_numpy(dtype=bool)],
                     il6[ok.ventilated.to_numpy(dtype=bool)]],
                    tick_labels=["not admitted", "admitted", "ventilated"])
    axes[2].set_yscale("log")
    axes[2].set(title="Peak IL-6 by severity", ylabel="pg/mL")
    fig.tight_layout()
    figures.append(("Viral and cytokine kinetics", _png(fig)))
    return figures


def population_report(population: Population, path: str | Path) -> Path:
    """Write a self-contained HTML report (figures embedded) of ``population``."""
    summary = summarise(population)
    parts = [f"<h2>{html.escape(title)}</h2><img src='data:image/png;base64,{data}'>"
             for title, data in _figures(population, summary)]
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>mscsim population</title>"
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}"
        "img{max-width:100%}pre{background:#f4f4f4;padding:1em}</style></head><body>"
        f"<h1>Virtual population: {summary['n']} infections (seed {summary['seed']})</h1>"
        "<p>The cohort represents <b>infections</b>, not confirmed cases: every patient is "
        "infected on day 0.</p>"
        + "".join(parts)
        + f"<h2>Summary</h2><pre>{html.escape(json.dumps(summary, indent=2))}</pre>"
        + "</body></html>")
    path = Path(path)
    write_text_atomic(path, body)
    return path
