"""Forest, funnel and cumulative plots (matplotlib), each drawn from a table the API
also returns (:func:`forest_table`, :func:`funnel_table`, :class:`DiagnosticTable`).

Plots are written with :func:`mscsim._io.atomic_path`: a failed drawing never leaves a
half-written file. The format follows the suffix (``.png``, ``.svg``, ``.pdf``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mscsim._errors import InputError
from mscsim._io import atomic_path
from mscsim.evidence._diagnostics import DiagnosticTable, TrimFillResult, funnel_table
from mscsim.evidence._effects import MEASURE_LABELS, RATIO_MEASURES
from mscsim.evidence._meta import MetaResult, SubgroupResult

PLOT_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")

_METHOD_NAMES = {
    "FE": "Fixed effect, inverse variance", "EE": "Equal effects, inverse variance",
    "MH": "Fixed effect, Mantel-Haenszel", "PETO": "Fixed effect, Peto",
}
_INK = "#1a1a1a"
_STUDY = "#2b5c8a"
_SUMMARY = "#b8322a"
_PI = "#e5a29c"


def check_plot_path(path: str | Path) -> Path:
    """The plot path, if its suffix is a supported format (else :class:`InputError`)."""
    p = Path(path)
    if p.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"cannot write a plot to '{p.name}'", field="output",
                         hint="use a file name ending in " + ", ".join(PLOT_SUFFIXES))
    return p


def _model_label(result: MetaResult) -> str:
    if result.method in _METHOD_NAMES:
        name = _METHOD_NAMES[result.method]
    else:
        name = f"Random effects, {result.method}" + (" + HK" if result.test == "knha" else "")
    return name


def _counts(row: pd.Series, a: str, n: str) -> str:
    if pd.isna(row.get(a)) or pd.isna(row.get(n)):
        return ""
    return f"{int(row[a])}/{int(row[n])}"


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "NA"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def heterogeneity_text(result: MetaResult) -> str:
    """One line: tau^2 (with Q-profile CI), I^2, Q test."""
    if result.k < 2 or not math.isfinite(result.q):
        return "Heterogeneity: not estimable (k = 1)"
    parts = []
    if result.method not in ("FE", "EE", "MH", "PETO"):
        ci = ""
        if math.isfinite(result.tau2_ci_low):
            ci = f" [{result.tau2_ci_low:.3g}, {result.tau2_ci_high:.3g}]"
        parts.append(f"\u03c4\u00b2 = {result.tau2:.3g}{ci}")
    parts.append(f"I\u00b2 = {result.i2:.0f}%")
    parts.append(f"Q = {result.q:.2f} (df = {result.q_df}, p = {_fmt_p(result.q_pval)})")
    return "Heterogeneity: " + "; ".join(parts)


def _study_rows(result: MetaResult, group: str | None) -> list[dict[str, Any]]:
    z = float(stats.norm.ppf(1 - (1 - result.level) / 2))
    rows = []
    for _, st in result.studies.iterrows():
        yi, vi = float(st["yi"]), float(st["vi"])
        ok = math.isfinite(yi) and math.isfinite(vi) and vi > 0
        lo, hi = (yi - z * math.sqrt(vi), yi + z * math.sqrt(vi)) if ok else (math.nan,) * 2
        tr = math.exp if result.is_ratio else (lambda x: x)
        weight = float(st["weight"]) if pd.notna(st.get("weight")) else math.nan
        note = ("double zero" if bool(st.get("double_zero", False)) else "not estimable")
        rows.append({"row_type": "study", "group": group, "label": str(st["study_id"]),
                     "note": "" if ok else note,
                     "treated": _counts(st, "ai", "n1"), "control": _counts(st, "ci", "n2"),
                     "estimate": tr(yi) if ok else math.nan,
                     "ci_low": tr(lo) if ok else math.nan, "ci_high": tr(hi) if ok else math.nan,
                     "weight": weight, "filled": bool(st.get("filled", False))})
    return rows


def _summary_row(result: MetaResult, label: str, row_type: str, group: str | None,
                 weight: float) -> dict[str, Any]:
    nat = result.natural()
    return {"row_type": row_type, "group": group, "label": label,
            "treated": _total(result, "ai", "n1"), "control": _total(result, "ci", "n2"),
            "estimate": nat["estimate"], "ci_low": nat["ci_low"], "ci_high": nat["ci_high"],
            "weight": weight, "filled": False}


def _total(result: MetaResult, a: str, n: str) -> str:
    st = result.studies
    if "used" in st:
        st = st[st["used"]]
    if st[a].isna().any():
        return ""
    return f"{int(st[a].sum())}/{int(st[n].sum())}"


def _pi_row(result: MetaResult, group: str | None) -> dict[str, Any] | None:
    if result.method in ("FE", "EE", "MH", "PETO") or not math.isfinite(result.pi_low):
        return None
    nat = result.natural()
    return {"row_type": "prediction", "group": group, "label": "Prediction interval",
            "treated": "", "control": "", "estimate": nat["estimate"],
            "ci_low": nat["pi_low"], "ci_high": nat["pi_high"], "weight": math.nan,
            "filled": False}


def forest_table(result: MetaResult | SubgroupResult) -> pd.DataFrame:
    """The rows of a forest plot, top to bottom, on the natural scale.

    Columns: ``row_type`` (``study``, ``group_header``, ``subgroup``, ``overall``,
    ``prediction``), ``group``, ``label``, ``treated``/``control`` (events/total),
    ``estimate``, ``ci_low``, ``ci_high`` (exponentiated for ratio measures), ``weight``
    (% of the model it belongs to), ``filled`` (trim-and-fill studies).
    """
    rows: list[dict[str, Any]] = []
    if isinstance(result, SubgroupResult):
        for g in result.groups:
            sub = result.results[g]
            rows.append({"row_type": "group_header", "group": g, "label": str(g),
                         "treated": "", "control": "", "estimate": math.nan,
                         "ci_low": math.nan, "ci_high": math.nan, "weight": math.nan,
                         "filled": False})
            rows.extend(_study_rows(sub, g))
            het = f"; I\u00b2 = {sub.i2:.0f}%" if math.isfinite(sub.i2) else ""
            rows.append(_summary_row(sub, f"Subtotal (k = {sub.k}{het})", "subgroup", g,
                                     100.0))
        overall = result.overall
    else:
        rows.extend(_study_rows(result, None))
        overall = result
    rows.append(_summary_row(overall, _model_label(overall), "overall", None, 100.0))
    pi = _pi_row(overall, None)
    if pi is not None:
        rows.append(pi)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# drawing helpers
# --------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=None)


def _save(fig: Any, path: str | Path | None) -> None:
    if path is None:
        return
    p = check_plot_path(path)
    with atomic_path(p) as tmp:
        fig.savefig(tmp, format=p.suffix.lower().lstrip("."), dpi=300,
                    bbox_inches="tight", facecolor="white")


def _xlimits(values: np.ndarray, ratio: bool, xlim: Sequence[float] | None) -> tuple[float, float]:
    if xlim is not None:
        lo, hi = float(xlim[0]), float(xlim[1])
        if not lo < hi or (ratio and lo <= 0):
            raise InputError(f"bad x limits {xlim!r}", field="xlim")
        return lo, hi
    v = values[np.isfinite(values)]
    if ratio:
        v = v[v > 0]
        if v.size == 0:
            return 0.1, 10.0
        lo = max(min(float(v.min()), 0.5), 0.01)
        hi = min(max(float(v.max()), 2.0), 100.0)
        return _nice_lo(lo), _nice_hi(hi)
    if v.size == 0:
        return -1.0, 1.0
    span = max(abs(float(v.min())), abs(float(v.max())), 0.05)
    span = math.ceil(span * 10) / 10
    return -span, span


_NICE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def _nice_lo(x: float) -> float:
    return max([n for n in _NICE if n <= x] or [_NICE[0]])


def _nice_hi(x: float) -> float:
    return min([n for n in _NICE if n >= x] or [_NICE[-1]])



def _effect_axis(ax: Any, lo: float, hi: float, ratio: bool, *,
                 tick_color: str | None = None) -> None:
    """The effect axis of forest-style plots: log scale with plain ticks for ratio
    measures, only the bottom spine, no y ticks."""
    if ratio:
        ax.set_xscale("log")
        ticks = _ratio_ticks(lo, hi)
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        ax.minorticks_off()
    ax.set_xlim(lo, hi)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=8, **({"color": tick_color} if tick_color else {}))


def _ratio_ticks(lo: float, hi: float) -> list[float]:
    return [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
            if lo <= t <= hi]


def _fmt_est(est: float, lo: float, hi: float, ratio: bool, note: str = "") -> str:
    if not math.isfinite(est):
        return note or "not estimable"
    d = 2
    return f"{est:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]" if ratio else \
        f"{est:.3f} [{lo:.3f}, {hi:.3f}]"


# --------------------------------------------------------------------------------------
# forest plot
# --------------------------------------------------------------------------------------


def forest_plot(
    result: MetaResult | SubgroupResult,
    path: str | Path | None = None,
    *,
    title: str | None = None,
    labels: tuple[str, str] = ("MSC", "Control"),
    favours: tuple[str, str] = ("Favours MSC", "Favours control"),
    xlim: Sequence[float] | None = None,
) -> Any:
    """A publication-quality forest plot; returns the matplotlib Figure.

    Study rows (events/total per arm, estimate [CI], weight; marker area proportional to
    the weight), subgroup and overall diamonds, the prediction interval as a bar under the
    overall diamond, a log axis for ratio measures with "favours" labels, heterogeneity
    and (for subgroups) the test for subgroup differences. Written to ``path`` if given.
    """
    from matplotlib.patches import Polygon, Rectangle

    if path is not None:
        check_plot_path(path)
    table = forest_table(result)
    overall = result.overall if isinstance(result, SubgroupResult) else result
    ratio = overall.measure in RATIO_MEASURES
    null = 1.0 if ratio else 0.0
    lo, hi = _xlimits(table[["ci_low", "ci_high", "estimate"]].to_numpy(float).ravel(), ratio,
                      xlim)
    n_rows = len(table)
    foot = ["", heterogeneity_text(overall)]
    if isinstance(result, SubgroupResult) and math.isfinite(result.q_between):
        foot.append(f"Test for subgroup differences ({result.variable}): "
                    f"Q = {result.q_between:.2f}, df = {result.q_between_df}, "
                    f"p = {_fmt_p(result.q_between_pval)}")
    row_h = 0.27
    height = row_h * (n_rows + 2) + 1.25 + 0.2 * len(foot)
    fig = _figure(10.0, height)
    top, bottom = 1 - 0.45 / height, (0.9 + 0.2 * len(foot)) / height
    gs = fig.add_gridspec(1, 3, width_ratios=[3.6, 3.2, 2.4], wspace=0.02, left=0.02,
                          right=0.99, top=top, bottom=bottom)
    ax_l, ax, ax_r = (fig.add_subplot(gs[0, i]) for i in range(3))
    y_top = n_rows + 0.6
    ys = np.arange(n_rows, 0, -1, dtype=float)
    for a in (ax_l, ax_r):
        a.set_xlim(0, 1)
        a.set_ylim(0.2, y_top + 0.6)
        a.axis("off")
    ax.set_ylim(0.2, y_top + 0.6)
    _effect_axis(ax, lo, hi, ratio, tick_color=_INK)
    fs = 8.5
    # headers
    hdr = dict(fontsize=fs, fontweight="bold", va="bottom", color=_INK)
    ax_l.text(0.0, y_top, "Study", ha="left", **hdr)
    ax_l.text(0.66, y_top, f"{labels[0]}\nevents/N", ha="center", **hdr)
    ax_l.text(0.89, y_top, f"{labels[1]}\nevents/N", ha="center", **hdr)
    meas = overall.measure
    ax_r.text(0.05, y_top, f"{meas} [{overall.level:.0%} CI]", ha="left", **hdr)
    ax_r.text(0.98, y_top, "Weight", ha="right", **hdr)
    ax.axvline(null, color="#777777", lw=0.8, zorder=0)
    if overall.k >= 1 and math.isfinite(overall.estimate):
        ax.axvline(overall.natural()["estimate"], color=_SUMMARY, lw=0.7, ls=(0, (3, 3)),
                   zorder=0, alpha=0.8)
    wmax = table.loc[table["row_type"] == "study", "weight"].max()
    wmax = float(wmax) if pd.notna(wmax) and wmax > 0 else 1.0
    for y, (_, row) in zip(ys, table.iterrows(), strict=True):
        kind = row["row_type"]
        bold = kind in ("group_header", "subgroup", "overall")
        indent = 0.03 if (kind == "study" and row["group"] is not None) else 0.0
        style = "italic" if kind == "prediction" else "normal"
        ax_l.text(indent, y, row["label"], ha="left", va="center", fontsize=fs,
                  fontweight="bold" if bold else "normal", fontstyle=style, color=_INK)
        if kind in ("study", "subgroup", "overall"):
            ax_l.text(0.66, y, row["treated"], ha="center", va="center", fontsize=fs,
                      fontweight="bold" if bold else "normal")
            ax_l.text(0.89, y, row["control"], ha="center", va="center", fontsize=fs,
                      fontweight="bold" if bold else "normal")
        if kind == "group_header":
            continue
        est, clo, chi = row["estimate"], row["ci_low"], row["ci_high"]
        note = row.get("note")
        txt = _fmt_est(est, clo, chi, ratio, note if isinstance(note, str) else "")
        if kind == "prediction":
            txt = "" if not math.isfinite(clo) else (f"[{clo:.2f}, {chi:.2f}]" if ratio
                                                     else f"[{clo:.3f}, {chi:.3f}]")
        ax_r.text(0.05, y, txt, ha="left", va="center", fontsize=fs,
                  fontweight="bold" if bold else "normal", fontstyle=style)
        if kind in ("study", "subgroup", "overall") and math.isfinite(row["weight"]):
            wtxt = f"{row['weight']:.1f}%" if kind == "study" else "100%"
            ax_r.text(0.98, y, wtxt, ha="right", va="center", fontsize=fs,
                      fontweight="bold" if bold else "normal")
        if not math.isfinite(est):
            continue
        if kind == "study":
            cl, ch = max(clo, lo), min(chi, hi)
            ax.plot([cl, ch], [y, y], color=_INK, lw=0.9, solid_capstyle="butt", zorder=2)
            if clo < lo:
                ax.annotate("", xy=(lo, y), xytext=(cl * (1.15 if ratio else 1) + (
                    0 if ratio else 0.02 * (hi - lo)), y),
                    arrowprops=dict(arrowstyle="->", lw=0.9, color=_INK))
            if chi > hi:
                ax.annotate("", xy=(hi, y), xytext=(ch / (1.15 if ratio else 1) - (
                    0 if ratio else 0.02 * (hi - lo)), y),
                    arrowprops=dict(arrowstyle="->", lw=0.9, color=_INK))
            w = row["weight"] if math.isfinite(row["weight"]) else wmax * 0.05
            size = 4 + 9 * math.sqrt(max(w, 0) / wmax)
            if lo <= est <= hi:
                ax.plot([est], [y], marker="s", ms=size, color=_STUDY,
                        mfc="white" if row["filled"] else _STUDY, mec=_STUDY, zorder=3)
        elif kind in ("subgroup", "overall"):
            color = _SUMMARY if kind == "overall" else "#555555"
            half = 0.32
            pts = [(max(clo, lo), y), (est, y + half), (min(chi, hi), y), (est, y - half)]
            ax.add_patch(Polygon(pts, closed=True, facecolor=color, edgecolor=color,
                                 lw=0.8, zorder=3))
        elif kind == "prediction":
            pl, ph = max(clo, lo), min(chi, hi)
            ax.add_patch(Rectangle((pl, y - 0.12), ph - pl, 0.24, facecolor=_PI,
                                   edgecolor=_SUMMARY, lw=0.6, zorder=2))
    # separator above the summary rows
    first_summary = int(np.argmax(table["row_type"].isin(["overall"]).to_numpy()))
    y_sep = ys[first_summary] + 0.5
    for a in (ax_l, ax_r):
        a.axhline(y_top - 0.05, color=_INK, lw=0.8)
        a.axhline(y_sep, color="#999999", lw=0.5)
    ax.axhline(y_top - 0.05, color=_INK, lw=0.8)
    ax.axhline(y_sep, color="#999999", lw=0.5)
    label = MEASURE_LABELS.get(meas, meas)
    ax.set_xlabel(f"{label[0].upper()}{label[1:]} (log scale)" if ratio else
                  label[0].upper() + label[1:], fontsize=fs)
    # favours labels under the axis, each side of the null line
    from matplotlib.transforms import blended_transform_factory

    tr = blended_transform_factory(ax.transData, ax.transAxes)
    ax.text(null, -0.17 * 8 / max(n_rows, 8) - 0.02, f"\u2190 {favours[0]}  ", transform=tr,
            ha="right", va="top", fontsize=7.5, color="#444444")
    ax.text(null, -0.17 * 8 / max(n_rows, 8) - 0.02, f"  {favours[1]} \u2192", transform=tr,
            ha="left", va="top", fontsize=7.5, color="#444444")
    for i, line in enumerate(foot):
        fig.text(0.02, (0.55 + 0.2 * (len(foot) - 1 - i)) / height, line, fontsize=fs - 0.5,
                 ha="left", va="bottom", color=_INK)
    prov = _provenance_line(overall)
    fig.text(0.02, 0.2 / height, prov, fontsize=6.5, ha="left", va="bottom", color="#666666")
    if title:
        fig.suptitle(title, x=0.02, ha="left", fontsize=10.5, fontweight="bold",
                     y=1 - 0.08 / height)
    _save(fig, path)
    return fig


def _provenance_line(result: MetaResult) -> str:
    bits = [f"measure {result.measure}", f"method {result.method}"]
    if result.test == "knha":
        bits.append("HK = Hartung-Knapp adjustment")
    bits.append(result.zero_cell.describe())
    if result.source:
        bits.extend(f"{k} {v}" for k, v in result.source.items() if v is not None)
    if result.filters:
        bits.append("filters " + ", ".join(
            f"{k}={'|'.join(v) if isinstance(v, list | tuple) else v}"
            for k, v in result.filters.items()))
    return "; ".join(bits)


# --------------------------------------------------------------------------------------
# funnel plot
# --------------------------------------------------------------------------------------


def funnel_plot(result: MetaResult, path: str | Path | None = None, *,
                trimfill: TrimFillResult | None = None, title: str | None = None,
                egger: Any | None = None, rank: Any | None = None) -> Any:
    """Funnel plot: effect size (x; log axis for ratio measures) against standard error
    (y, inverted), the pooled estimate and the pseudo-confidence region
    ``estimate -/+ z * SE``; trim-and-fill studies as open circles. Returns the Figure."""
    if path is not None:
        check_plot_path(path)
    tab = funnel_table(result, trimfill=trimfill)
    ratio = result.measure in RATIO_MEASURES
    src = trimfill.adjusted if trimfill is not None else result
    center = src.estimate
    z = float(stats.norm.ppf(1 - (1 - result.level) / 2))
    se_max = float(np.nanmax(tab["sei"])) * 1.08 if len(tab) else 1.0
    fig = _figure(8.4, 5.0)  # room on the right for the legend and the tests
    fig.subplots_adjust(left=0.09, right=0.66, top=0.92, bottom=0.17)
    ax = fig.add_subplot(1, 1, 1)
    tr = np.exp if ratio else (lambda x: x)
    se_grid = np.linspace(0, se_max, 100)
    ax.fill_betweenx(se_grid, tr(center - z * se_grid), tr(center + z * se_grid),
                     facecolor="#ececec", edgecolor="#888888", ls="--", lw=0.8, zorder=0,
                     label=f"pseudo {result.level:.0%} CI region")
    ax.axvline(tr(center), color=_SUMMARY, lw=1.0,
               label=("adjusted " if trimfill is not None else "") + "pooled estimate")
    if trimfill is not None and trimfill.k0 > 0:
        ax.axvline(tr(result.estimate), color=_SUMMARY, lw=0.8, ls=(0, (2, 2)),
                   label="pooled estimate (observed studies)")
    obs = tab[~tab["filled"]]
    ax.scatter(tr(obs["yi"]), obs["sei"], s=28, color=_STUDY, edgecolor="white", lw=0.5,
               zorder=3, label="studies")
    fill = tab[tab["filled"]]
    if len(fill):
        ax.scatter(tr(fill["yi"]), fill["sei"], s=28, facecolor="white", edgecolor=_STUDY,
                   lw=1.0, zorder=3, label=f"filled (trim and fill, k0 = {len(fill)})")
    if ratio:
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.axvline(1.0 if ratio else 0.0, color="#555555", lw=0.6, ls=":")
    ax.set_ylim(se_max, 0)
    label = MEASURE_LABELS.get(result.measure, result.measure)
    ax.set_xlabel(label[0].upper() + label[1:] + (" (log scale)" if ratio else ""))
    ax.set_ylabel("Standard error")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7.5, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    tests = []
    if egger is not None:
        tests.append(f"Egger's test ({egger.model}):\n"
                     f"{'z' if egger.model == 'rma' and egger.test == 'z' else 't'} = "
                     f"{egger.statistic:.2f}, p = {_fmt_p(egger.pval)}")
    if rank is not None:
        tests.append(f"Begg and Mazumdar's rank test:\nKendall's tau = {rank.tau:.2f}, "
                     f"p = {_fmt_p(rank.pval)}")
    if tests:  # outside the plot area, under the legend
        ax.text(1.02, 0.05, "Funnel asymmetry\n" + "\n".join(tests), transform=ax.transAxes,
                fontsize=7.5, ha="left", va="bottom", linespacing=1.4)
    if title:
        ax.set_title(title, fontsize=10, loc="left", fontweight="bold")
    fig.text(0.01, 0.005, _provenance_line(result), fontsize=6, color="#666666",
             ha="left", va="bottom")
    _save(fig, path)
    return fig


# --------------------------------------------------------------------------------------
# cumulative plot
# --------------------------------------------------------------------------------------


def cumulative_plot(table: DiagnosticTable, path: str | Path | None = None, *,
                    title: str | None = None,
                    favours: tuple[str, str] = ("Favours MSC", "Favours control")) -> Any:
    """Cumulative meta-analysis: one row per added study (label: study and ordering
    value), the pooled estimate and CI after adding it. Returns the Figure."""
    if path is not None:
        check_plot_path(path)
    df = table.summary(natural=True)
    ratio = table.is_ratio
    null = 1.0 if ratio else 0.0
    n = len(df)
    height = 0.3 * (n + 2) + 1.0
    fig = _figure(9.0, height)
    gs = fig.add_gridspec(1, 3, width_ratios=[3.2, 3.4, 2.4], wspace=0.02, left=0.02,
                          right=0.99, top=1 - 0.4 / height, bottom=0.85 / height)
    ax_l, ax, ax_r = (fig.add_subplot(gs[0, i]) for i in range(3))
    ys = np.arange(n, 0, -1, dtype=float)
    y_top = n + 0.6
    for a in (ax_l, ax_r):
        a.set_xlim(0, 1)
        a.set_ylim(0.3, y_top + 0.6)
        a.axis("off")
    ax.set_ylim(0.3, y_top + 0.6)
    lo, hi = _xlimits(df[["ci_low", "ci_high"]].to_numpy(float).ravel(), ratio, None)
    _effect_axis(ax, lo, hi, ratio)
    ax.axvline(null, color="#777777", lw=0.8, zorder=0)
    fs = 8.5
    hdr = dict(fontsize=fs, fontweight="bold", va="bottom")
    ax_l.text(0, y_top, "Adding study", ha="left", **hdr)
    ax_l.text(0.98, y_top, {"pub_date": "Published", None: "Order"}.get(
        table.order_by, str(table.order_by)), ha="right", **hdr)
    ax_r.text(0.05, y_top, f"{table.measure} [{table.level:.0%} CI]", ha="left", **hdr)
    ax_r.text(0.98, y_top, "k", ha="right", **hdr)
    for y, (_, row) in zip(ys, df.iterrows(), strict=True):
        ax_l.text(0, y, f"+ {row['study_id']}", ha="left", va="center", fontsize=fs)
        ax_l.text(0.98, y, str(row.get("order_value", ""))[:10], ha="right", va="center",
                  fontsize=fs, color="#444444")
        est, clo, chi = row["estimate"], row["ci_low"], row["ci_high"]
        ax_r.text(0.05, y, _fmt_est(est, clo, chi, ratio), ha="left", va="center",
                  fontsize=fs)
        ax_r.text(0.98, y, f"{int(row['k'])}", ha="right", va="center", fontsize=fs)
        if math.isfinite(est) and math.isfinite(clo):
            ax.plot([max(clo, lo), min(chi, hi)], [y, y], color=_INK, lw=0.9)
            ax.plot([est], [y], marker="o", ms=4.5, color=_SUMMARY)
    for a in (ax_l, ax, ax_r):
        a.axhline(y_top - 0.05, color=_INK, lw=0.8)
    label = MEASURE_LABELS.get(table.measure, table.measure)
    ax.set_xlabel(label[0].upper() + label[1:] + (" (log scale)" if ratio else ""),
                  fontsize=fs)
    from matplotlib.transforms import blended_transform_factory

    trf = blended_transform_factory(ax.transData, ax.transAxes)
    yy = -0.17 * 8 / max(n, 8) - 0.02
    ax.text(null, yy, f"\u2190 {favours[0]}  ", transform=trf, ha="right", va="top",
            fontsize=7.5, color="#444444")
    ax.text(null, yy, f"  {favours[1]} \u2192", transform=trf, ha="left", va="top",
            fontsize=7.5, color="#444444")
    meth = f"method {table.method}" + (", Hartung-Knapp" if table.test == "knha" else "")
    fig.text(0.02, 0.12 / height, f"Cumulative meta-analysis; {meth}; "
             f"{table.zero_cell.describe()}", fontsize=6.5, color="#666666")
    if title:
        fig.suptitle(title, x=0.02, ha="left", fontsize=10.5, fontweight="bold",
                     y=1 - 0.06 / height)
    _save(fig, path)
    return fig
