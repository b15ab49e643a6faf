"""The trial report reads in words, not in raw spec dictionaries (issue #15)."""

from __future__ import annotations

import pytest


def test_report_design_reads_in_words():
    from mscsim.trial import load_spec
    from mscsim.trial._report import _design, _replicate_rows

    spec = load_spec("lanzoni2021")
    page = _design(spec.model_dump(mode="json"))
    assert "{" not in page and "'" not in page          # no raw Python or JSON
    assert "2 infusions of 1 × 10^8 cells on days 0, 3" in page
    assert "randomised 0 to 2 days after admission" in page
    rows = dict(_replicate_rows({"replicates": 2000, "sample_size": 24, "method": "pool",
                                 "primary_endpoint": "mortality_d28", "measure": "risk ratio",
                                 "alpha": 0.05, "power": 0.022, "power_mc_se": 0.0033,
                                 "type_i_error": 0.0185, "type_i_error_mc_se": 0.003,
                                 "effect_median": 1.0, "effect_q025": 0.29,
                                 "effect_q975": 2.5, "pool_size": 120, "pool_ratio": 5.0,
                                 "pool_valid": False}))
    assert rows["power (alpha 0.05)"] == "2.2% ± 0.3% (Monte Carlo SE)"
    assert "too small for independent replicates" in rows["pool"]


def _balanced(page: str) -> None:
    """Every opened tag is closed, in order (the report's tables are plain HTML)."""
    from html.parser import HTMLParser

    stack: list[str] = []

    class Check(HTMLParser):
        def handle_starttag(self, tag, attrs):
            stack.append(tag)

        def handle_endtag(self, tag):
            assert stack and stack.pop() == tag, tag

    Check().feed(page)
    assert not stack, stack


def test_report_shows_estimands_and_the_sensitivity_row_beside_the_main_one():
    import json
    import warnings

    import numpy as np
    import pandas as pd

    from mscsim.trial import analyse_endpoints
    from mscsim.trial._report import _endpoint_table, _estimand_table
    from mscsim.trial._run import _clean
    from tests._trial_helpers import spec

    arm = np.repeat([1, 0], 6)
    frame = pd.DataFrame({"death_time": [2.0, *[np.nan] * 11], "pf0": 100.0 + np.arange(12),
                          "pf_d7": [np.nan, *(150.0 + 3 * np.arange(11.0))],
                          "vfd_d28": 20.0, "daoh_d28": np.arange(12.0) - 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        endpoints = analyse_endpoints(spec(endpoints={"primary": "pf_change_d7",
                                                      "secondary": ["daoh_d28"]}), frame, arm)
    summary = json.loads(json.dumps(_clean({"endpoints": endpoints})))   # as summary.json
    table = _endpoint_table(summary)
    rows = table.split("<tr>")[2:]
    assert rows[0].startswith("<td>pf_change_d7 (primary)</td><td>probability that MSC")
    assert rows[1].startswith("<td>pf_change_d7: sensitivity analysis (survivors only)</td>"
                              "<td>baseline-adjusted mean difference")
    assert rows[2].startswith("<td>daoh_d28</td><td>Hodges-Lehmann shift")
    page = _estimand_table(summary)
    assert "Population of every estimand: patients randomised (alive at randomisation" in page
    assert "death: composite (worst rank): a death before day 7 ranks below every survivor" \
        in page
    assert "rescue therapy: treatment policy" in page
    assert "survivors only: ANCOVA of the survivors&#x27; change (ANCOVA by ordinary" in page
    assert "death: composite: -1, below every survivor" in page
    _balanced(table + page)
    assert _estimand_table({"endpoints": {"x": {"estimate": 1.0}}}) == ""  # older summary


def test_an_endpoint_without_interval_says_why():
    """A rank-sum endpoint has a Hodges-Lehmann shift and no interval by design: the row says
    so instead of an empty reason; a warning of the analysis, when there is one, is shown."""
    from mscsim.trial._report import _endpoint_row

    rank = {"kind": "rank", "measure": "Hodges-Lehmann shift", "estimate": 0.0,
            "ci_low": None, "ci_high": None, "p_value": 0.8, "favours_msc": "no",
            "warnings": []}
    row = _endpoint_row("vfd_d28", rank)
    assert row[3] == "– to –" and "Hodges-Lehmann shift without an interval" in row[-1]
    warned = {**rank, "kind": "binary", "estimate": None, "warnings": ["no events in either arm"]}
    assert _endpoint_row("mortality", warned)[-1] == "no events in either arm"
    defined = {**rank, "ci_low": -1.0, "ci_high": 2.0}
    assert _endpoint_row("vfd_d28", defined)[-1] == ""


def test_secondary_endpoints_below_alpha_are_named_as_unadjusted():
    """A null primary beside small secondary p-values (a STROMA-CoV-2 replica's P/F and IL-10)
    is read for the reader: the secondaries are unadjusted, the ones below alpha are named, and
    cytokine endpoints are called the model's mechanism, not a benefit."""
    from mscsim.trial._report import _multiplicity_note

    def endpoint(p, primary=False):  # type: ignore[no-untyped-def]
        return {"p_value": p, "primary": primary}

    summary = {"endpoints": {"pf_change_d7": endpoint(0.6, primary=True),
                             "il10_change_d3": endpoint(1e-19), "mortality_d28": endpoint(0.4),
                             "who_d14": endpoint(None), "tnf_change_d6": endpoint(0.2)}}
    note = _multiplicity_note(summary, 0.05)
    assert "4 secondary endpoints" in note and "about 0.2" in note
    assert "Here 1 do (il10_change_d3) while the primary does not." in note
    assert "not a clinical benefit" in note
    summary["endpoints"]["pf_change_d7"] = endpoint(0.01, primary=True)
    summary["endpoints"]["il10_change_d3"] = endpoint(0.3)
    note = _multiplicity_note(summary, 0.05)
    assert "Here" not in note and "clinical benefit" not in note
    assert _multiplicity_note({"endpoints": {"x": endpoint(0.5, primary=True)}}, 0.05) == ""


def test_the_report_opens_with_the_answer_in_words():
    """A power analysis and a single run each open the report with a few sentences that carry
    the numbers of power.json and summary.json, formatted for a reader."""
    from mscsim.trial._report import _power_summary, _run_summary

    power = {"replicates": 2000, "sample_size": 10, "primary_endpoint": "mortality_d14",
             "measure": "risk ratio", "alpha": 0.05, "power": 0.003,
             "power_favouring_msc": 0.003, "power_mc_se": 0.0012, "type_i_error": 0.003,
             "effect_median": 1.2857, "effect_q025": 0.1667, "effect_q975": 3.5,
             "null_effect_median": 1.2857, "pool_valid": False,
             "pilot_pattern": {"definition": "every MSC patient recovered",
                               "with_msc_effect": 0.0015, "without_msc_effect": 0.0005,
                               "survival_only": {"with_msc_effect": 0.087,
                                                 "without_msc_effect": 0.087}}}
    text = _power_summary(power)
    assert text.startswith("In 2,000 simulated trials of this design (10 patients each;")
    assert "0.30% showed a benefit of MSC at the two-sided 0.05 level" in text
    assert "median of 1.29 (95% of replicates between 0.167 and 3.5" in text
    assert "arose in 0.15% of replicates with the model's MSC effect and in 0.05% without" in text
    assert "survival part alone in 8.7% and 8.7%" in text and "too small" in text
    never = {**power, "pilot_pattern": {**power["pilot_pattern"], "with_msc_effect": 0.0,
                                        "without_msc_effect": 0.0}}
    assert "Leng 2020 pilot" not in _power_summary(never)  # a pattern that never arose
    summary = {"arms": {"msc": {"n": 111, "deaths": {"14": 50, "30": 64}},
                        "placebo": {"n": 111, "deaths": {"14": 48, "30": 67}}},
               "endpoints": {"mortality_d30": {"primary": True, "measure": "risk ratio",
                                               "estimate": 0.955, "ci_low": 0.767,
                                               "ci_high": 1.19, "p_value": 0.785}}}
    text = _run_summary(summary, 0.05)
    assert text.startswith("One simulated trial of 222 patients (111 msc, 111 placebo).")
    assert "Deaths by day 30: 64 of 111 msc patients (57.7%), 67 of 111 placebo" in text
    assert "risk ratio 0.955 (95% CI 0.767 to 1.19), p = 0.785: no difference shown" in text
    summary["endpoints"]["mortality_d30"]["p_value"] = 0.01
    assert "a difference at the 0.05 level" in _run_summary(summary, 0.05)


def test_biomarker_panels_mark_each_death_on_its_day_in_its_arm():
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    from matplotlib.collections import LineCollection

    from mscsim.trial._report_biomarkers import (
        MARKERS,
        biomarker_figure,
        death_table,
        trajectory_table,
    )

    patients = pd.DataFrame({"arm": ["msc", "msc", "placebo", "placebo", "placebo"],
                             "death_time": [4.5, np.nan, 9.2, 18.6, 40.0]})
    deaths = death_table(patients, follow_up=28)
    assert deaths.to_dict("list") == {"arm": ["msc", "placebo", "placebo"],
                                      "day": [4.5, 9.2, 18.6]}      # day 40: after follow-up
    alive = [(p, arm, day) for p, arm, death in zip(range(5), patients.arm,
                                                   patients.death_time, strict=True)
             for day in range(29) if not day >= death]
    trajectories = pd.DataFrame(alive, columns=["patient", "arm", "day"])
    for marker in MARKERS:
        trajectories[marker] = 1.0 + trajectories.day
    table = trajectory_table(trajectories)
    assert table[(table.arm == "placebo") & (table.marker == "il6")].set_index("day").n[
        [9, 10, 19]].tolist() == [3, 2, 1]
    fig = biomarker_figure(table, deaths, {"msc": "#b2182b", "placebo": "#2166ac"})
    strips = fig.axes[len(MARKERS):]
    assert len(strips) == len(MARKERS)
    for strip in strips:
        ticks = [c for c in strip.collections if isinstance(c, LineCollection)]
        days = [[float(s[0][0]) for s in c.get_segments()] for c in ticks]
        assert days == [[4.5], [9.2, 18.6]]          # a row per arm, a tick per death
        rows = [[float(s[0][1]) for s in c.get_segments()] for c in ticks]
        assert rows[0][0] < rows[1][0]
    assert [t.get_text() for t in strips[0].get_yticklabels()] == ["deaths, msc",
                                                                   "deaths, placebo"]
    plt.close(fig)


def _cells(table_html: str) -> list[list[str]]:
    """The data rows of an HTML table from ``html_table``, cells unescaped."""
    import html
    import re

    return [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
            for row in table_html.split("<tr>")[2:]]


@pytest.mark.parametrize("design", ["leng2020", "lanzoni2021", "stroma_cov2_2022",
                                    "bowdish2023"])
def test_a_replica_shows_the_published_deaths_beside_its_own(design: str) -> None:
    """The section's table carries the dataset's mortality counts and verification tag for
    the design's linked study, and the virtual trial's deaths by the same day (by the end of
    follow-up where the published day lies beyond it)."""
    import json

    import numpy as np
    import pandas as pd

    from mscsim.evidence import load_outcomes
    from mscsim.trial import load_spec
    from mscsim.trial._report_published import published_section

    spec = json.loads(load_spec(design).model_dump_json())      # as spec.json
    follow_up = spec["follow_up_days"]
    deaths = {"msc": [1.5, 6.0, 13.0, 20.0, 29.5, np.nan, np.nan],
              "placebo": [0.5, 7.0, 27.0, 30.0, np.nan, np.nan]}
    patients = pd.DataFrame([(arm, t) for arm, times in deaths.items() for t in times],
                            columns=["arm", "death_time"])
    outcomes = load_outcomes()
    published = outcomes[(outcomes.study_id == spec["trial"]["evidence_study"])
                         & (outcomes.outcome == "mortality") & outcomes.primary]
    page = published_section(spec, patients)
    assert "<h2>Published versus this virtual trial</h2>" in page
    _balanced(page)
    rows = _cells(page[page.index("<table>"):page.index("</table>") + 8])
    expected = []
    for r in published.sort_values("timepoint_days").itertuples():
        day = min(r.timepoint_days, follow_up)
        for arm, events, n in (("msc", r.events_treated, r.n_treated),
                               ("placebo", r.events_control, r.n_control)):
            simulated = sum(t <= day for t in deaths[arm])
            when = f"by day {day:g}" + (f" (end of follow-up; published day "
                                        f"{r.timepoint_days})" if day < r.timepoint_days
                                        else "")
            expected.append([f"day {r.timepoint_days}: {r.outcome_definition}", arm,
                             f"{events} / {n} ({100 * events / n:.1f}%)",
                             {"primary": "primary report", "secondary": "secondary source",
                              "unverified": "UNVERIFIED"}[r.verified],
                             f"{simulated} / {len(deaths[arm])} "
                             f"({100 * simulated / len(deaths[arm]):.1f}%)", when])
    assert rows == expected and len(rows) >= 2


def test_the_published_sentence_reads_the_headline_counts_in_words() -> None:
    import json

    import numpy as np
    import pandas as pd

    from mscsim.trial import load_spec
    from mscsim.trial._report_published import published_section

    patients = pd.DataFrame({"arm": ["msc"] * 3 + ["placebo"] * 2,
                             "death_time": [3.0, np.nan, np.nan, 10.0, 28.0]})
    stroma = json.loads(load_spec("stroma_cov2_2022").model_dump_json())
    page = published_section(stroma, patients)
    assert ("<p>Published (Monsel 2022): deaths by day 28, 5 of 21 msc patients and 4 of 24 "
            "placebo patients (counts read in a secondary source (a review&#x27;s table); "
            "may differ from the primary report); this virtual trial: 1 of 3 msc and 2 of "
            "2 placebo patients by day 28.</p>") in page
    assert "serious adverse events by day 14 (6/21 vs 6/24; primary)" in page
    leng = published_section(json.loads(load_spec("leng2020").model_dump_json()), None)
    assert "(counts unverified: recalled, not seen in any source" in leng
    assert "this folder holds no single virtual trial" in leng
    assert "virtual trial deaths" not in leng                   # no empty columns


def test_a_design_without_a_published_study_gets_one_line() -> None:
    import json

    from mscsim.trial import load_spec
    from mscsim.trial._report_published import published_section

    phase3 = json.loads(load_spec("phase3").model_dump_json())
    line = published_section(phase3, None)
    assert line.count("<p") == 1 and "<table>" not in line and "No published trial" in line
    phase3["trial"]["evidence_study"] = "Gone2020"     # a spec.json from another dataset
    line = published_section(phase3, None)
    assert "links trial.evidence_study = &#x27;Gone2020&#x27;, a study the evidence dataset" \
        in line
    assert "<table>" not in line
    del phase3["trial"]["evidence_study"]               # a spec.json from before the field
    assert "No published trial" in published_section(phase3, None)


# -- every figure's table beside the report (issue #15) ---------------------------------------

def figure_links(page: str) -> list[list[str]]:
    """The data links under each ``<img>`` of ``page`` (a list per image, in order)."""
    import re

    blocks = page.split("<img ")[1:]
    return [re.findall(r"<a href='([^']+)'>", block.split("<p class='data'>", 1)[1]
                       .split("</p>", 1)[0]) if block.split(">", 1)[1].startswith(
                           "<p class='data'>") else [] for block in blocks]


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory):
    """A tiny trial run with a power analysis over two sample sizes, and its report; a
    user's own file in figures/ before the report is written."""
    from mscsim.cli import main
    from tests._trial_helpers import tiny_spec_file

    root = tmp_path_factory.mktemp("figtables")
    spec = tiny_spec_file(root)
    out = root / "tiny"
    main(["trial", "run", str(spec), "-o", str(out), "--engine", "serial", "--quiet"])
    main(["trial", "power", str(spec), "--replicates", "20", "--sample-sizes", "6,8", "-o",
          str(out), "--engine", "serial", "--quiet"])
    (out / "figures").mkdir()
    (out / "figures" / "mine.txt").write_text("a note of the user's", encoding="utf-8")
    main(["report", str(out)])
    return out


def test_every_trial_figure_links_the_table_it_is_drawn_from(reported) -> None:
    import pandas as pd

    page = (reported / "report.html").read_text(encoding="utf-8")
    links = figure_links(page)
    assert len(links) == 5 and all(links), links     # KM+WHO, CIF, biomarkers, power, curve
    for link in (x for group in links for x in group):
        assert link.startswith("figures/") and link.endswith(".csv"), link
        assert len(pd.read_csv(reported / link)) > 0, link
    assert (reported / "figures" / "mine.txt").read_text(encoding="utf-8") == \
        "a note of the user's"                          # nothing of the user's is touched


def test_the_kaplan_meier_and_who_tables_are_the_report_s_estimates(reported) -> None:
    import json

    import numpy as np
    import pandas as pd

    from mscsim._io import read_parquet
    from mscsim.trial._report import survival_table

    patients = read_parquet(reported / "patients.parquet")
    follow_up = float(json.loads((reported / "summary.json").read_text())["follow_up_days"])
    km = pd.read_csv(reported / "figures" / "kaplan_meier.csv")
    assert list(km.columns[:3]) == ["arm", "time_days", "at_risk"]
    expected = survival_table(patients, follow_up)
    assert km.arm.tolist() == expected.arm.tolist()
    for ours, theirs in (("time_days", "time"), ("survival", "survival"),
                         ("survival_ci_low", "ci_low"), ("at_risk", "n_risk")):
        np.testing.assert_allclose(km[ours], expected[theirs], rtol=1e-12)
    for arm, group in patients.groupby("arm"):       # the last step: the share alive
        dead = np.isfinite(group.death_time) & (group.death_time <= follow_up)
        assert km[km.arm == arm].survival.iloc[-1] == pytest.approx(1 - dead.mean())
    who = pd.read_csv(reported / "figures" / "who_scale.csv")
    for (day, arm), group in who.groupby(["day", "arm"]):
        share = (patients[patients.arm == arm][f"who_d{day}"].round() == 10).mean()
        assert group.set_index("who_level").share_of_arm[10] == pytest.approx(share)
        assert group.share_of_arm.sum() == pytest.approx(1.0)


def test_the_biomarker_table_holds_the_patients_medians(reported) -> None:
    import numpy as np
    import pandas as pd

    from mscsim._io import read_parquet

    trajectories = read_parquet(reported / "trajectories.parquet")
    table = pd.read_csv(reported / "figures" / "biomarkers.csv")
    assert {"day_after_randomisation", "median", "unit",
            "patients_alive_measured"} <= set(table.columns)
    checked = 0
    for (arm, day), group in trajectories.groupby(["arm", "day"]):
        if day not in (0, 7):
            continue
        row = table[(table.arm == arm) & (table.day_after_randomisation == day)
                    & (table.marker == "il6")].iloc[0]
        values = group.il6.dropna()
        assert row["median"] == pytest.approx(float(np.median(values)))
        assert row.patients_alive_measured == len(values) and row.unit == "pg/mL"
        checked += 1
    assert checked >= 2
    deaths = pd.read_csv(reported / "figures" / "biomarker_deaths.csv")
    patients = read_parquet(reported / "patients.parquet")
    assert len(deaths) == int((patients.death_time <= 28).sum())


def test_the_power_tables_are_the_power_analysis(reported) -> None:
    import json

    import numpy as np
    import pandas as pd

    from mscsim._io import read_parquet

    power = json.loads((reported / "power.json").read_text())
    curve = pd.read_csv(reported / "figures" / "power_curve.csv")
    assert curve.patients_randomised.tolist() == [p["n"] for p in power["power_curve"]]
    assert curve.power.tolist() == pytest.approx([p["power"] for p in power["power_curve"]])
    point = pd.read_csv(reported / "figures" / "power.csv")
    design = point[point.kind == "design"].iloc[0]
    assert (design.patients_randomised, design.power) == (power["sample_size"],
                                                          pytest.approx(power["power"]))
    hist = pd.read_csv(reported / "figures" / "effect_histogram.csv")
    estimates = read_parquet(reported / "power_replicates.parquet").estimate.to_numpy(float)
    finite = estimates[np.isfinite(estimates) & (estimates > 0)]
    assert hist.replicates_msc_effect.sum() == len(finite)
    assert np.all(hist.bin_low.to_numpy()[1:] == hist.bin_high.to_numpy()[:-1])


def test_figure_tables_are_written_atomically_beside_the_report(tmp_path) -> None:
    import pandas as pd

    from mscsim import InputError
    from mscsim._html import FigureData, figure_html

    data = FigureData(tmp_path / "out" / "report.html")
    link = data.table("km", pd.DataFrame({"time_days": [1.5, 2.0], "survival": [0.5, None]}))
    assert link == "figures/km.csv"
    assert (tmp_path / "out" / link).read_text() == "time_days,survival\n1.5,0.5\n2.0,\n"
    assert data.file(tmp_path / "run" / "fit.csv") == "../run/fit.csv"
    assert not [p for p in (tmp_path / "out" / "figures").iterdir() if p.name != "km.csv"]
    page = figure_html("AAAA", [link])
    assert figure_links(page) == [["figures/km.csv"]] and "data: " in page
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "figures").write_text("mine")
    with pytest.raises(InputError, match="not a folder"):
        FigureData(tmp_path / "other" / "report.html").table("km", pd.DataFrame({"a": [1]}))
    assert (tmp_path / "other" / "figures").read_text() == "mine"
