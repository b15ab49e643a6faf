"""Issue 14, evidence CSVs: overflowing integers, arm sizes that disagree between the two
files, oversized files and filter values the dataset does not have."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscsim import InputError
from mscsim.evidence import comparisons, filter_studies, load_outcomes, load_studies
from tests.test_evidence_dataset import _broken_copy


@pytest.mark.parametrize(("column", "value"), [
    ("events_treated", "1" + "0" * 30),   # crash 5/13: OverflowError building Int64 columns
    ("n_treated", "1" + "0" * 31),
    ("n_control", "9" * 19),              # above int64
    ("events_control", "1" + "0" * 400),  # a 400-digit cell
])
def test_a_huge_integer_is_refused_at_its_cell(tmp_path: Path, column: str, value: str) -> None:
    path, line = _broken_copy(tmp_path, "outcomes.csv", ("Shu2020", "main"), column, value)
    with pytest.raises(InputError) as info:
        load_outcomes(path)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert "Overflow" not in str(err) and len(str(err)) < 300


def test_a_huge_study_integer_is_refused(tmp_path: Path) -> None:
    path, line = _broken_copy(tmp_path, "studies.csv", ("Shu2020",), "n_treated", "1" + "0" * 25)
    with pytest.raises(InputError, match="MSCSIM_MAX_COUNT") as info:
        load_studies(path)
    assert (info.value.line, info.value.column) == (line, "n_treated")


def test_study_arm_sizes_must_match_the_outcome_rows(tmp_path: Path) -> None:
    """Silent wrong result: studies.csv n_treated = 700 against 7 in the outcomes passed."""
    path, _ = _broken_copy(tmp_path, "studies.csv", ("Leng2020",), "n_treated", "700")
    studies = load_studies(path)
    with pytest.raises(InputError, match="n_treated=700 but no outcome row") as info:
        load_outcomes(studies=studies)
    assert info.value.file is not None and info.value.file.endswith("outcomes.csv")
    assert info.value.column == "n_treated"


def test_an_outcome_row_cannot_analyse_more_patients_than_the_study_has(tmp_path: Path) -> None:
    path, line = _broken_copy(tmp_path, "outcomes.csv", ("Leng2020", "main"), "n_control", "30")
    with pytest.raises(InputError, match="n_control=30 exceeds the 3 patients") as info:
        load_outcomes(path)
    assert (info.value.line, info.value.column) == (line, "n_control")


def test_an_oversized_csv_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MSCSIM_MAX_CSV_BYTES", "1000")
    with pytest.raises(InputError, match="MSCSIM_MAX_CSV_BYTES"):
        load_studies()


@pytest.mark.parametrize(("key", "value", "listed"), [
    ("country", "Atlantis", "China"),
    ("year", "2019", "2020"),
])
def test_a_filter_value_the_dataset_lacks_lists_the_values_it_has(key, value, listed) -> None:
    with pytest.raises(InputError, match=f"no study has {key} '{value}'") as info:
        filter_studies(load_studies(), {key: value})
    assert listed in str(info.value)
    with pytest.raises(InputError, match="values in the dataset"):
        comparisons(filters={key: [value]})
