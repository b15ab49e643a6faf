"""What the calibration scripts that fit model parameters share: their command line (cohort
size, seed, workers, ``--write``) and writing the fitted values into the parameter table."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "src" / "mscsim" / "model" / "models" / "covid_msc.parameters.csv"


def parameter_fit_arguments(description: str | None, seed: int) -> argparse.ArgumentParser:
    """The command line of a parameter fit: ``--n`` infections (20,000), ``--seed``,
    ``--workers`` and ``--write`` (update the parameter table)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--write", action="store_true", help="update the parameter table")
    return parser


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
