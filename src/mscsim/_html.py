"""Pieces of the self-contained HTML reports shared by the parts that write them (the trial
and the bridge reports): a table, a number for a reader, a figure as an embedded PNG."""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: table style shared by the reports: borders, small type, and cells that wrap between words
#: (headers too: see column_label), so that a table of many columns fits the page
TABLE_CSS = ("table{border-collapse:collapse;margin:0.5em 0;max-width:100%}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:12px;text-align:left;"
             "vertical-align:top;overflow-wrap:break-word}")


def column_label(name: str) -> str:
    """A table column name for a reader: ``pred_rr_median`` as ``pred rr median``."""
    return name.replace("_", " ")


def html_table(rows: list[list[Any]], header: list[str] | None) -> str:
    """An HTML table of ``rows`` (each cell escaped), with a header row when given."""
    head = "" if header is None else \
        "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table>{head}{body}</table>"


def format_number(v: Any) -> str:
    """A value for a reader: three significant figures (``2 × 10^6`` from 10,000 up), yes or
    no for a flag, an en dash for a missing value (None, NaN or pandas' NA)."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, float):
        if abs(v) < 1e4 or math.isinf(v):
            return f"{v:.3g}"
        exponent = int(math.floor(math.log10(abs(v))))
        return f"{v / 10**exponent:.3g} × 10^{exponent}"
    return str(v)


def png_base64(fig: Any) -> str:
    """``fig`` as a base64 PNG for an ``<img src='data:image/png;base64,...'>`` (closes it)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()
