"""The curated dataset of controlled clinical studies of MSCs in COVID-19, and its loader.

Two CSV files ship in ``mscsim/evidence/data`` (schema and provenance in the README there):

* ``studies.csv`` - one row per study: design, population, product, regimen, identifiers;
* ``outcomes.csv`` - one row per (study, comparison, outcome, timepoint) with 2x2 counts.

Every row is validated on load; a malformed cell raises :class:`~mscsim.InputError` naming
the file, the 1-based line in the CSV file (the header is line 1) and the column.

:func:`comparisons` is the entry point of the meta-analysis: one row per study with
metafor-style counts ``ai, n1, ci, n2``. By default it returns only the comparison flagged
``primary`` for each study, outcome and timepoint, so the control arm of a multi-arm trial
is never counted twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from mscsim._errors import InputError
from mscsim._limits import check_limit, over_limit

DESIGNS = ("RCT", "non-randomised")
BLINDING = ("double", "single", "open", "unknown")
SEVERITIES = ("moderate", "severe", "critical", "mixed")
VENTILATED = ("yes", "no", "mixed", "unknown")
MSC_SOURCES = ("umbilical_cord", "bone_marrow", "adipose", "placenta", "dental_pulp",
               "menstrual_blood", "other", "unknown")
PRODUCTS = ("cells", "secretome", "extracellular_vesicles")
CONTROLS = ("placebo", "sham", "standard_care")
VERIFIED = ("primary", "secondary", "unverified")
PUB_DATE_KINDS = ("online", "issue")
PUB_DATE_PRECISIONS = ("day", "month", "year")
OUTCOMES = ("mortality", "serious_adverse_events", "adverse_events", "clinical_improvement",
            "invasive_ventilation")
TIMEPOINT_BASES = ("reported", "mapped", "end_of_follow_up")

DEFAULT_MAX_DAYS = 90
"""``comparisons(timepoint=None)`` takes each study's longest timepoint up to this many days."""

TIMEPOINT_TOLERANCE_DAYS = 3
"""``comparisons(timepoint=t)`` accepts rows with ``|timepoint_days - t| <= 3``."""

FILTER_KEYS: Mapping[str, str] = MappingProxyType({
    "design": "study design: " + ", ".join(DESIGNS),
    "blinding": "blinding: " + ", ".join(BLINDING),
    "product": "MSC product: " + ", ".join(PRODUCTS),
    "msc_source": "tissue of origin: " + ", ".join(MSC_SOURCES),
    "severity": "disease severity at entry: " + ", ".join(SEVERITIES),
    "ventilated": "invasive ventilation at entry: " + ", ".join(VENTILATED),
    "control": "control arm: " + ", ".join(CONTROLS),
    "country": "country, as spelled in studies.csv (e.g. China, United States)",
    "year": "publication year (integer)",
})
"""Study columns accepted by :func:`filter_studies` and ``comparisons(filters=...)``."""

_DATA = "data"
_STUDIES_FILE = "studies.csv"
_OUTCOMES_FILE = "outcomes.csv"
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_COMPARISON_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
_VERIFIED_RANK = {name: rank for rank, name in enumerate(VERIFIED)}


@dataclass(frozen=True)
class _Column:
    """How one CSV column is parsed: ``kind`` and whether an empty cell is allowed."""

    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()


def _c(kind: str, required: bool = True, choices: tuple[str, ...] = ()) -> _Column:
    return _Column(kind, required, choices)


STUDY_SCHEMA: Mapping[str, _Column] = MappingProxyType({
    "study_id": _c("id"),
    "first_author": _c("str"),
    "design": _c("enum", choices=DESIGNS),
    "blinding": _c("enum", choices=BLINDING),
    "country": _c("str"),
    "year": _c("year"),
    "pub_date": _c("date"),
    "pub_date_kind": _c("enum", choices=PUB_DATE_KINDS),
    "pub_date_precision": _c("enum", choices=PUB_DATE_PRECISIONS),
    "journal": _c("str"),
    "doi": _c("doi", required=False),
    "pmid": _c("count", required=False),
    "registry_id": _c("str", required=False),
    "population": _c("str"),
    "severity": _c("enum", choices=SEVERITIES),
    "ventilated": _c("enum", choices=VENTILATED),
    "msc_source": _c("enum", choices=MSC_SOURCES),
    "msc_source_detail": _c("str", required=False),
    "product": _c("enum", choices=PRODUCTS),
    "dose_cells_per_kg": _c("positive_float", required=False),
    "dose_cells_abs": _c("positive_float", required=False),
    "n_doses": _c("positive_int", required=False),
    "dose_days": _c("days", required=False),
    "regimen": _c("str"),
    "control": _c("enum", choices=CONTROLS),
    "n_arms": _c("positive_int"),
    "n_treated": _c("positive_int", required=False),
    "n_control": _c("positive_int", required=False),
    "meta_source": _c("str"),
    "meta_verified": _c("enum", choices=VERIFIED),
    "unverified_fields": _c("fields", required=False),
    "notes": _c("str", required=False),
    "discrepancy_notes": _c("str", required=False),
})
"""Columns of ``studies.csv`` in file order."""

OUTCOME_SCHEMA: Mapping[str, _Column] = MappingProxyType({
    "study_id": _c("id"),
    "comparison": _c("comparison"),
    "primary": _c("bool"),
    "outcome": _c("enum", choices=OUTCOMES),
    "outcome_definition": _c("str"),
    "timepoint_days": _c("positive_int"),
    "timepoint_basis": _c("enum", choices=TIMEPOINT_BASES),
    "events_treated": _c("count"),
    "n_treated": _c("positive_int"),
    "events_control": _c("count"),
    "n_control": _c("positive_int"),
    "source": _c("str"),
    "verified": _c("enum", choices=VERIFIED),
    "notes": _c("str", required=False),
})
"""Columns of ``outcomes.csv`` in file order."""

_COVARIATES = ("design", "blinding", "product", "msc_source", "severity", "ventilated", "control",
               "country", "pub_date", "year", "dose_cells_per_kg", "dose_cells_abs", "n_doses")
COMPARISON_COLUMNS = ("study_id", "comparison", "primary", "outcome", "timepoint_days", "ai",
                      "n1", "ci", "n2", "verified") + _COVARIATES
"""Columns returned by :func:`comparisons`, in order."""


# ---------------------------------------------------------------- cell parsers


def _parse_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"'{text}' is not an integer")
    if len(text) > 30:
        raise ValueError(f"'{text[:12]}...' ({len(text)} digits) is not a count of patients")
    value = int(text)
    message = over_limit(abs(value), "count", what=f"the integer {value}")
    if message:  # 1e30 events overflowed the 64-bit columns of the tables
        raise ValueError(message)
    return value


def _parse_count(text: str) -> int:
    value = _parse_int(text)
    if value < 0:
        raise ValueError(f"{value} is negative")
    return value


def _parse_positive_int(text: str) -> int:
    value = _parse_int(text)
    if value <= 0:
        raise ValueError(f"{value} is not a positive integer")
    return value


def _parse_positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a number") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{text} is not a positive finite number")
    return value


def _parse_year(text: str) -> int:
    value = _parse_int(text)
    if not 2019 <= value <= 2100:
        raise ValueError(f"year {value} is outside 2019-2100")
    return value


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO date (YYYY-MM-DD)") from None


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"'{text}' is not true or false")
    return lowered == "true"


def _parse_days(text: str) -> str:
    days = [_parse_count(part.strip()) for part in text.split(";")]
    if days != sorted(days) or len(set(days)) != len(days):
        raise ValueError(f"'{text}' is not a strictly increasing list of days")
    return ";".join(str(d) for d in days)


def _parse_pattern(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not pattern.match(text):
            raise ValueError(f"'{text}' is not {what}")
        return text
    return parse


def _parse_fields(text: str) -> str:
    names = [part.strip() for part in text.split(";")]
    unknown = [name for name in names if name not in STUDY_SCHEMA]
    if unknown:
        raise ValueError(f"unknown column name(s) {', '.join(unknown)}")
    return ";".join(names)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "id": _parse_pattern(_ID_RE, "an identifier (letters and digits, e.g. Lanzoni2021)"),
    "comparison": _parse_pattern(_COMPARISON_RE, "a lower-case identifier (e.g. main)"),
    "doi": _parse_pattern(_DOI_RE, "a DOI (10.xxxx/...)"),
    "count": _parse_count,
    "positive_int": _parse_positive_int,
    "positive_float": _parse_positive_float,
    "year": _parse_year,
    "date": _parse_date,
    "bool": _parse_bool,
    "days": _parse_days,
    "fields": _parse_fields,
}


def _parse_cell(spec: _Column, text: str) -> Any:
    """Parse one stripped cell; ``None`` for an allowed empty cell. Raises ValueError."""
    if text == "":
        if spec.required:
            raise ValueError("empty cell in a required column")
        return None
    if spec.kind == "enum":
        if text not in spec.choices:
            raise ValueError(f"'{text}' is not one of: {', '.join(spec.choices)}")
        return text
    return _PARSERS[spec.kind](text)


# ---------------------------------------------------------------- reading CSV files


@dataclass(frozen=True)
class _Record:
    line: int
    values: dict[str, Any]


def _data_path(name: str) -> Path:
    return Path(str(resources.files("mscsim.evidence").joinpath(_DATA, name)))


def _read_records(path: Path, schema: Mapping[str, _Column]) -> list[_Record]:
    """Read ``path`` and parse every cell against ``schema``; errors name file, line, column."""
    if not path.is_file():
        raise InputError("file not found", file=path)
    check_limit(path.stat().st_size, "csv_bytes", file=path, what="the file's size")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError("file is empty", file=path, line=1) from None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", file=path, line=1) from None
        _check_header(path, header, schema)
        records = []
        line = reader.line_num
        while True:
            start = line + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise InputError(f"malformed CSV: {exc}", file=path, line=start) from None
            line = reader.line_num
            if not cells:
                continue
            records.append(_Record(start, _parse_row(path, start, header, cells, schema)))
    return records


def _check_header(path: Path, header: list[str], schema: Mapping[str, _Column]) -> None:
    names = [name.strip() for name in header]
    missing = [name for name in schema if name not in names]
    if missing:
        raise InputError(f"missing column(s): {', '.join(missing)}", file=path, line=1,
                         column=missing[0], hint="expected columns: " + ", ".join(schema))
    unknown = [name for name in names if name not in schema]
    if unknown:
        raise InputError(f"unknown column '{unknown[0]}'", file=path, line=1, column=unknown[0],
                         hint="expected columns: " + ", ".join(schema))
    if len(set(names)) != len(names):
        dup = next(name for name in names if names.count(name) > 1)
        raise InputError(f"duplicate column '{dup}'", file=path, line=1, column=dup)


def _parse_row(path: Path, line: int, header: list[str], cells: list[str],
               schema: Mapping[str, _Column]) -> dict[str, Any]:
    if len(cells) != len(header):
        raise InputError(f"row has {len(cells)} cells but the header has {len(header)}",
                         file=path, line=line)
    values = {}
    for name, text in zip(header, cells, strict=True):
        name = name.strip()
        try:
            values[name] = _parse_cell(schema[name], text.strip())
        except ValueError as exc:
            raise InputError(str(exc), file=path, line=line, column=name) from None
    return values


# ---------------------------------------------------------------- studies


def load_studies(path: str | Path | None = None) -> pd.DataFrame:
    """Load and validate ``studies.csv``.

    Arguments:
        path: a studies CSV file; ``None`` for the dataset shipped with mscsim.

    Returns:
        One row per study, columns as in :data:`STUDY_SCHEMA`; ``pub_date`` is a
        ``datetime64`` column, integer columns are nullable ``Int64``.

    Raises:
        InputError: a missing file, a missing or unknown column, a malformed cell, a
            duplicate ``study_id``, a study without DOI or registry id, or inconsistent
            cells; the message names the file, the line (header = line 1) and the column.
    """
    path = Path(path) if path is not None else _data_path(_STUDIES_FILE)
    records = _read_records(path, STUDY_SCHEMA)
    _check_studies(path, records)
    return _frame(records, STUDY_SCHEMA)


def _check_studies(path: Path, records: list[_Record]) -> None:
    seen: dict[str, int] = {}
    for rec in records:
        v = rec.values
        sid = v["study_id"]
        if sid in seen:
            raise InputError(f"duplicate study_id '{sid}' (first on line {seen[sid]})",
                             file=path, line=rec.line, column="study_id")
        seen[sid] = rec.line
        if not v["doi"] and not v["registry_id"]:
            raise InputError(f"study '{sid}' has neither a DOI nor a registry id", file=path,
                             line=rec.line, column="doi")
        if abs(v["pub_date"].year - v["year"]) > 1:
            raise InputError(f"year {v['year']} is more than one year from pub_date "
                             f"{v['pub_date']}", file=path, line=rec.line, column="year")
        if v["dose_days"] and v["n_doses"] and len(v["dose_days"].split(";")) != v["n_doses"]:
            raise InputError(f"dose_days '{v['dose_days']}' does not list n_doses="
                             f"{v['n_doses']} days", file=path, line=rec.line, column="dose_days")


def _frame(records: list[_Record], schema: Mapping[str, _Column]) -> pd.DataFrame:
    frame = pd.DataFrame([rec.values for rec in records], columns=list(schema))
    for name, spec in schema.items():
        if spec.kind in ("count", "positive_int", "year"):
            frame[name] = frame[name].astype("Int64")
        elif spec.kind == "positive_float":
            frame[name] = frame[name].astype("Float64")
        elif spec.kind == "date":
            frame[name] = pd.to_datetime(frame[name])
        elif spec.kind == "bool":
            frame[name] = frame[name].astype(bool)
    return frame


# ---------------------------------------------------------------- outcomes


def load_outcomes(path: str | Path | None = None, *,
                  studies: pd.DataFrame | None = None) -> pd.DataFrame:
    """Load and validate ``outcomes.csv`` against the studies.

    Arguments:
        path: an outcomes CSV file; ``None`` for the dataset shipped with mscsim.
        studies: validated studies (from :func:`load_studies`); ``None`` loads the shipped ones.

    Returns:
        One row per (study, comparison, outcome, timepoint), columns as in
        :data:`OUTCOME_SCHEMA`; counts are nullable ``Int64``, ``primary`` is boolean.

    Raises:
        InputError: a malformed cell, an unknown ``study_id``, events greater than n, a
            duplicate row, or not exactly one ``primary`` comparison per study, outcome and
            timepoint; the message names the file, the line (header = line 1) and the column.
    """
    path = Path(path) if path is not None else _data_path(_OUTCOMES_FILE)
    studies = studies if studies is not None else load_studies()
    study_ids = set(studies["study_id"])
    records = _read_records(path, OUTCOME_SCHEMA)
    _check_outcomes(path, records, study_ids)
    _check_arm_sizes(path, records, studies)
    return _frame(records, OUTCOME_SCHEMA)


def _check_arm_sizes(path: Path, records: list[_Record], studies: pd.DataFrame) -> None:
    """The arm sizes of ``studies.csv`` (patients as analysed) agree with the outcome rows:
    no outcome row analyses more patients than the study has, and the largest outcome row
    of a study analyses all of them (``n_treated = 700`` in studies.csv against 7 in every
    outcome row was accepted)."""
    sizes = {str(row.study_id): row for row in studies.itertuples(index=False)}
    for arm in ("treated", "control"):
        largest: dict[str, _Record] = {}
        for rec in records:
            sid = rec.values["study_id"]
            study_n = getattr(sizes[sid], f"n_{arm}")
            if pd.isna(study_n):
                continue
            n = rec.values[f"n_{arm}"]
            if n > study_n:
                raise InputError(f"n_{arm}={n} exceeds the {int(study_n)} patients studies.csv "
                                 f"gives study {sid}", file=path, line=rec.line,
                                 column=f"n_{arm}")
            if sid not in largest or n > largest[sid].values[f"n_{arm}"]:
                largest[sid] = rec
        for sid, rec in largest.items():
            study_n = int(getattr(sizes[sid], f"n_{arm}"))
            if rec.values[f"n_{arm}"] != study_n:
                raise InputError(f"studies.csv gives study {sid} n_{arm}={study_n} but no "
                                 f"outcome row analyses that many (at most "
                                 f"{rec.values[f'n_{arm}']})", file=path, line=rec.line,
                                 column=f"n_{arm}", hint=f"n_{arm} in studies.csv is the arm "
                                 "as analysed; correct one of the two files")


def _check_outcomes(path: Path, records: list[_Record], study_ids: set[str]) -> None:
    seen: dict[tuple[Any, ...], int] = {}
    for rec in records:
        v = rec.values
        if v["study_id"] not in study_ids:
            raise InputError(f"unknown study_id '{v['study_id']}'", file=path, line=rec.line,
                             column="study_id", hint="add the study to studies.csv first")
        for arm in ("treated", "control"):
            if v[f"events_{arm}"] > v[f"n_{arm}"]:
                raise InputError(f"events_{arm}={v[f'events_{arm}']} exceeds n_{arm}="
                                 f"{v[f'n_{arm}']}", file=path, line=rec.line,
                                 column=f"events_{arm}")
        key = (v["study_id"], v["comparison"], v["outcome"], v["timepoint_days"])
        if key in seen:
            raise InputError(f"duplicate row for {key[0]}/{key[1]}/{key[2]} at day {key[3]} "
                             f"(first on line {seen[key]})", file=path, line=rec.line,
                             column="comparison")
        seen[key] = rec.line
    _check_primary(path, records)


def _check_primary(path: Path, records: list[_Record]) -> None:
    """Exactly one primary comparison per (study, outcome, timepoint)."""
    groups: dict[tuple[Any, ...], list[_Record]] = {}
    for rec in records:
        v = rec.values
        groups.setdefault((v["study_id"], v["outcome"], v["timepoint_days"]), []).append(rec)
    for (sid, outcome, day), recs in groups.items():
        primaries = [rec for rec in recs if rec.values["primary"]]
        if len(primaries) > 1:
            raise InputError(f"{sid} has {len(primaries)} primary comparisons for {outcome} at "
                             f"day {day}; exactly one may be primary (its control arm would be "
                             "counted twice)", file=path, line=primaries[1].line, column="primary")
        if not primaries:
            raise InputError(f"{sid} has no primary comparison for {outcome} at day {day}",
                             file=path, line=recs[0].line, column="primary",
                             hint="mark exactly one comparison primary=true")


# ---------------------------------------------------------------- filtering


def filter_studies(studies: pd.DataFrame,
                   filters: Mapping[str, str | Iterable[str]] | None) -> pd.DataFrame:
    """Keep the studies matching every filter.

    Arguments:
        studies: a frame from :func:`load_studies`.
        filters: ``{key: value}``; keys from :data:`FILTER_KEYS`; a value is one string or
            an iterable of strings (any of them matches); vocabulary keys accept only their
            allowed values, ``year`` accepts integers written as strings.

    Returns:
        The matching rows (a copy), original order.

    Raises:
        InputError: an unknown key (the message lists the allowed keys), a value outside
            the key's vocabulary, or a non-integer year.
    """
    mask = pd.Series(True, index=studies.index)
    for key, value in (filters or {}).items():
        if key not in FILTER_KEYS:
            raise InputError(f"unknown filter key '{key}'", field=key,
                             hint="allowed keys: " + ", ".join(FILTER_KEYS))
        wanted = _filter_values(key, value)
        column = studies[key].astype("Int64") if key == "year" else studies[key]
        if key in _OPEN_KEYS:  # no fixed vocabulary: the values the dataset has
            present = sorted(set(column.dropna().tolist()))
            unknown = [v for v in wanted if v not in present]
            if unknown:
                raise InputError(f"no study has {key} '{unknown[0]}'", field=key,
                                 hint="values in the dataset: "
                                      + ", ".join(str(v) for v in present))
        mask &= column.isin(wanted).fillna(False).astype(bool)
    return studies.loc[mask].copy()


_OPEN_KEYS = ("country", "year")


def _filter_values(key: str, value: str | Iterable[str]) -> list[Any]:
    values = [value] if isinstance(value, str | int) else list(value)
    if not values:
        raise InputError("empty list of values", field=key)
    if key == "year":
        try:
            return [_parse_year(str(v).strip()) for v in values]
        except ValueError as exc:
            raise InputError(f"bad year filter: {exc}", field=key) from None
    choices = STUDY_SCHEMA[key].choices
    for v in values:
        if not isinstance(v, str):
            raise InputError(f"filter value {v!r} is not a string", field=key)
        if choices and v not in choices:
            raise InputError(f"'{v}' is not a value of '{key}'", field=key,
                             hint="allowed values: " + ", ".join(choices))
    return values


# ---------------------------------------------------------------- comparisons


def check_timepoint(timepoint: int | None) -> None:
    """Refuse a target day of :func:`comparisons` that is not a positive whole number.

    Raises:
        InputError: naming the field ``timepoint``.
    """
    if timepoint is not None and (isinstance(timepoint, bool) or not isinstance(timepoint, int)
                                  or timepoint <= 0):
        raise InputError(f"timepoint must be a positive integer number of days, got "
                         f"{timepoint!r}", field="timepoint")


def comparisons(outcome: str = "mortality", timepoint: int | None = None,
                filters: Mapping[str, str | Iterable[str]] | None = None, *,
                primary_only: bool = True, exclude_unverified: bool = False,
                studies: pd.DataFrame | None = None,
                outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """2x2 tables for a meta-analysis: one row per study (and comparison).

    Timepoint choice, per study:

    * ``timepoint=None``: the longest reported timepoint of at most
      :data:`DEFAULT_MAX_DAYS` (90) days; studies reporting the outcome only later are left out.
    * ``timepoint=t``: rows with ``|timepoint_days - t| <= TIMEPOINT_TOLERANCE_DAYS`` (3), so
      ``t=28`` accepts days 25-31 (28-day, 30-day and "1 month" = 31); if a study has several,
      the closest to ``t`` wins, ties going to the later day.

    The chosen timepoint is the same for every comparison of a study.

    Arguments:
        outcome: one of :data:`OUTCOMES`.
        timepoint: target day, or ``None`` for the rule above.
        filters: study filters, see :func:`filter_studies`.
        primary_only: ``True`` (default) returns only the ``primary`` comparison of each
            study, so no control arm is counted twice. ``False`` also returns the other
            comparisons of multi-arm trials, which share a control arm: never pool them all.
        exclude_unverified: drop rows whose counts are marked ``unverified``.
        studies, outcomes: frames from the loaders; ``None`` loads the shipped dataset.

    Returns:
        Columns :data:`COMPARISON_COLUMNS`: ``ai`` events treated, ``n1`` n treated,
        ``ci`` events control, ``n2`` n control (metafor naming), plus the timepoint, the
        verification tag and study covariates; sorted by ``pub_date`` then ``study_id``.
        Empty (same columns) when nothing matches.

    Raises:
        InputError: an unknown outcome (the message lists the outcomes), a timepoint that
            is not a positive integer, or a bad filter.
    """
    if outcome not in OUTCOMES:
        raise InputError(f"unknown outcome '{outcome}'", field="outcome",
                         hint="available outcomes: " + ", ".join(OUTCOMES))
    check_timepoint(timepoint)
    studies = load_studies() if studies is None else studies
    outcomes = load_outcomes(studies=studies) if outcomes is None else outcomes
    kept = filter_studies(studies, filters)
    rows = outcomes[(outcomes["outcome"] == outcome) & outcomes["study_id"].isin(kept["study_id"])]
    if exclude_unverified:
        rows = rows[rows["verified"] != "unverified"]
    rows = _pick_timepoint(rows, timepoint)
    if primary_only:
        rows = rows[rows["primary"]]
    table = rows.rename(columns={"events_treated": "ai", "n_treated": "n1",
                                 "events_control": "ci", "n_control": "n2"})
    table = table.merge(kept[["study_id", *_COVARIATES]], on="study_id", how="left")
    table = table.sort_values(["pub_date", "study_id", "primary", "comparison"],
                              ascending=[True, True, False, True], kind="stable")
    return table.loc[:, list(COMPARISON_COLUMNS)].reset_index(drop=True)


def _pick_timepoint(rows: pd.DataFrame, timepoint: int | None) -> pd.DataFrame:
    days = rows["timepoint_days"].astype("int64")
    if timepoint is None:
        rows = rows[days <= DEFAULT_MAX_DAYS]
        chosen = rows.groupby("study_id")["timepoint_days"].transform("max")
        return rows[rows["timepoint_days"] == chosen]
    distance = (days - timepoint).abs()
    rows = rows.assign(_distance=distance)[distance <= TIMEPOINT_TOLERANCE_DAYS]
    best = rows.sort_values(["study_id", "_distance", "timepoint_days"],
                            ascending=[True, True, False]).drop_duplicates("study_id")
    chosen = rows["study_id"].map(best.set_index("study_id")["timepoint_days"])
    return rows[rows["timepoint_days"] == chosen].drop(columns="_distance")
