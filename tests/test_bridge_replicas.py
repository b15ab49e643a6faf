"""Replicas of the published studies: specs generated from the evidence dataset rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from mscsim import InputError
from mscsim.bridge import build_replicas, parse_cutoff, split_by_cutoff
from mscsim.bridge._replicas import ASSUMED_INTERVAL_DAYS, study_seed
from mscsim.evidence import comparisons, load_outcomes, load_studies
from mscsim.trial import allocate
from mscsim.trial._enrol import doses_for


@pytest.fixture(scope="module")
def replicas():
    return {r.study_id: r for r in build_replicas(seed=3)}


def test_every_study_is_listed_with_a_spec_or_a_reason(replicas):
    studies = load_studies()
    assert set(replicas) == set(studies.study_id)
    for r in replicas.values():
        assert (r.spec is not None) != bool(r.reason)


def test_cell_free_products_and_missing_mortality_are_refused_with_the_reason(replicas):
    studies = load_studies().set_index("study_id")
    with_mortality = set(comparisons("mortality").study_id)
    for sid, r in replicas.items():
        if studies.loc[sid, "product"] != "cells":
            assert not r.replicable and "cell-free" in r.reason
        elif sid not in with_mortality:
            assert not r.replicable and "no mortality outcome" in r.reason


def test_sample_sizes_follow_up_and_allocation_match_the_publication(replicas):
    table = comparisons("mortality").set_index("study_id")
    for sid, r in replicas.items():
        if not r.replicable:
            continue
        row = table.loc[sid]
        spec = r.spec
        assert spec.sample_size == row.n1 + row.n2
        assert spec.follow_up_days == row.timepoint_days
        assert r.observed == {"ai": row.ai, "n1": row.n1, "ci": row.ci, "n2": row.n2}
        arms = allocate(spec.sample_size, spec, np.random.default_rng(0))
        assert arms.sum() == row.n1  # one permuted block of the whole trial


def test_absolute_doses_are_converted_with_each_patients_body_weight(replicas):
    studies = load_studies().set_index("study_id")
    absolute = [s for s, r in replicas.items() if r.replicable
                and not pd.isna(studies.loc[s, "dose_cells_abs"])]
    per_kg = [s for s, r in replicas.items() if r.replicable
              and not pd.isna(studies.loc[s, "dose_cells_per_kg"])]
    assert absolute and per_kg
    eligible = pd.DataFrame({"enrol_day": [5.0, 8.25], "body_weight_kg": [50.0, 100.0]})
    for sid in absolute:
        spec = replicas[sid].spec
        cells = float(studies.loc[sid, "dose_cells_abs"])
        doses = doses_for(spec, eligible, spec.treated.name)
        assert doses[0][0] == (5.0 + spec.treated.first_dose_day, pytest.approx(cells / 50))
        assert doses[1][0][1] == pytest.approx(cells / 100)
    for sid in per_kg:
        spec = replicas[sid].spec
        doses = doses_for(spec, eligible, spec.treated.name)
        want = float(studies.loc[sid, "dose_cells_per_kg"])
        assert [d[1] for pat in doses for d in pat] == pytest.approx(
            [want] * sum(len(pat) for pat in doses))


def test_number_and_timing_of_doses(replicas):
    studies = load_studies().set_index("study_id")
    for sid, r in replicas.items():
        if not r.replicable:
            continue
        arm = r.spec.treated
        assert arm.doses == int(studies.loc[sid, "n_doses"])
        days = studies.loc[sid, "dose_days"]
        if days is None or pd.isna(days):
            if arm.doses > 1:
                assert arm.interval_days == ASSUMED_INTERVAL_DAYS
                assert any("infusion days not reported" in a for a in r.assumptions)
        else:
            want = sorted(float(d) for d in str(days).split(";"))
            assert arm.offsets() == pytest.approx(want)


def test_ventilated_studies_require_ventilation(replicas):
    studies = load_studies().set_index("study_id")
    for sid, r in replicas.items():
        if r.replicable and studies.loc[sid, "ventilated"] == "yes":
            assert r.spec.eligibility.ventilated is True
            assert r.spec.enrolment.anchor == "ventilation"  # randomised after intubation
        elif r.replicable:
            assert r.spec.enrolment.anchor == "admission"
        if r.replicable and studies.loc[sid, "severity"] == "severe":
            assert r.spec.eligibility.hypoxaemia is True


def test_missing_dose_or_dose_count_is_a_reason():
    studies = load_studies()
    outcomes = load_outcomes(studies=studies)
    sid = "Shu2020"
    mod = studies.copy()
    mod.loc[mod.study_id == sid, "dose_cells_per_kg"] = pd.NA
    reps = {r.study_id: r for r in build_replicas(studies=mod, outcomes=outcomes)}
    assert reps[sid].reason == "dose not reported"
    mod = studies.copy()
    mod.loc[mod.study_id == sid, "n_doses"] = pd.NA
    reps = {r.study_id: r for r in build_replicas(studies=mod, outcomes=outcomes)}
    assert reps[sid].reason == "number of infusions not reported"


def test_trial_seed_depends_on_the_study_not_its_position():
    assert study_seed(1, "Shu2020") == study_seed(1, "Shu2020")
    assert study_seed(1, "Shu2020") != study_seed(1, "Leng2020")
    assert study_seed(1, "Shu2020") != study_seed(2, "Shu2020")
    studies = load_studies()
    a = {r.study_id: r.spec.seed for r in build_replicas(seed=4) if r.spec}
    shuffled = studies.iloc[::-1].reset_index(drop=True)
    b = {r.study_id: r.spec.seed for r in build_replicas(seed=4, studies=shuffled) if r.spec}
    assert a == b


def test_cutoff_parsing_and_split(replicas):
    assert parse_cutoff("2021-12-31") == dt.date(2021, 12, 31)
    for bad in ("2021-13-01", "31/12/2021", "", "yesterday"):
        with pytest.raises(InputError) as err:
            parse_cutoff(bad)
        assert err.value.field == "cutoff"
    before, after = split_by_cutoff(list(replicas.values()), dt.date(2021, 12, 31))
    assert all(r.pub_date <= dt.date(2021, 12, 31) for r in before)
    assert all(r.pub_date > dt.date(2021, 12, 31) for r in after)
    assert len(before) + len(after) == sum(r.replicable for r in replicas.values())
    with pytest.raises(InputError, match="no replicable study"):
        split_by_cutoff(list(replicas.values()), dt.date(2019, 1, 1))
