"""Pieces of the self-contained HTML reports shared by the parts that write them (the trial,
bridge and population reports): a table, a number for a reader, a figure as an embedded PNG
with a link to the table it is drawn from (:class:`FigureData`)."""

from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

from mscsim._errors import InputError
from mscsim._io import write_csv_atomic

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: table style shared by the reports: borders, small type, and cells that wrap between words
#: (headers too: see column_label), so that a table of many columns fits the page
TABLE_CSS = ("table{border-collapse:collapse;margin:0.5em 0;max-width:100%}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:12px;text-align:left;"
             "vertical-align:top;overflow-wrap:break-word}"
             ".data{font-size:11px;color:#555;margin:0 0 1em}")

#: folder beside a report that holds the table of each of its figures
FIGURES_FOLDER = "figures"


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


class FigureData:
    """Where the tables behind a report's figures go: ``figures/NAME.csv`` beside the report
    (each written atomically; nothing else in the folder is touched), or a file the figure
    is already drawn from, linked where it lies. Links are relative to the report."""

    def __init__(self, report: str | Path) -> None:
        self.root = Path(report).absolute().parent

    def table(self, name: str, table: pd.DataFrame) -> str:
        """Write ``table`` as ``figures/NAME.csv``; its link.

        Raises:
            InputError: ``figures`` beside the report is a file.
        """
        folder = self.root / FIGURES_FOLDER
        if folder.exists() and not folder.is_dir():
            raise InputError("cannot write the tables of the report's figures: the path "
                             "exists and is not a folder", file=folder,
                             hint="move it, or write the report elsewhere (-o)")
        path = folder / f"{name}.csv"
        write_csv_atomic(path, table)
        return self.file(path)

    def file(self, path: str | Path) -> str:
        """The link to an existing file ``path``."""
        return Path(os.path.relpath(Path(path).absolute(), self.root)).as_posix()


def figure_html(png: str, links: list[str]) -> str:
    """An embedded PNG figure and, under it, the links to the tables it is drawn from."""
    data = ", ".join(f"<a href='{html.escape(link)}'>{html.escape(link)}</a>" for link in links)
    return (f"<img src='data:image/png;base64,{png}'>"
            + (f"<p class='data'>data: {data}</p>" if links else ""))
