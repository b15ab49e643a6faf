"""HTML report of a bridge folder: replicas, calibration diagnostics (likelihood profiles,
observed versus fitted arm mortality), predicted versus observed risk ratios of the later
studies, sensitivity. Every figure is drawn from one table (:func:`profile_table` of
calibration.json, ``BridgeResult.fit``, :func:`forest_table` of
:func:`mscsim.bridge.predict_result`, ``BridgeResult.sensitivity``), linked under it: the
folder's fit.csv and sensitivity.csv, the others written as ``figures/NAME.csv`` beside the
report."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator  # noqa: E402

from mscsim._html import (  # noqa: E402
    TABLE_CSS,
    FigureData,
    column_label,
    figure_html,
    format_number,
    html_table,
    png_base64,
)
from mscsim._io import write_text_atomic  # noqa: E402
from mscsim.bridge._calibrate import GRID_PARAMETERS, reproduction_text  # noqa: E402
from mscsim.bridge._predict import (  # noqa: E402
    Prediction,
    calibration_effects,
    predict_result,
)
from mscsim.bridge._run import BridgeResult, read_bridge  # noqa: E402
from mscsim.bridge._sensitivity import (  # noqa: E402
    precision_text,
    recommendation_text,
    resolved_leaders,
)

#: column names of the published-versus-simulated table, for a reader
RESULT_LABELS = {"published_msc": "published deaths, MSC",
                 "published_control": "published deaths, control",
                 "simulated_msc": "simulated mortality, MSC",
                 "simulated_control": "simulated mortality, control"}


def forest_table(pred: Prediction) -> pd.DataFrame:
    """What the forest plot draws, a row per predicted study and the pooled row last (when
    pooled): ``label``, observed and predicted risk ratio (median, 95% interval),
    ``covered``, ``pooled``."""
    rows = [{"label": f"{r['study_id']} ({r['ai']}/{r['n1']} vs {r['ci']}/{r['n2']})",
             "observed_rr": r["observed_rr"], "pred_rr_median": r["pred_rr_median"],
             "pred_lo": r["pred_lo"], "pred_hi": r["pred_hi"], "covered": bool(r["covered"]),
             "pooled": False} for r in pred.studies.to_dict("records")]
    p = pred.pooled
    if "pred_lo" in p:
        rows.append({"label": f"pooled ({p['method']})", "observed_rr": p["observed_rr"],
                     "pred_rr_median": p["pred_rr_median"], "pred_lo": p["pred_lo"],
                     "pred_hi": p["pred_hi"],
                     "covered": bool(p.get("covered")),
                     "pooled": True})
    return pd.DataFrame(rows, columns=["label", "observed_rr", "pred_rr_median", "pred_lo",
                                       "pred_hi", "covered", "pooled"])


def forest_figure(table: pd.DataFrame) -> str:
    """Predicted 95% interval and median of each study's RR, with the observed RR, from
    ``table`` (:func:`forest_table`)."""
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.45 * max(len(table), 1)))
    y = np.arange(len(table))[::-1]
    for yi, r in zip(y, table.to_dict("records"), strict=True):
        colour, lw, mark = ("#4d9221", 4, "D") if r["pooled"] else ("#2166ac", 3, "o")
        ax.plot([r["pred_lo"], r["pred_hi"]], [yi, yi], color=colour, lw=lw, alpha=0.6)
        ax.plot(r["pred_rr_median"], yi, "|", color=colour, ms=14)
        ax.plot(r["observed_rr"], yi, mark,
                color="#222222" if r["covered"] or r["pooled"] else "#b2182b")
    ax.set_yticks(y, table.label.tolist())
    ax.axvline(1, color="#888", lw=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.set_xlabel("risk ratio of death (MSC / control): bar = predicted 95%, dot = observed")
    fig.tight_layout()
    return png_base64(fig)


def profile_table(calibration: dict[str, Any]) -> pd.DataFrame:
    """The profile log-likelihood of each calibrated parameter (calibration.json): a row per
    ``parameter`` and grid ``value``, ``profile_loglik``, ``loglik_minus_max`` (what the
    profile figure draws) and ``identifiable``."""
    parts = []
    for name, p in calibration["profiles"].items():
        ll = np.array(p["profile_loglik"], float)
        parts.append(pd.DataFrame({"parameter": name, "value": np.array(p["values"], float),
                                   "profile_loglik": ll, "loglik_minus_max": ll - ll.max(),
                                   "identifiable": p["identifiable"]}))
    return pd.concat(parts, ignore_index=True)


def profile_figure(table: pd.DataFrame) -> str:
    """Profile log-likelihood of each calibrated parameter with the 95% threshold, from
    ``table`` (:func:`profile_table`)."""
    names = list(dict.fromkeys(table.parameter))
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.4))
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names, strict=True):
        p = table[table.parameter == name]
        ax.plot(p.value, p.loglik_minus_max, "o-", color="#2166ac")
        ax.axhline(-1.92, color="#b2182b", ls="--", lw=0.8)
        ax.set_xlabel(name + (" (log scale)" if name == "msc_ec50" else ""))
        if name == "msc_ec50":
            ax.set_xscale("log")
            # ticks at the grid values only: the log axis's own minor labels (3 x 10^0, 4 x
            # 10^0 ...) ran into each other on a grid of one decade
            ax.xaxis.set_major_locator(FixedLocator(p.value.tolist()))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylabel("profile log-likelihood - max")
        ax.set_title(f"{name}: {p.identifiable.iloc[0]}", fontsize=10)
    fig.tight_layout()
    return png_base64(fig)


def fit_figure(fit: pd.DataFrame) -> str:
    """Observed arm mortality (with the model's 95% binomial range) against fitted."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for arm, colour in (("msc", "#2166ac"), ("control", "#b2182b")):
        g = fit[fit.arm == arm]
        lo = g.expected_deaths_lo / g.n
        hi = g.expected_deaths_hi / g.n
        ax.errorbar(g.fitted, g.observed, yerr=None, fmt="o", color=colour, label=arm)
        ax.vlines(g.fitted, lo, hi, color=colour, alpha=0.3, lw=4)
    ax.plot([0, 1], [0, 1], color="#888", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("model arm mortality at the estimate (band: 95% binomial range)")
    ax.set_ylabel("observed arm mortality")
    ax.legend()
    fig.tight_layout()
    return png_base64(fig)


def sensitivity_figure(sens: pd.DataFrame) -> str:
    """Tornado-style bars of total and first-order Sobol indices."""
    s = sens.sort_values("ST")
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.4 * len(s)))
    y = np.arange(len(s))
    ax.barh(y + 0.2, s.ST, 0.4, xerr=s.ST_conf, color="#2166ac", label="total (ST)")
    ax.barh(y - 0.2, s.S1, 0.4, xerr=s.S1_conf, color="#92c5de", label="first order (S1)")
    ax.set_yticks(y, [f"{f} [{g}]" for f, g in zip(s.factor, s.group, strict=True)])
    ax.axvline(0, color="#888888", lw=0.8, zorder=0)
    ax.axvline(1, color="#888888", lw=0.8, ls=":", zorder=0, label="1, the largest index")
    ax.set_xlabel("Sobol index of the predicted mortality benefit (bars: 95% bootstrap)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return png_base64(fig)


def _sensitivity_section(result: BridgeResult, link: str) -> str:
    """Sobol indices with their precision in words first, then the recommendation, or a
    banner saying the ranking is not resolved (issue #15)."""
    sens = result.sensitivity
    ref = result.calibration.get("sensitivity_reference", {})
    precision = precision_text(sens, result.options.sobol_n, ref.get("patients"))
    advice = html.escape(recommendation_text(sens))
    advice = f"<p>{advice}</p>" if len(resolved_leaders(sens)) else \
        f"<p class='warning'><b>Imprecise indices.</b> {advice}</p>"
    ranked = sens.sort_values("ST", ascending=False)
    rows = [[r.factor, r.group, f"{r.ST:.2f} ± {r.ST_conf:.2f}", f"{r.S1:.2f} ± {r.S1_conf:.2f}",
             r.measure] for r in ranked.itertuples()]
    return (f"<h2>Sensitivity</h2><p>Sobol indices of the predicted mortality benefit in the "
            f"replica of {html.escape(str(ref.get('study_id')))}. "
            f"{html.escape(precision)}</p>" + advice
            + html_table(rows, ["factor", "group", "total index (95%)",
                                "first-order index (95%)", "what would measure it"])
            + figure_html(sensitivity_figure(sens), [link]))


def _percent(p: float) -> str:
    return f"{100 * p:.0f}%" if p == 0 or p >= 0.095 else f"{100 * p:.1f}%"


def _deaths_text(deaths: Any, n: Any) -> str:
    """``deaths/n (share)`` of one arm, or a dash where the study reports no mortality."""
    if not (pd.notna(deaths) and pd.notna(n) and float(n) > 0):
        return "–"
    return f"{int(deaths)}/{int(n)} ({_percent(float(deaths) / float(n))})"


def replica_results(replicas: pd.DataFrame, risks: pd.DataFrame, grid: int) -> pd.DataFrame:
    """Per study with a published mortality or a simulated replica: the published deaths/n
    of each arm (evidence dataset, at the replica's timepoint) beside the replica's simulated
    arm mortality at grid point ``grid`` (the model's own arm risks, before any per-study
    control fit); a dash where one is missing. Columns ``study_id, role, timepoint_days,
    published_msc, published_control, simulated_msc, simulated_control,
    simulated_patients``."""
    at = risks[risks.grid == grid]
    simulated = {str(s): (float(t), float(c)) for s, t, c in
                 zip(at.study_id, at.p_treated, at.p_control, strict=True)}
    rows = []
    for r in replicas.to_dict("records"):
        model = simulated.get(str(r["study_id"]))
        if pd.isna(r["n1"]) and model is None:
            continue
        rows.append({
            "study_id": r["study_id"], "role": r["role"], "timepoint_days": r["timepoint_days"],
            "published_msc": _deaths_text(r["ai"], r["n1"]),
            "published_control": _deaths_text(r["ci"], r["n2"]),
            "simulated_msc": _percent(model[0]) if model else "–",
            "simulated_control": _percent(model[1]) if model else "–",
            "simulated_patients": r["simulated_patients"]})
    return pd.DataFrame(rows)


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[list[Any]]:
    return [[format_number(v) for v in r] for r in frame[columns].itertuples(index=False)]


def bridge_report(folder: str | Path, path: str | Path | None = None, *,
                  result: BridgeResult | None = None, draws: int = 2000) -> Path:
    """Write a self-contained HTML report of a bridge folder (default ``DIR/report.html``).

    Raises:
        InputError: not a bridge folder.
    """
    folder = Path(folder)
    from_folder = result is None
    result = result or read_bridge(folder)
    out = Path(path) if path is not None else folder / "report.html"
    data = FigureData(out)

    def link(name: str, table: pd.DataFrame) -> str:
        """The folder's own file of ``table`` where the result was read from it, else a
        copy in figures/."""
        if from_folder and (folder / f"{name}.csv").is_file():
            return data.file(folder / f"{name}.csv")
        return data.table(name, table)

    pred = predict_result(result, draws=draws)
    cal = result.calibration
    parts = [f"<p>Cut-off {html.escape(cal['cutoff'])}: {len(cal['calibration_studies'])} "
             f"studies calibrate ({', '.join(cal['calibration_studies'])}), "
             f"{len(cal['prediction_studies'])} are predicted "
             f"({', '.join(cal['prediction_studies']) or 'none'}). Seed "
             f"{result.manifest.get('seed')}, model sha256 "
             f"{str(result.manifest.get('model_sha256'))[:12]}.</p>"]
    honesty = reproduction_text(cal.get("reproduction", {}))
    gof = cal["goodness_of_fit"]
    honesty.append(f"Deviance against the saturated model {gof['deviance']:.1f} on "
                   f"{gof['df']:.0f} df (p = {gof['p_value']:.3g}).")
    for name, p in cal["profiles"].items():
        if p["identifiable"] != "yes":
            edge = "both ends" if p["identifiable"] == "no" else "an end"
            honesty.append(f"{name}: the 95% profile interval ({format_number(p['ci_low'])} - "
                           f"{format_number(p['ci_high'])}) reaches {edge} of its grid "
                           f"({format_number(min(p['values']))} - "
                           f"{format_number(max(p['values']))}); it is "
                           + ("not identifiable from these data." if p["identifiable"] == "no"
                              else "bounded on one side only (estimate "
                              f"{format_number(p['estimate'])})."))
    if not all(c.get("reproduced", True) for c in cal.get("reproduction", {}).values()):
        honesty.append("Because the model does not reproduce the arm mortality, the MSC "
                       "parameters partly absorb the baseline misfit: read the estimate as the "
                       "effect the model needs to approach the treated arms, not as a measured "
                       "potency.")
    if len(pred.studies):
        ctrl = pred.studies
        honesty.append(f"Predicted studies: the observed RR is inside the 95% predictive "
                       f"interval in {int(ctrl.covered.sum())} of {len(ctrl)} "
                       f"(coverage {pred.coverage:.2f}); the control-arm mortality in "
                       f"{int(ctrl.control_covered.sum())} of {len(ctrl)}"
                       + (" (conditioned on the observed control arms: relative likelihood)."
                          if cal.get("likelihood") == "relative" else "."))
    parts.append("<h2>Can the model reproduce the evidence?</h2><ul>"
                 + "".join(f"<li>{html.escape(t)}</li>" for t in honesty) + "</ul>")
    rep = result.replicas.copy()
    if {"dose_cells_per_kg", "dose_cells"} <= set(rep.columns):
        # one dose column: per kilogram where the study dosed by weight, else cells
        per_kg, cells = rep.dose_cells_per_kg.astype(float), rep.dose_cells.astype(float)
        rep["dose"] = [f"{format_number(k)} /kg" if k == k else
                       f"{format_number(c)} cells" if c == c else "–"
                       for k, c in zip(per_kg, cells, strict=True)]
    # role "none" with its reason says what "replicable" would; the dose is one column
    cols = ["study_id", "pub_date", "role", "reason", "n1", "n2", "timepoint_days", "dose",
            "doses", "interval_days", "ards", "ventilated", "eligible_pool",
            "simulated_patients", "assumptions"]
    shown = [c for c in cols if c in rep]
    parts.append("<h2>Replicas</h2>" + html_table(_rows(rep, shown),
                                                  [column_label(c) for c in shown]))
    # the published result beside the replica's (issue #15)
    results = replica_results(rep, result.risks, int(cal["mle_grid"]))
    rc = list(results.columns)
    parts.append("<h3>Published versus simulated mortality</h3><p>Published: deaths/n of "
                 "each arm in the evidence dataset at the replica's timepoint. Simulated: "
                 "the replica's arm mortality at the calibrated estimate ("
                 + ", ".join(f"{k} = {format_number(v)}" for k, v in cal["mle"].items())
                 + ") over its virtual patients, the model's own arm risks, for calibration "
                 "and predicted studies alike.</p>"
                 + html_table(_rows(results, rc), [RESULT_LABELS.get(c, column_label(c))
                                                   for c in rc]))
    mle = cal["mle"]
    prof_rows = [[k, format_number(p["estimate"]),
                  f"{format_number(p['ci_low'])} - {format_number(p['ci_high'])}",
                  p["identifiable"],
                  f"{format_number(min(p['values']))} - {format_number(max(p['values']))}"]
                 for k, p in cal["profiles"].items()]
    parts.append("<h2>Calibration</h2><p>Binomial likelihood of arm-level deaths "
                 f"({html.escape(str(cal.get('likelihood', 'absolute')))} arm risks) on a "
                 f"grid of {', '.join(GRID_PARAMETERS)}; maximum at "
                 + ", ".join(f"{k} = {format_number(v)}" for k, v in mle.items()) + ".</p>"
                 + html_table(prof_rows, ["parameter", "estimate", "95% profile interval",
                                      "identifiable", "grid"])
                 + figure_html(profile_figure(profiles := profile_table(cal)),
                               [data.table("likelihood_profiles", profiles)]))
    fit_cols = ["study_id", "arm", "deaths", "n", "observed", "fitted", "expected_deaths_lo",
                "expected_deaths_hi", "within_95"]
    parts.append("<h3>Observed versus fitted arm mortality (calibration studies)</h3>"
                 + figure_html(fit_figure(result.fit), [link("fit", result.fit)])
                 + html_table(_rows(result.fit, fit_cols), [column_label(c) for c in fit_cols]))
    eff = calibration_effects(result)
    ec = list(eff.columns)
    parts.append("<h3>Relative effect in the calibration studies (blind to baseline "
                 "mortality)</h3>" + html_table(_rows(eff, ec), [column_label(c) for c in ec]))
    parts.append("<h2>Prediction of the later studies</h2>")
    if len(pred.studies):
        pc = ["study_id", "observed_rr", "pred_rr_median", "pred_lo", "pred_hi", "covered",
              "observed_mortality_control", "pred_mortality_control_lo",
              "pred_mortality_control_hi", "observed_mortality_treated",
              "pred_mortality_treated_lo", "pred_mortality_treated_hi"]
        forest = forest_table(pred)
        parts.append(figure_html(forest_figure(forest), [data.table("forest", forest)])
                     + html_table(_rows(pred.studies, pc), [column_label(c) for c in pc]))
        p = pred.pooled
        parts.append(f"<p>Pooled RR ({html.escape(str(p['method']))}): observed "
                     f"{format_number(p.get('observed_rr'))}, predicted "
                     f"{format_number(p.get('pred_rr_median'))} (95% "
                     f"{format_number(p.get('pred_lo'))} - {format_number(p.get('pred_hi'))}).</p>")
    else:
        parts.append("<p>No replicable study is published after the cut-off.</p>")
    if len(result.sensitivity):
        parts.append(_sensitivity_section(result, link("sensitivity", result.sensitivity)))
    style = ("body{font-family:sans-serif;max-width:1250px;margin:2em auto}"
             "img{max-width:100%}" + TABLE_CSS
             + ".warning{border:2px solid #b2182b;background:#fdecea;padding:8px 12px}")
    body = ("<!doctype html><html><head><meta charset='utf-8'><title>mscsim bridge</title>"
            f"<style>{style}</style></head><body><h1>Bridge: model versus published "
            "trials</h1>" + "".join(parts)
            + "<p style='font-size:12px;color:#666'>Virtual patients simulated with the "
              "covid_msc model; not clinical evidence.</p></body></html>")
    write_text_atomic(out, body)
    return out
