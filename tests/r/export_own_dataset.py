"""Export our mortality comparisons for the R reference script.

    python tests/r/export_own_dataset.py            # writes tests/r/own_mortality.csv
    Rscript tests/r/metafor_reference.R             # then regenerate the reference JSON

The CSV is committed with the JSON so that the reference numbers are reproducible;
``tests/test_meta_against_R.py`` checks that it still equals what the shipped dataset
gives (``comparisons("mortality")``, default timepoint rule, primary comparisons).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
OWN_CSV = HERE / "own_mortality.csv"
COLUMNS = ("study_id", "ai", "n1", "ci", "n2", "timepoint_days", "pub_date", "year", "design",
           "product", "msc_source", "severity", "dose_cells_per_kg")


def own_mortality_table() -> pd.DataFrame:
    """The table the reference is computed on, as strings ready for CSV."""
    from mscsim.evidence._dataset import comparisons

    table = comparisons("mortality")
    out = pd.DataFrame(index=table.index)
    for col in COLUMNS:
        values = table[col]
        if col == "pub_date":
            out[col] = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
        elif col == "dose_cells_per_kg":
            out[col] = [("" if pd.isna(v) else repr(float(v))) for v in values]
        else:
            out[col] = [("" if pd.isna(v) else str(v)) for v in values]
    return out.reset_index(drop=True)


def csv_text() -> str:
    return own_mortality_table().to_csv(index=False, lineterminator="\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", type=Path, default=OWN_CSV,
                        help=f"CSV to write (default {OWN_CSV.name} beside this script)")
    target = parser.parse_args(sys.argv[1:] if argv is None else argv).target
    from mscsim._io import write_text_atomic

    write_text_atomic(target, csv_text())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
