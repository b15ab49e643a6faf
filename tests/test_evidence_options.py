"""``MetaAnalysisOptions``: bad options fail on construction, naming the field, before the
evidence dataset is read; the CLI builds the same object."""

from __future__ import annotations

import pytest

from mscsim import InputError
from mscsim.cli import main
from mscsim.evidence import FitControl, MetaAnalysisOptions, analyse_outcome


@pytest.fixture
def no_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the evidence dataset fails the test."""
    from mscsim.evidence import _dataset

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the evidence dataset was read")
    for name in ("comparisons", "load_studies", "load_outcomes"):
        monkeypatch.setattr(_dataset, name, refuse)


@pytest.mark.parametrize(("options", "field"), [
    ({"method": "BAYES"}, "method"),
    ({"measure": "SMD"}, "measure"),
    ({"measure": "RD", "method": "PETO"}, "measure"),
    ({"measure": "PETO", "method": "MH"}, "measure"),
    ({"knha": "yes"}, "knha"),
    ({"timepoint": 0}, "timepoint"),
    ({"filters": ["design"]}, "--filter"),
    ({"filters": {"colour": "red"}}, "--filter"),
    ({"level": 0}, "level"),
    ({"add": -0.5}, "add"),
    ({"to": "some"}, "to"),
    ({"drop00": "no"}, "drop00"),
    ({"correction": "median"}, "correction"),
    ({"control": {"maxiter": 5}}, "control"),
])
def test_bad_options_fail_on_construction_naming_the_field(no_dataset, options, field) -> None:
    with pytest.raises(InputError) as err:
        MetaAnalysisOptions(**options)
    assert err.value.field == field


def test_defaults_and_derived_values() -> None:
    options = MetaAnalysisOptions()
    assert options.effect_measure == "RR" and options.test == "z" and options.selection == {}
    assert options.zero_cell.drop00 is False
    peto = MetaAnalysisOptions(method="PETO", knha=True, filters=["design=RCT", "design=cohort"],
                           control=FitControl())
    assert peto.effect_measure == "PETO" and peto.test == "knha"
    assert peto.zero_cell.drop00 is True  # metafor's default for rma.peto
    assert peto.selection == {"design": ["RCT", "cohort"]}


def test_the_options_reach_the_result() -> None:
    res = analyse_outcome("mortality", MetaAnalysisOptions(measure="OR", method="DL", knha=True,
                                                       filters={"design": "RCT"}, level=0.9))
    assert (res.measure, res.method, res.test, res.level) == ("OR", "DL", "knha", 0.9)
    assert res.filters == {"design": ["RCT"]}


@pytest.mark.parametrize(("args", "field"), [
    (["meta", "--level", "0"], "level"),
    (["forest", "-o", "plot.png", "--to", "some"], "to"),
    (["funnel", "-o", "plot.png", "--correction", "median"], "correction"),
    (["cumulative", "--timepoint", "-3"], "timepoint"),
])
def test_the_cli_refuses_bad_options_before_reading_the_dataset(
        no_dataset, capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch, args,
        field) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["evidence", *args])
    assert exit_.value.code != 0
    err = capsys.readouterr().err
    assert err.startswith("mscsim: error:") and f"field '{field}'" in err, err
    assert list(tmp_path.iterdir()) == []
