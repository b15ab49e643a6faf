"""The trial report reads in words, not in raw spec dictionaries (issue #15)."""

from __future__ import annotations


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
