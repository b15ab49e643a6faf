"""``mscsim evidence list/export/meta/forest/funnel/cumulative`` through the real entry
point ``mscsim.cli.main`` (one-line errors, exit codes, no partial output files)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from mscsim.cli import main
from mscsim.evidence import comparisons, escalc, rma


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(["evidence", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("mscsim: error:")
    for frag in fragments:
        assert frag in lines[0]


def test_meta_json(capsys) -> None:
    code, out, err = run(capsys, "meta", "--outcome", "mortality", "--measure", "RR",
                         "--method", "REML", "--json")
    assert code == 0, err
    d = json.loads(out)
    for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "log_estimate", "se",
                "tau2", "i2", "q", "k", "studies", "zero_cell", "filters", "method",
                "measure"):
        assert key in d, key
    table = comparisons("mortality")
    assert d["k"] == len(table)
    assert d["estimate"] == pytest.approx(math.exp(d["log_estimate"]))
    assert d["ci_low"] == pytest.approx(math.exp(d["log_ci_low"]))
    assert d["ci_low"] < d["estimate"] < d["ci_high"]
    assert d["pi_low"] <= d["ci_low"] and d["pi_high"] >= d["ci_high"]
    study = d["studies"][0]
    assert {"study_id", "ai", "n1", "ci", "n2", "yi", "vi", "weight"} <= set(study)
    assert [s["study_id"] for s in d["studies"]] == table["study_id"].tolist()
    assert [s["ai"] for s in d["studies"]] == table["ai"].tolist()
    # the same numbers as the API on the same counts
    eff = escalc("RR", table["ai"].astype(float), table["n1"].astype(float),
                 table["ci"].astype(float), table["n2"].astype(float))
    assert d["log_estimate"] == pytest.approx(rma(eff).estimate, abs=1e-12)
    assert d["zero_cell"] == {"add": 0.5, "to": "only0", "drop00": False,
                              "correction": "constant"}


def test_meta_knha_filter_timepoint(capsys) -> None:
    code, out, err = run(capsys, "meta", "--measure", "OR", "--method", "DL", "--knha",
                         "--filter", "design=RCT", "--timepoint", "28", "--json")
    assert code == 0, err
    d = json.loads(out)
    expected = comparisons("mortality", 28, {"design": ["RCT"]})
    assert d["k"] == len(expected)
    assert d["test"] == "knha" and d["df"] == d["k"] - 1
    assert d["filters"] == {"design": ["RCT"]}
    assert d["source"]["timepoint"] == 28
    assert d["measure"] == "OR" and d["method"] == "DL"


def test_meta_risk_difference_is_not_exponentiated(capsys) -> None:
    code, out, _ = run(capsys, "meta", "--measure", "RD", "--method", "MH", "--json")
    assert code == 0
    d = json.loads(out)
    assert "log_estimate" not in d and d["scale"] == "identity"
    assert -1 < d["estimate"] < 1
    assert d["zero_cell"]["drop00"] is True  # metafor's rma.mh default


def test_meta_text_and_subgroups(capsys) -> None:
    code, out, _ = run(capsys, "meta")
    assert code == 0 and "Pooled RR" in out and "Heterogeneity" in out
    code, out, _ = run(capsys, "meta", "--subgroup", "design", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["variable"] == "design"
    assert set(d["subgroups"]) == set(comparisons("mortality")["design"])
    assert "q_between" in d["test_for_subgroup_differences"]


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_forest_writes_a_plot(capsys, tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"forest{suffix}"
    code, out, err = run(capsys, "forest", "--measure", "RR", "--subgroup", "severity",
                         "-o", str(target))
    assert code == 0, err
    data = target.read_bytes()
    assert data[:4] == b"\x89PNG" if suffix == ".png" else b"<svg" in data[:1000]
    assert len(data) > 10_000


def test_funnel_and_cumulative(capsys, tmp_path: Path) -> None:
    code, out, err = run(capsys, "funnel", "-o", str(tmp_path / "funnel.png"), "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["egger"]["model"] == "rma" and "k0" in d["trimfill"]
    assert d["rank_test"]["exact"] and 0 <= d["rank_test"]["pval"] <= 1
    assert (tmp_path / "funnel.png").exists()
    code, out, err = run(capsys, "cumulative", "--json", "-o", str(tmp_path / "cum.csv"))
    assert code == 0, err
    d = json.loads(out)
    table = comparisons("mortality")
    assert [r["k"] for r in d["rows"]] == list(range(1, len(table) + 1))
    dates = [r["order_value"] for r in d["rows"]]
    assert dates == sorted(dates)
    csv = pd.read_csv(tmp_path / "cum.csv")
    assert len(csv) == len(table)
    code, out, err = run(capsys, "cumulative", "-o", str(tmp_path / "cum.svg"))
    assert code == 0, err
    assert (tmp_path / "cum.svg").exists()


def test_list_and_export(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "list", "--filter", "design=RCT", "--json")
    assert code == 0
    rows = json.loads(out)
    assert rows and all(r["design"] == "RCT" for r in rows)
    target = tmp_path / "mortality.csv"
    code, out, _ = run(capsys, "export", "-o", str(target), "--filter", "design=RCT")
    assert code == 0
    exported = pd.read_csv(target)
    assert exported["study_id"].tolist() == \
        comparisons("mortality", filters={"design": ["RCT"]})["study_id"].tolist()


@pytest.mark.parametrize(("args", "fragments"), [
    (["meta", "--filter", "dsign=RCT"], ["unknown filter key 'dsign'", "allowed keys"]),
    (["meta", "--filter", "design"], ["KEY=VALUE"]),
    (["meta", "--filter", "design=RCTs"], ["'RCTs' is not a value of 'design'"]),
    (["meta", "--measure", "SMD"], ["unsupported effect measure 'SMD'"]),
    (["meta", "--method", "BAYES"], ["unknown meta-analysis method"]),
    (["meta", "--measure", "RD", "--method", "PETO"], ["odds ratio"]),
    (["meta", "--filter", "country=Atlantis"], ["no study has country 'Atlantis'",
                                                 "values in the dataset: Belgium"]),
    (["meta", "--outcome", "happiness"], ["unknown outcome"]),
    (["meta", "--subgroup", "colour"], ["cannot form subgroups"]),
])
def test_bad_input_gives_one_line_errors(capsys, args, fragments) -> None:
    code, out, err = run(capsys, *args)
    assert_one_line_error(code, err, *fragments)
    assert out == ""


@pytest.mark.parametrize("command", ["forest", "funnel", "cumulative"])
def test_failed_commands_leave_no_output_file(capsys, tmp_path: Path, command: str) -> None:
    target = tmp_path / "plot.png"
    code, _, err = run(capsys, command, "--filter", "country=Belgium", "--filter",
                       "design=RCT", "-o", str(target))
    assert_one_line_error(code, err, "no studies left")
    assert list(tmp_path.iterdir()) == []
    code, _, err = run(capsys, "forest", "-o", str(tmp_path / "plot.txt"))
    assert_one_line_error(code, err, "cannot write a plot")
    code, _, err = run(capsys, "export", "-o", str(tmp_path / "x.csv"), "--filter", "x=1")
    assert_one_line_error(code, err, "unknown filter key")
    assert list(tmp_path.iterdir()) == []


def test_k1_is_a_defined_result_with_a_warning(capsys) -> None:
    table = comparisons("mortality")
    counts = table["country"].value_counts()
    single = counts[counts == 1].index
    if len(single) == 0:
        pytest.skip("no country with a single study in the dataset")
    code, out, err = run(capsys, "meta", "--filter", f"country={single[0]}", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["k"] == 1 and d["tau2"] == 0 and d["i2"] is None and d["q"] is None
    assert "warning" in err and "k=1" in err
