"""Trial specs: validation errors name the field and line; examples load; schema is current."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mscsim import InputError
from mscsim.trial import design_names, design_path, load_spec, spec_from_dict
from mscsim.trial._designs import DESIGNS_DIR
from mscsim.trial._spec import spec_json_schema_text
from tests._trial_helpers import BASE_SPEC, toml_text

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(DESIGNS_DIR.glob("*.toml"))


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


def test_examples_exist_and_load() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"leng2020", "lanzoni2021", "stroma_cov2_2022", "bowdish2023", "phase3"} <= names
    for path in EXAMPLES:
        spec = load_spec(path)
        assert spec.trial.mirrors or spec.trial.name == "phase3", path
        assert spec.trial.notes, path


def test_designs_ship_inside_the_package() -> None:
    import mscsim

    assert DESIGNS_DIR.parent == Path(mscsim.__file__).parent / "trial"
    assert design_names() == [p.stem for p in EXAMPLES]


def test_a_design_is_named_or_given_as_a_path(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert design_path("leng2020") == DESIGNS_DIR / "leng2020.toml"
    assert load_spec("leng2020") == load_spec(DESIGNS_DIR / "leng2020.toml")
    own = tmp_path / "leng2020"  # an existing file wins over the shipped name
    own.write_text(toml_text(BASE_SPEC))
    assert load_spec("leng2020").trial.name == "tiny"
    for missing in ("leng2021", "sub/leng2020", "leng2020.toml"):
        with pytest.raises(InputError, match="trial spec not found.*shipped designs: "
                                             "bowdish2023, lanzoni2021, leng2020"):
            load_spec(missing)


def test_leng_design_is_the_published_one() -> None:
    spec = load_spec("leng2020")
    assert spec.sample_size == 10 and spec.follow_up_days == 14
    assert spec.allocation.ratio == {"msc": 7, "placebo": 3}
    assert spec.treated.offsets() == [0.0] and spec.treated.dose_cells_per_kg == 1e6


def test_schema_export_is_current() -> None:
    stored = (ROOT / "docs" / "trial_spec.schema.json").read_text(encoding="utf-8")
    hint = "run: mscsim trial schema -o docs/trial_spec.schema.json"
    assert stored == spec_json_schema_text(), hint


def test_base_spec_is_valid() -> None:
    spec = spec_from_dict(copy.deepcopy(BASE_SPEC))
    assert spec.treated.name == "msc" and spec.control.name == "placebo"
    assert spec.treated_fraction() == 0.5
    assert "mortality_d90" not in spec.all_endpoints()  # follow-up is 28 days


@pytest.mark.parametrize(("change", "field", "needle", "message"), [
    (lambda d: d.update(colour="red"), "colour", "colour =", "unknown field"),
    (lambda d: d["allocation"].update(methd="blocks"), "allocation.methd", "methd",
     "unknown field"),
    (lambda d: d.update(sample_size="ten"), "sample_size", "sample_size =", "integer"),
    (lambda d: d["allocation"].update(ratio={"msc": 0, "placebo": 1}),
     "allocation.ratio.msc", "ratio =", "greater than 0"),
    (lambda d: d["allocation"].update(ratio={"msc": -1, "placebo": 1}),
     "allocation.ratio.msc", "ratio =", "greater than 0"),
    (lambda d: d["arms"][1].update(doses="two"), "arms[1].doses", "doses = \"two\"", "integer"),
    (lambda d: d["eligibility"].update(ards=["awful"]), "eligibility.ards[0]", "ards =",
     "mild"),
    (lambda d: d["population"].update(calibration="who"), "population.calibration",
     "calibration =", "'salje' or 'levin'"),
    (lambda d: d["population"].update(backend="gpu"), "population.backend", "backend =",
     "'roadrunner' or 'compiled'"),
    (lambda d: d["endpoints"].update(death_strategy={"pf_change_d7": "dropped"}),
     "endpoints.death_strategy.pf_change_d7", "death_strategy =",
     "'composite', 'while_alive' or 'survivors'"),
    (lambda d: d["endpoints"].update(death_strategy={"vfd_d28": "survivors"}),
     "endpoints.death_strategy.vfd_d28", "death_strategy =", "pf_change_d7"),
    (lambda d: d["trial"].update(evidence_study="monsel2022"), "trial.evidence_study",
     "evidence_study =", "not a study_id of the evidence dataset "
     "(mscsim/evidence/data/studies.csv); did you mean Monsel2022?"),
    (lambda d: d["trial"].update(evidence_study=2022), "trial.evidence_study",
     "evidence_study =", "Input should be a valid string"),
])
def test_field_errors_name_field_and_line(tmp_path: Path, change, field: str, needle: str,
                                          message: str) -> None:
    data = copy.deepcopy(BASE_SPEC)
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(InputError) as info:
        load_spec(path)
    err = info.value
    assert err.field == field
    assert err.line == line_of(path, needle)
    assert message in str(err)
    assert f"{path}:{err.line}" in str(err)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["allocation"].update(block_size=3), "not a multiple of the ratio sum"),
    (lambda d: d["arms"][1].update(dose_cells_per_kg=1e6, doses=1), "control arm gets no"),
    (lambda d: d["arms"][0].update(doses=0), "needs a positive dose"),
    (lambda d: d.update(endpoints={"primary": "mortality_d60"}), "needs follow_up_days >= 60"),
    (lambda d: d["allocation"].update(ratio={"msc": 1, "control": 1}), "must name every arm"),
    (lambda d: d["arms"][0].update(control=True), "control arm gets no cells"),
    (lambda d: d.update(follow_up_days=120), "less than or equal to 90"),
    (lambda d: d["endpoints"].update(primary="happiness"), "Input should be"),
    (lambda d: d["endpoints"].update(secondary=["survival"],
                                     death_strategy={"il6_change_d3": "survivors"}),
     "death_strategy names il6_change_d3, which is not an endpoint of this trial"),
])
def test_consistency_errors(change, message: str) -> None:
    data = copy.deepcopy(BASE_SPEC)
    change(data)
    with pytest.raises(InputError, match=message):
        spec_from_dict(data)


def test_missing_required_field(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE_SPEC)
    del data["sample_size"]
    with pytest.raises(InputError, match="required field is missing") as info:
        load_spec(write(tmp_path, data))
    assert info.value.field == "sample_size"


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("seed = 1\nsample_size = = 3\n", encoding="utf-8")
    with pytest.raises(InputError, match="invalid TOML") as info:
        load_spec(path)
    assert info.value.line == 2


def test_missing_file() -> None:
    with pytest.raises(InputError, match="not found"):
        load_spec("/nonexistent/spec.toml")


def test_relative_population_folder_is_resolved(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE_SPEC)
    data["population"] = {"source": "folder", "path": "pop"}
    spec = load_spec(write(tmp_path, data))
    assert spec.population.path == str((tmp_path / "pop").resolve())


def test_ratio_for_blocks_must_be_whole() -> None:
    data = copy.deepcopy(BASE_SPEC)
    data["allocation"] = {"ratio": {"msc": 1.5, "placebo": 1}, "method": "blocks"}
    with pytest.raises(InputError, match="whole-number"):
        spec_from_dict(data)
    data["allocation"]["method"] = "simple"
    assert spec_from_dict(data).treated_fraction() == pytest.approx(0.6)


def test_death_strategy_is_optional_and_read() -> None:
    data = copy.deepcopy(BASE_SPEC)
    assert spec_from_dict(data).death_strategy("pf_change_d7") == "composite"
    assert spec_from_dict(data).death_strategy("vfd_d28") is None
    data["endpoints"]["death_strategy"] = {"pf_change_d7": "while_alive"}
    spec = spec_from_dict(data)
    assert spec.death_strategy("pf_change_d7") == "while_alive"
    assert spec.death_strategy("il6_change_d3") == "composite"


def test_a_design_links_its_published_study_in_the_evidence_dataset() -> None:
    """Every shipped design that mirrors a published trial names its study_id in the evidence
    dataset; an id the dataset lacks is refused with the ids it has."""
    from mscsim.evidence import load_studies

    ids = set(load_studies()["study_id"])
    linked = {name: load_spec(name).trial.evidence_study for name in design_names()}
    assert linked == {"bowdish2023": "Bowdish2023", "lanzoni2021": "Lanzoni2021",
                      "leng2020": "Leng2020", "phase3": None,
                      "stroma_cov2_2022": "Monsel2022"}
    assert {sid for sid in linked.values() if sid} <= ids
    data = copy.deepcopy(BASE_SPEC)
    data["trial"] = {"name": "tiny", "evidence_study": "Nobody1999"}
    with pytest.raises(InputError, match="'Nobody1999' is not a study_id.*study ids: "
                                         "Leng2020, Shu2020") as info:
        spec_from_dict(data)
    assert info.value.field == "trial.evidence_study"
