"""The flagship model as data: SBML validity, units, parameter table, observables."""

from __future__ import annotations

import libsbml
import numpy as np
import pytest

from mscsim import InputError, ModelError
from mscsim.model import OBSERVABLE_NAMES, Model, ParameterTable, load_model_file, sbml_errors
from mscsim.simulate import simulate


def test_sbml_passes_consistency_check_with_zero_errors(model: Model) -> None:
    assert sbml_errors(model.sbml) == []


def test_every_parameter_and_state_declares_units(model: Model) -> None:
    doc = libsbml.readSBMLFromString(model.sbml)
    missing = [p.getId() for p in doc.getModel().getListOfParameters() if not p.isSetUnits()]
    assert missing == []
    assert doc.getModel().getTimeUnits() != ""


def test_state_count_follows_model_notes(model: Model) -> None:
    assert 30 <= len(model.state_ids) <= 37
    for state in ("ln_V", "ln_RNA", "T", "R", "D", "Dh", "F", "M", "Mo1", "Mo2", "N", "IL6",
                  "TNF", "IL10", "CD8",
                  "CD4", "Treg", "CD4_blood", "CD8_blood", "BNK_blood", "B", "Ab", "MSC_blood",
                  "MSC_lung", "MSC_liver_spleen", "S", "dex_course", "Toci", "OD"):
        assert state in model.state_ids


def test_parameter_table_is_the_source_of_every_value(model: Model) -> None:
    table = model.parameter_table
    assert table is not None
    assert set(table) == set(model.parameter_defaults)
    for name, row in table.items():
        assert model.parameter_defaults[name] == pytest.approx(row.value, rel=1e-15)
        assert row.source, name
        assert row.lower <= row.value <= row.upper, name


def test_every_observable_is_an_sbml_rule_or_state_of_the_same_name(model: Model) -> None:
    assert model.observable_names == OBSERVABLE_NAMES
    doc = libsbml.readSBMLFromString(model.sbml)
    for name in OBSERVABLE_NAMES:
        assert doc.getModel().getRule(name) is not None, name


def test_exported_sbml_defaults_equal_simulate_without_patient(model: Model, tmp_path) -> None:
    path = tmp_path / "m.xml"
    path.write_text(model.sbml)
    exported = Model.from_sbml(path)
    a = simulate(exported, days=20).table
    b = simulate(days=20).table
    assert a.equals(b)


def test_antimony_export_round_trips(model: Model, tmp_path) -> None:
    path = tmp_path / "m.ant"
    path.write_text(model.antimony)
    again = load_model_file(path)
    assert again.parameter_defaults == model.parameter_defaults
    a = simulate(again, days=15).table
    b = simulate(model, days=15).table
    # the converted text orders states differently, so the solver's error control differs
    # slightly: the two runs agree to the global error that a local rtol of 1e-8 leaves over
    # a stiff course (about 1e-6 relative in the early, fast-growing states), not bit for bit
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-5, atol=1e-9)


def test_with_defaults_writes_patient_values(model: Model) -> None:
    severe = model.with_defaults(model.patient("reference-severe").parameters)
    assert severe.parameter_defaults["p_ifn"] == 25


def test_malformed_antimony_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.ant"
    path.write_text("model bad()\n  x' = k * \n  k = 1\nend\n")
    with pytest.raises(ModelError) as err:
        load_model_file(path)
    assert "bad.ant" in str(err.value)
    assert "\n" not in str(err.value)


def test_malformed_sbml_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text('<?xml version="1.0"?>\n<sbml xmlns="http://www.sbml.org/sbml/level3/'
                    'version2/core" level="3" version="2">\n<model id="m"><listOfParameters>'
                    '<parameter id="p" value="abc" constant="true"/>\n')
    with pytest.raises(ModelError) as err:
        load_model_file(path)
    assert "bad.xml:" in str(err.value)


def test_parameter_table_errors_name_file_line_and_column(tmp_path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("name,value,unit,lower,upper,variability,source,description\n"
                    "a,1,per_day,0,2,none,assumption,x\n"
                    "b,oops,per_day,0,2,none,assumption,y\n")
    with pytest.raises(InputError, match=r"p\.csv:3, column value"):
        ParameterTable.read_csv(path)
    path.write_text("name,value,unit,lower,upper,variability,source,description\n"
                    "a,1,per_day,0,2,gamma(3),assumption,x\n")
    with pytest.raises(InputError, match=r"p\.csv:2, column variability"):
        ParameterTable.read_csv(path)
    path.write_text("name,value,unit,lower,upper,variability,source,description\n"
                    "a,5,per_day,0,2,none,assumption,x\n")
    with pytest.raises(InputError, match="outside its bounds"):
        ParameterTable.read_csv(path)


def test_unknown_parameter_suggests_close_names(model: Model) -> None:
    with pytest.raises(InputError, match="did you mean p_ifn"):
        model.resolve_parameters({"p_ifm": 1.0})


def test_unknown_patient_lists_known(model: Model) -> None:
    with pytest.raises(InputError, match="reference-severe"):
        model.patient("nobody")
