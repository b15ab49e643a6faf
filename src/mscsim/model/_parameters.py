"""The parameter table: name, value, unit, bounds, variability and source of every parameter.

The table is the single source of parameter values: the Antimony file holds structure only
and values are injected from the table when the model is compiled.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mscsim._errors import InputError

COLUMNS = ("name", "value", "unit", "lower", "upper", "variability", "source", "description")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOGNORMAL = re.compile(r"^lognormal\(sd_log=([0-9.eE+-]+)\)$")


@dataclass(frozen=True)
class Variability:
    """Inter-individual variability of a parameter: ``none`` or ``lognormal(sd_log=S)``."""

    kind: str
    sd_log: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Variability:
        text = text.strip()
        if text == "none":
            return cls("none")
        match = _LOGNORMAL.match(text)
        if match:
            sd = float(match.group(1))
            if sd < 0 or not math.isfinite(sd):
                raise ValueError(f"sd_log must be a finite number >= 0, got {sd}")
            return cls("lognormal", sd)
        raise ValueError(f"unknown variability '{text}' (use 'none' or 'lognormal(sd_log=S)')")

    def __str__(self) -> str:
        return "none" if self.kind == "none" else f"lognormal(sd_log={self.sd_log:g})"


@dataclass(frozen=True)
class Parameter:
    """One row of the parameter table."""

    name: str
    value: float
    unit: str
    lower: float
    upper: float
    variability: Variability
    source: str
    description: str

    @property
    def is_assumption(self) -> bool:
        """True when the value is a modelling assumption rather than a cited measurement."""
        return self.source.lower().startswith("assumption")


class ParameterTable(Mapping[str, Parameter]):
    """An ordered, read-only mapping from parameter name to :class:`Parameter`."""

    def __init__(self, parameters: list[Parameter]):
        self._by_name = {p.name: p for p in parameters}
        if len(self._by_name) != len(parameters):
            names = [p.name for p in parameters]
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"duplicate parameter names: {', '.join(dup)}", field="name")

    def __getitem__(self, name: str) -> Parameter:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def values(self) -> dict[str, float]:  # type: ignore[override]
        """Default value of every parameter."""
        return {name: p.value for name, p in self._by_name.items()}

    def to_records(self) -> list[dict[str, object]]:
        """The table as a list of plain dictionaries (for JSON and DataFrames)."""
        return [
            {
                "name": p.name, "value": p.value, "unit": p.unit, "lower": p.lower,
                "upper": p.upper, "variability": str(p.variability), "source": p.source,
                "description": p.description,
            }
            for p in self._by_name.values()
        ]

    @classmethod
    def read_csv(cls, path: str | Path) -> ParameterTable:
        """Read and validate a parameter table.

        Raises:
            InputError: a missing column, a non-numeric value, a value outside its bounds or
                an unknown variability, naming the file, line and column.
        """
        path = Path(path)
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"missing columns: {', '.join(missing)}", file=path, line=1)
            parameters = [_parse_row(row, path, line) for line, row in enumerate(reader, start=2)]
        return cls(parameters)


def _parse_row(row: dict[str, str], path: Path, line: int) -> Parameter:
    def number(column: str) -> float:
        text = (row.get(column) or "").strip()
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"'{text}' is not a number", file=path, line=line,
                             column=column) from None
        if not math.isfinite(value):
            raise InputError(f"'{text}' is not finite", file=path, line=line, column=column)
        return value

    name = (row.get("name") or "").strip()
    if not _IDENTIFIER.match(name):
        raise InputError(f"'{name}' is not a valid parameter name", file=path, line=line,
                         column="name")
    value, lower, upper = number("value"), number("lower"), number("upper")
    if not lower <= value <= upper:
        raise InputError(f"value {value:g} of '{name}' is outside its bounds "
                         f"[{lower:g}, {upper:g}]", file=path, line=line, column="value")
    try:
        variability = Variability.parse(row.get("variability") or "")
    except ValueError as err:
        raise InputError(str(err), file=path, line=line, column="variability") from None
    source = (row.get("source") or "").strip()
    if not source:
        raise InputError(f"parameter '{name}' has no source (cite one or write 'assumption')",
                         file=path, line=line, column="source")
    return Parameter(name=name, value=value, unit=(row.get("unit") or "").strip(),
                     lower=lower, upper=upper, variability=variability, source=source,
                     description=(row.get("description") or "").strip())
