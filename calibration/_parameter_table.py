"""Writing fitted values into the model's parameter table (the calibration scripts' --write)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "src" / "mscsim" / "model" / "models" / "covid_msc.parameters.csv"


def write_values(values: dict[str, tuple[float, str]]) -> None:
    """Set the value (4 significant digits) and source of each named parameter row."""
    rows = list(csv.reader(io.StringIO(TABLE.read_text(encoding="utf-8"))))
    missing = set(values) - {row[0] for row in rows[1:]}
    if missing:
        raise SystemExit(f"{TABLE.relative_to(ROOT)} has no row {', '.join(sorted(missing))}")
    for row in rows[1:]:
        if row[0] in values:
            row[1], row[6] = f"{values[row[0]][0]:.4g}", values[row[0]][1]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    TABLE.write_text(out.getvalue(), encoding="utf-8")
    print(f"wrote {', '.join(values)} into {TABLE.relative_to(ROOT)}")
