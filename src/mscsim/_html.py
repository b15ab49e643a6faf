"""Pieces of the self-contained HTML reports shared by the parts that write them (the trial
and the bridge reports): a table, a number for a reader, a figure as an embedded PNG."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def html_table(rows: list[list[Any]], header: list[str] | None) -> str:
    """An HTML table of ``rows`` (each cell escaped), with a header row when given."""
    head = "" if header is None else \
        "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table>{head}{body}</table>"


def format_number(v: Any) -> str:
    """A value for a reader: three significant figures, an en dash for a missing one."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"
    return str(v)


def png_base64(fig: Any) -> str:
    """``fig`` as a base64 PNG for an ``<img src='data:image/png;base64,...'>`` (closes it)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()
