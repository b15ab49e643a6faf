"""The curated MSC-COVID-19 evidence dataset and its loader."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from mscsim._errors import InputError
from mscsim.evidence import FILTER_KEYS, comparisons, filter_studies, load_outcomes, load_studies
from mscsim.evidence import _dataset as ds

DATA = Path(ds.__file__).parent / "data"


@pytest.fixture(scope="module")
def studies():
    return load_studies()


@pytest.fixture(scope="module")
def outcomes(studies):
    return load_outcomes(studies=studies)


def _rows(name: str) -> list[list[str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _broken_copy(tmp_path: Path, name: str, key: tuple[str, ...], column: str,
                 value: str) -> tuple[Path, int]:
    """Copy a shipped CSV with one cell replaced; return the copy and the cell's line.

    ``key`` holds the leading cells (study_id[, comparison, ...]) of the row to break.
    """
    rows = _rows(name)
    col = rows[0].index(column)
    index = next(i for i, row in enumerate(rows[1:], start=1) if tuple(row[:len(key)]) == key)
    rows[index][col] = value
    path = tmp_path / f"broken_{name}"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path, index + 1


def _assert_located(err: pytest.ExceptionInfo[InputError], path: Path, line: int,
                    column: str) -> None:
    text = str(err.value)
    assert path.name in text
    assert f":{line}" in text
    assert f"column {column}" in text
    assert err.value.line == line and err.value.column == column


# ------------------------------------------------------------- shipped data


def test_shipped_data_validates(studies, outcomes):
    assert len(studies) >= 20
    assert len(outcomes) >= 20
    assert set(outcomes["study_id"]) <= set(studies["study_id"])


def test_one_record_per_physical_line():
    for name in ("studies.csv", "outcomes.csv"):
        text = (DATA / name).read_text(encoding="utf-8")
        assert len(text.splitlines()) == len(_rows(name))


def test_every_study_has_doi_or_registry(studies):
    missing = studies[studies["doi"].isna() & studies["registry_id"].isna()]
    assert missing.empty, list(missing["study_id"])


def test_bowdish_30_day_mortality():
    table = comparisons("mortality", timepoint=30)
    row = table.set_index("study_id").loc["Bowdish2023"]
    assert (row["ai"], row["n1"], row["ci"], row["n2"]) == (42, 112, 47, 110)
    assert row["timepoint_days"] == 30 and row["verified"] == "primary"


@pytest.mark.parametrize("timepoint", [None, 7, 14, 28, 30, 90])
def test_no_control_group_counted_twice(studies, outcomes, timepoint):
    for outcome in ds.OUTCOMES:
        table = comparisons(outcome, timepoint, studies=studies, outcomes=outcomes)
        assert table["study_id"].is_unique, (outcome, timepoint)
        assert table["primary"].all()


def test_primary_arms_fit_within_study_arms(studies, outcomes):
    arms = studies.set_index("study_id")
    primary = outcomes[outcomes["primary"]]
    for _, row in primary.iterrows():
        study = arms.loc[row["study_id"]]
        for arm in ("n_treated", "n_control"):
            if not pd.isna(study[arm]):
                assert row[arm] <= study[arm], (row["study_id"], arm)


def test_multi_arm_trial_keeps_secondary_comparisons_out_of_default(studies, outcomes):
    default = comparisons(studies=studies, outcomes=outcomes)
    zarrabi = default[default["study_id"] == "Zarrabi2023"]
    assert list(zarrabi["comparison"]) == ["all_msc_vs_control"]
    everything = comparisons(primary_only=False, studies=studies, outcomes=outcomes)
    assert (everything["study_id"] == "Zarrabi2023").sum() == 3


def test_default_timepoint_is_longest_up_to_90_days(studies, outcomes):
    default = comparisons(studies=studies, outcomes=outcomes).set_index("study_id")
    assert default.loc["Bowdish2023", "timepoint_days"] == 30
    assert default.loc["Adas2021", "timepoint_days"] == 90


def test_timepoint_window(studies, outcomes):
    day28 = comparisons(timepoint=28, studies=studies, outcomes=outcomes).set_index("study_id")
    assert day28.loc["Lanzoni2021", "timepoint_days"] == 31
    assert "Adas2021" not in day28.index and "Leng2020" not in day28.index
    day14 = comparisons(timepoint=14, studies=studies, outcomes=outcomes).set_index("study_id")
    assert day14.loc["Bowdish2023", "ai"] == 21


def test_exclude_unverified(studies, outcomes):
    table = comparisons(exclude_unverified=True, studies=studies, outcomes=outcomes)
    assert "unverified" not in set(table["verified"])
    assert "Shi2021" not in set(table["study_id"])


def test_comparison_columns(studies, outcomes):
    table = comparisons(studies=studies, outcomes=outcomes)
    assert list(table.columns) == list(ds.COMPARISON_COLUMNS)
    assert table["pub_date"].is_monotonic_increasing


# ------------------------------------------------------------- filters


def test_filter_works(studies, outcomes):
    rct = filter_studies(studies, {"design": "RCT"})
    assert set(rct["design"]) == {"RCT"} and 0 < len(rct) < len(studies)
    table = comparisons(filters={"design": "RCT", "msc_source": ["bone_marrow"]},
                        studies=studies, outcomes=outcomes)
    assert list(table["study_id"]) == ["Bowdish2023"]
    secretome = comparisons("invasive_ventilation", filters={"product": "secretome"},
                            studies=studies, outcomes=outcomes)
    assert list(secretome["study_id"]) == ["FathiKazerooni2022"]
    assert set(filter_studies(studies, {"year": "2020"})["year"]) == {2020}


def test_unknown_filter_key_lists_allowed_keys(studies):
    with pytest.raises(InputError) as err:
        filter_studies(studies, {"colour": "blue"})
    assert "colour" in str(err.value)
    for key in FILTER_KEYS:
        assert key in str(err.value)


def test_bad_filter_value(studies):
    with pytest.raises(InputError, match="allowed values"):
        filter_studies(studies, {"product": "exosomes"})
    with pytest.raises(InputError, match="year"):
        filter_studies(studies, {"year": "last"})


def test_unknown_outcome_lists_outcomes():
    with pytest.raises(InputError) as err:
        comparisons("death")
    for name in ds.OUTCOMES:
        assert name in str(err.value)


@pytest.mark.parametrize("timepoint", [0, -3, 2.5, True, "28"])
def test_bad_timepoint(timepoint):
    with pytest.raises(InputError, match="timepoint"):
        comparisons(timepoint=timepoint)


# ------------------------------------------------------------- malformed rows


@pytest.mark.parametrize(("key", "column", "value"), [
    (("Shu2020",), "design", "cohort"),
    (("Shu2020",), "pub_date", "2020-13-45"),
    (("Monsel2022",), "n_treated", "-21"),
    (("Monsel2022",), "n_control", "many"),
    (("Bowdish2023",), "severity", "severe-ish"),
    (("Xu2021",), "study_id", "Shu2020"),
    (("Haberle2021",), "doi", "not-a-doi"),
    (("Adas2021",), "dose_days", "0;6;3"),
    (("Lanzoni2021",), "year", "2031"),
    (("Dilogo2021",), "population", ""),
])
def test_malformed_study_cell(tmp_path, key, column, value):
    path, line = _broken_copy(tmp_path, "studies.csv", key, column, value)
    with pytest.raises(InputError) as err:
        load_studies(path)
    _assert_located(err, path, line, column)


def test_study_without_doi_or_registry(tmp_path):
    first, _ = _broken_copy(tmp_path, "studies.csv", ("Lanzoni2021",), "doi", "")
    rows = list(csv.reader(first.open(newline="", encoding="utf-8")))
    line = next(i for i, row in enumerate(rows, start=1) if row[0] == "Lanzoni2021")
    rows[line - 1][rows[0].index("registry_id")] = ""
    path = tmp_path / "no_ids.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    with pytest.raises(InputError) as err:
        load_studies(path)
    _assert_located(err, path, line, "doi")


@pytest.mark.parametrize(("key", "column", "value"), [
    (("Shu2020", "main"), "study_id", "Nobody2020"),
    (("Shu2020", "main"), "events_treated", "-1"),
    (("Dilogo2021", "main"), "events_control", "21"),
    (("Bowdish2023", "main", "true", "mortality", "died by day 14"), "timepoint_days", "thirty"),
    (("Zhu2021", "main", "true", "mortality"), "outcome", "death"),
    (("Xu2021", "main"), "verified", "yes"),
    (("Zarrabi2023", "msc_vs_control"), "primary", "true"),
    (("Zarrabi2023", "all_msc_vs_control"), "primary", "false"),
])
def test_malformed_outcome_cell(tmp_path, key, column, value):
    path, line = _broken_copy(tmp_path, "outcomes.csv", key, column, value)
    with pytest.raises(InputError) as err:
        load_outcomes(path)
    _assert_located(err, path, line, column)


def test_missing_column_is_reported_on_header_line(tmp_path):
    rows = _rows("studies.csv")
    col = rows[0].index("severity")
    path = tmp_path / "studies.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([r[:col] + r[col + 1:] for r in rows])
    with pytest.raises(InputError) as err:
        load_studies(path)
    _assert_located(err, path, 1, "severity")


def test_missing_file():
    with pytest.raises(InputError, match="not found"):
        load_studies("/nonexistent/studies.csv")


def test_loader_never_reads_shared_reference():
    source = Path(ds.__file__).read_text(encoding="utf-8")
    assert "shared" not in source
