"""Virtual population: determinism, covariates, clinical course, storage, bad input."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mscsim import InputError
from mscsim.model import PathwayRules, load_model
from mscsim.population import (
    PARAMETER_COLUMNS,
    Calibration,
    GenerationOptions,
    clinical_course,
    generate_population,
    read_population,
    summarise,
    write_population,
)
from mscsim.population._sampling import (
    COVARIATE_STREAM,
    draw_covariates,
    draw_parameters,
    rng_for,
    sample_covariates,
)
from mscsim.population._tables import age_bands
from mscsim.simulate import BatchResult

from .conftest import fast_extra

SMALL = GenerationOptions(days=40, points_per_day=4)


@pytest.fixture(scope="module")
def small_population():
    return generate_population(48, seed=7, options=SMALL, engine="serial", chunk_size=48)


def test_same_seed_same_patients_whatever_engine_workers_and_chunks(small_population) -> None:
    other = generate_population(48, seed=7, options=SMALL, engine="process", workers=2,
                                chunk_size=11)
    pd.testing.assert_frame_equal(small_population.patients, other.patients)


def test_a_patient_does_not_depend_on_population_size(small_population) -> None:
    prefix = generate_population(20, seed=7, options=SMALL, engine="serial", chunk_size=7)
    pd.testing.assert_frame_equal(prefix.patients,
                                  small_population.patients.iloc[:20].reset_index(drop=True))


@fast_extra
def test_compiled_back_end_gives_the_same_patients_and_courses(small_population) -> None:
    compiled = generate_population(48, seed=7, options=GenerationOptions(
        days=40, points_per_day=4, backend="compiled"), engine="serial", chunk_size=48)
    a, b = small_population.patients, compiled.patients
    for column in ("age", "male", "p_ifn", "hospitalised", "ventilated", "attempts"):
        assert a[column].tolist() == b[column].tolist(), column
    # the back ends agree within 1e-4 on trajectories; event days sit on a 6-hour grid
    for column in ("symptom_onset_day", "admission_day"):
        np.testing.assert_allclose(a[column], b[column], atol=0.25, equal_nan=True)
    np.testing.assert_allclose(a.death_probability, b.death_probability, rtol=1e-3, atol=1e-6)
    assert compiled.manifest["options"]["backend"] == "compiled"


def test_unknown_back_end_is_refused() -> None:
    with pytest.raises(InputError, match="unknown back end 'gpu'"):
        GenerationOptions(backend="gpu")


def test_another_seed_gives_other_patients(small_population) -> None:
    other = generate_population(10, seed=8, options=SMALL, engine="serial")
    assert not np.allclose(other.patients.age, small_population.patients.age[:10])


def test_every_drawn_parameter_is_kept_in_the_population_table() -> None:
    """A trial re-simulates patients from the table's parameter columns alone, so every value
    the sampler sets (random effects, covariate effects, ceiling of care) must be a column."""
    model = load_model()
    calibration = Calibration.load()
    drawn: set[str] = set()
    for patient in range(200):  # old and young, with and without comorbidities
        covariates = draw_covariates(5, patient, calibration)
        drawn |= set(draw_parameters(model, 5, patient, covariates, calibration))
    assert drawn <= set(PARAMETER_COLUMNS), drawn - set(PARAMETER_COLUMNS)


def test_covariate_distributions_follow_their_tables() -> None:
    draws = [sample_covariates(rng_for(11, i, COVARIATE_STREAM)) for i in range(6000)]
    ages = np.array([d.age for d in draws])
    for band in age_bands():
        share = np.mean((ages >= band.low) & (ages < band.high))
        assert share == pytest.approx(band.share, abs=4 * np.sqrt(band.share / 6000) + 0.002)
    htn = np.array([d.hypertension for d in draws])
    assert htn[ages >= 60].mean() > htn[(ages >= 18) & (ages < 40)].mean() + 0.3
    weights = np.array([d.body_weight_kg for d in draws])
    assert weights[ages >= 18].mean() == pytest.approx(75, abs=8)
    assert weights[ages < 5].max() < 25


def test_population_rows_are_complete_and_plausible(small_population) -> None:
    p = small_population.patients
    assert len(p) == 48 and list(p.patient) == list(range(48))
    ok = small_population.ok
    assert len(ok) == 48
    assert ok.peak_viral_load_log10.between(4, 10).all()
    assert (ok.death_threshold > 0).all()
    assert (ok.died == np.isfinite(ok.death_day)).all()
    assert (ok.peak_who[ok.died] == 10).all()
    admitted = ok[ok.hospitalised]
    assert (admitted.admission_day >= 0).all()


def _batch(times, **series) -> BatchResult:
    names = tuple(series)
    values = np.stack([np.asarray(series[n], dtype=float) for n in names], axis=-1)
    status = pd.DataFrame({"patient": range(values.shape[0]), "status": "ok", "message": ""})
    return BatchResult(status=status, times=np.asarray(times, float), values=values,
                       outputs=names, backend="test", model_hash="")


def test_clinical_course_definitions_on_a_hand_made_course() -> None:
    t = np.arange(0, 40.0, 0.25)

    def curve(days, values):  # piecewise-linear series on the quarter-day grid
        return [np.interp(t, days, values)] * 2

    series = dict(
        viral_load_log10=curve([0, 3, 6, 12, 14], [0, 8, 5, 1.5, 0]),
        viral_rna_log10=curve([0, 3, 6, 12, 18, 22], [0, 8, 6, 4, 2.5, 0]),
        il6_pg_ml=curve([0, 2, 8, 14, 30], [2, 12, 80, 30, 3]),
        ifn_pg_ml=curve([0, 1, 3, 6, 40], [0, 2, 4, 1, 0]),
        lymphocytes_1e9_l=curve([0, 8, 20, 40], [1.8, 0.6, 1.2, 1.6]),
        cd4_blood_1e6_l=curve([0, 8, 20, 40], [750, 250, 500, 700]),
        cd8_blood_1e6_l=curve([0, 8, 20, 40], [450, 120, 300, 420]),
        pf_ratio_mmhg=curve([0, 5, 9, 10, 14, 18, 26, 40], [450, 450, 250, 90, 90, 250, 420, 450]),
        spo2_pct=curve([0, 5, 9, 10, 14, 18, 26, 40], [97, 97, 90, 70, 70, 90, 96, 97]),
        lung_damage_frac=curve([0, 5, 10, 14, 26, 40], [0, 0.1, 0.5, 0.5, 0.1, 0]),
        organ_dysfunction=curve([0, 10, 16, 30], [0, 0.2, 0.4, 0]),
        cum_hazard=curve([0, 10, 20, 40], [0, 0.1, 0.8, 0.9]),
    )
    batch = _batch(t, **series)
    rules = PathwayRules.from_parameters(load_model().parameter_defaults)
    course = clinical_course(batch, np.array([0.4, 5.0]), np.array([1.0, 1.0]), rules)
    dies, lives = course.iloc[0], course.iloc[1]
    # symptom onset: IL-6 above the symptom threshold (10 pg/mL) from day 2 (interpolated);
    # type-I IFN stays below its threshold
    assert rules.ifn_symptom_threshold > 4
    assert 1.5 <= lives.symptom_onset_day <= 2.25
    assert lives.peak_ifn_pg_ml == 4 and lives.peak_il6_pg_ml == 80
    # admitted after sustained hypoxaemia (SpO2 < 94% from about day 6.3)
    assert 6.25 <= lives.admission_day <= 7.5 and lives.support_at_admission == "oxygen"
    # invasive ventilation after P/F < 100 is sustained, in the ICU, and weaned before discharge
    assert lives.admission_day < lives.icu_day <= lives.ventilation_day <= 11
    assert lives.ventilated and lives.icu and lives.max_support == "imv"
    assert lives.ventilation_day < lives.discharge_day < 40 and not lives.died
    # the one who dies: ventilated from day 10 (hazard 0.1), where the ODE's hazard rate 0.07
    # counts imv_hazard_factor times, so 0.4 is reached at day 10 + 0.3 / (0.07 * factor)
    assert dies.ventilation_day == 10
    factor = rules.imv_hazard_factor
    assert factor < 1 and dies.death_day == pytest.approx(10 + 0.3 / (0.07 * factor), abs=0.25)
    without_relief = clinical_course(batch, np.array([0.4, 5.0]), np.array([1.0, 1.0]),
                                     replace(rules, imv_hazard_factor=1.0)).iloc[0]
    assert without_relief.death_day == pytest.approx(10 + 0.3 / 0.07, abs=0.25)
    assert np.isnan(dies.discharge_day) and np.isnan(dies.recovery_day)
    # the viral peak is that of replicating virus; clearance that of PCR-detectable RNA, which
    # falls below 2 log10 copies/mL at day 18.8 (after the virus, gone by day 12.7)
    assert lives.peak_viral_load_day == 3 and 18.75 <= lives.viral_clearance_day <= 19.0
    assert lives.cd4_nadir_1e6_l == 250 and lives.cd8_nadir_1e6_l == 120
    assert lives.lymphopenia_at_admission


def test_write_and_read_round_trip(small_population, tmp_path) -> None:
    folder = write_population(small_population, tmp_path / "pop")
    again = read_population(folder)
    pd.testing.assert_frame_equal(again.patients, small_population.patients)
    assert again.manifest["seed"] == 7
    assert summarise(again) == summarise(small_population)


def test_summary_has_the_documented_keys(small_population) -> None:
    s = summarise(small_population)
    for key in ("n", "hospitalised_frac", "ifr", "ifr_by_age", "incubation_median_days",
                "peak_viral_load_log10_median", "onset_to_admission_median_days",
                "admitted_lymphopenia_frac"):
        assert key in s
    assert list(s["ifr_by_age"]) == ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59",
                                     "60-69", "70-79", "80+"]
    json.dumps(s)


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0, "seed": 1}, "n must be a positive integer"),
    ({"n": -5, "seed": 1}, "n must be a positive integer"),
    ({"n": 2.5, "seed": 1}, "n must be a positive integer"),
    ({"n": 5, "seed": -1}, "seed must be a non-negative integer"),
    ({"n": 5, "seed": 1, "chunk_size": 0}, "chunk size"),
    ({"n": 5, "seed": 1, "engine": "gpu"}, "unknown engine 'gpu'"),
])
def test_bad_generation_arguments(kwargs, message) -> None:
    with pytest.raises(InputError, match=message):
        generate_population(**kwargs)


def test_writing_into_a_non_empty_folder_is_refused(small_population, tmp_path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        write_population(small_population, tmp_path / "x")
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("unsealed", [False, True], ids=["sealed", "written_before_seals"])
@pytest.mark.parametrize("damage, message, sealed_message", [
    ("no_manifest", "manifest.json is missing", None),
    ("bad_json", "not valid JSON", None),
    ("wrong_kind", "not an mscsim population manifest", None),
    ("corrupt_parquet", "cannot read patients table", "chunk 0 is damaged"),
    ("missing_column", "lacks columns: age", "chunk 0 is damaged"),
    ("wrong_n", "manifest says", "no\\s+longer match its manifest_sha256"),
])
def test_malformed_population_folder(small_population, tmp_path, damage, message,
                                     sealed_message, unsealed) -> None:
    """A sealed folder's damage is caught by its checksums and seal; a folder written before
    them (no seal) still gets the reader's own checks."""
    folder = write_population(small_population, tmp_path / "pop")
    manifest = folder / "manifest.json"
    if unsealed:
        data = json.loads(manifest.read_text())
        data.pop("manifest_sha256")
        manifest.write_text(json.dumps(data))
    elif sealed_message:
        message = sealed_message
    if damage == "no_manifest":
        manifest.unlink()
    elif damage == "bad_json":
        manifest.write_text("{")
    elif damage == "wrong_kind":
        manifest.write_text(json.dumps({"kind": "other"}))
    elif damage == "corrupt_parquet":
        (folder / "chunks" / "chunk-000000.parquet").write_bytes(b"not parquet")
    elif damage == "missing_column":
        small_population.patients.drop(columns="age").to_parquet(
            folder / "chunks" / "chunk-000000.parquet")
    elif damage == "wrong_n":
        data = json.loads(manifest.read_text())
        data["n"] = 3
        manifest.write_text(json.dumps(data))
    with pytest.raises(InputError, match=message):
        read_population(folder)


def test_support_scales_only_the_hazard_accrued_on_invasive_ventilation() -> None:
    from mscsim.model import IMV, supported_hazard

    times = np.arange(0, 10.0, 0.5)
    cum = np.vstack([np.cumsum(np.full(len(times), 0.1)) - 0.1] * 2)
    support = np.full(cum.shape, -1)
    support[0, 4:8] = IMV  # four grid points on IMV: increments 4..7 -> 5..8
    hazard = supported_hazard(cum, support, 0.5)
    np.testing.assert_allclose(hazard[1], cum[1])  # never ventilated: unchanged
    assert hazard[0, 4] == pytest.approx(cum[0, 4])
    assert hazard[0, -1] == pytest.approx(cum[0, -1] - 4 * 0.1 * 0.5)
    # proportional in the ODE's hazard (the population calibration relies on it)
    np.testing.assert_allclose(supported_hazard(3 * cum, support, 0.5), 3 * hazard)


def test_type_one_interferon_alone_makes_a_patient_symptomatic() -> None:
    """A mild course whose IL-6 never reaches its symptom threshold is symptomatic while
    type-I IFN is above its own (the flu-like phase), and only then; the WHO scale outside
    hospital follows the same definition."""
    from mscsim.model import care_pathway, symptomatic

    rules = PathwayRules.from_parameters(load_model().parameter_defaults)
    t = np.arange(0, 40.0, 0.25)
    high = rules.ifn_symptom_threshold * 1.5
    ifn = np.interp(t, [0, 2, 4, 6, 40], [0, 0, high, 0, 0])
    series = dict(
        viral_load_log10=np.interp(t, [0, 4, 12, 14], [0, 6, 1, 0]),
        viral_rna_log10=np.interp(t, [0, 4, 12, 14], [0, 6, 1, 0]),
        il6_pg_ml=np.full_like(t, 3.0), ifn_pg_ml=ifn,
        lymphocytes_1e9_l=np.full_like(t, 1.8), cd4_blood_1e6_l=np.full_like(t, 750),
        cd8_blood_1e6_l=np.full_like(t, 450), pf_ratio_mmhg=np.full_like(t, 450),
        spo2_pct=np.full_like(t, 97), lung_damage_frac=np.zeros_like(t),
        organ_dysfunction=np.zeros_like(t), cum_hazard=np.zeros_like(t))
    batch = _batch(t, **{k: [v] for k, v in series.items()})
    course = clinical_course(batch, np.array([5.0]), np.array([1.0]), rules).iloc[0]
    crossing = 2 + 2 * rules.ifn_symptom_threshold / high  # where the rising IFN crosses it
    assert crossing <= course.symptom_onset_day <= crossing + 0.25
    assert not course.hospitalised and course.peak_who == 2
    mask = symptomatic({k: v[None, :] for k, v in series.items()}, rules)[0]
    assert mask.any() and not mask[t >= 6].any() and not mask[t < crossing].any()
    path = care_pathway({k: v[None, :] for k, v in series.items()}, t, np.array([1.0]), rules)
    assert (path.who[0][mask] == 2).all() and (path.who[0][~mask] < 2).all()


def test_deteriorating_ward_patient_goes_to_intensive_care() -> None:
    """A full-care patient on oxygen (P/F 250, never HFNC) whose organ dysfunction stays at
    least ``od_icu`` for ``icu_deterioration_days`` enters intensive care then, stays while it
    is that high and steps down ``icu_step_down_days`` after it falls; the same course with
    organ dysfunction just below the threshold, or with a ceiling of care, stays on the ward
    (with the ceiling, the rule was met: ``icu_indicated``, what the ceiling of care is
    calibrated on)."""
    from mscsim.model import SUPPORT_LEVELS, care_pathway

    rules = PathwayRules.from_parameters(load_model().parameter_defaults)
    dt = 0.25
    t = np.arange(0, 30.0, dt)
    ill = (t >= 8) & (t < 20)
    base = dict(viral_rna_log10=np.zeros_like(t), il6_pg_ml=np.full_like(t, 40.0),
                ifn_pg_ml=np.zeros_like(t), pf_ratio_mmhg=np.where(ill, 250.0, 450.0),
                spo2_pct=np.where(ill, 90.0, 97.0), lung_damage_frac=np.where(ill, 0.3, 0.0))
    dysfunction = (t >= 10) & (t < 14)

    def course(level: float, imv_available: float):  # type: ignore[no-untyped-def]
        series = {**base, "organ_dysfunction": np.where(dysfunction, level, 0.0)}
        return care_pathway({k: v[None, :] for k, v in series.items()}, t,
                            np.array([imv_available]), rules)

    high = course(rules.od_icu * 1.2, 1.0)
    assert high.icu_day[0] == pytest.approx(10 + rules.icu_deterioration_days - dt)
    oxygen = SUPPORT_LEVELS.index("oxygen")
    assert (high.support[0][high.icu[0]] == oxygen).all()  # in ICU without HFNC/NIV
    left = t[high.icu[0]].max() + dt
    assert left == pytest.approx(14 + rules.icu_step_down_days - dt)
    below = course(rules.od_icu * 0.9, 1.0)
    assert np.isnan(below.icu_day[0]) and not below.icu_indicated[0]
    ceiling = course(rules.od_icu * 1.2, 0.0)  # indicated, kept on the ward
    assert np.isnan(ceiling.icu_day[0]) and ceiling.icu_indicated[0] and high.icu_indicated[0]


def test_solver_log_does_not_flood_the_terminal() -> None:
    """1,000 infections (seed 6 on this model; the seed moves when the model does) include a
    few whose CVODE run reports 't + h = t' or a failed
    error test through SUNDIALS' own logger; that log is off by default (the patient's status
    carries the failure) and comes back when the user asks for it."""
    import os
    import subprocess
    import sys

    code = ("from mscsim.population import generate_population\n"
            "generate_population(1000, 6, engine='serial')\n")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert "[WARNING]" not in quiet.stderr + quiet.stdout
    env = {**os.environ, "SUNLOGGER_WARNING_FILENAME": "stderr"}
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert "[WARNING]" in loud.stderr + loud.stdout  # the case the default silences
