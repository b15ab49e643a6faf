"""The SBML interpreter behind the scipy oracle, held against libroadrunner's own rates."""

from __future__ import annotations

import numpy as np
import pytest
import roadrunner

from mscsim.model import Model
from mscsim.model._sbml_math import compile_sbml


def test_rates_match_roadrunner_at_a_mid_course_state(model: Model) -> None:
    rr = roadrunner.RoadRunner(model.sbml)
    rr.simulate(0, 8, 9)
    compiled = model.compiled
    y = np.array([rr.getValue(s) for s in compiled.state_ids])
    ours = compiled.rhs(8.0, y, model.parameter_defaults)
    theirs = np.array([rr.getValue(f"{s}'") for s in compiled.state_ids])
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    rules = compiled.rules(8.0, y, model.parameter_defaults)
    for name in model.observable_names:
        if name in rules:
            assert rules[name] == pytest.approx(rr.getValue(name), rel=1e-10, abs=1e-12)


def test_initial_state_matches_roadrunner(model: Model) -> None:
    rr = roadrunner.RoadRunner(model.sbml)
    y0 = model.compiled.initial_state(model.parameter_defaults)
    np.testing.assert_allclose(y0, [rr.getValue(s) for s in model.compiled.state_ids],
                               rtol=1e-14)


SBML_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="m">
<listOfFunctionDefinitions>
<functionDefinition id="hill"><math xmlns="http://www.w3.org/1998/Math/MathML"><lambda>
<bvar><ci>x</ci></bvar><bvar><ci>k</ci></bvar>
<apply><divide/><ci>x</ci><apply><plus/><ci>x</ci><ci>k</ci></apply></apply>
</lambda></math></functionDefinition>
</listOfFunctionDefinitions>
<listOfParameters>
<parameter id="x" value="2" constant="false"/>
<parameter id="a" constant="false"/>
<parameter id="k" value="3" constant="true"/>
</listOfParameters>
<listOfRules>
<assignmentRule variable="a"><math xmlns="http://www.w3.org/1998/Math/MathML">
<piecewise><piece><apply><log/><logbase><cn>10</cn></logbase><ci>x</ci></apply>
<apply><geq/><ci>x</ci><cn>1</cn></apply></piece>
<otherwise><apply><ci>hill</ci><ci>x</ci><ci>k</ci></apply></otherwise></piecewise>
</math></assignmentRule>
<rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML">
<apply><minus/><apply><times/><ci>k</ci><ci>a</ci></apply><apply><root/><ci>x</ci></apply>
</apply></math></rateRule>
</listOfRules>
</model></sbml>"""


def test_function_definitions_piecewise_log_and_root() -> None:
    compiled = compile_sbml(SBML_TEMPLATE)
    assert compiled.state_ids == ("x",)
    params = compiled.parameter_defaults
    for x in (2.0, 0.5):
        a = np.log10(x) if x >= 1 else x / (x + 3)
        assert compiled.rules(0.0, np.array([x]), params)["a"] == pytest.approx(a)
        assert compiled.rhs(0.0, np.array([x]), params)[0] == pytest.approx(3 * a - np.sqrt(x))
