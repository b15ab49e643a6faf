"""Clinical evidence: the published controlled MSC-COVID-19 studies and a meta-analysis
engine validated against R's metafor. Independent of the model."""

# --- evidence dataset (studies.csv, outcomes.csv) ---
from mscsim.evidence._dataset import (
    FILTER_KEYS,
    comparisons,
    filter_studies,
    load_outcomes,
    load_studies,
)

# --- meta-analysis engine (validated against R's metafor), plots, dataset analyses ---
# isort: split
from mscsim.evidence._analysis import (
    SUBGROUP_KEYS,
    analyse_outcome,
    analyse_subgroups,
    comparison_table,
    cumulative_by_date,
    export_comparisons,
    list_studies,
)
from mscsim.evidence._diagnostics import (
    DiagnosticTable,
    EggerResult,
    InfluenceResult,
    RankTestResult,
    TrimFillResult,
    cumulative,
    egger_test,
    funnel_table,
    influence,
    leave_one_out,
    rank_test,
    trim_and_fill,
)
from mscsim.evidence._effects import MEASURES, EffectSizes, ZeroCellHandling, escalc
from mscsim.evidence._meta import (
    TAU2_ESTIMATORS,
    FitControl,
    MetaRegressionResult,
    MetaResult,
    SubgroupResult,
    Tau2Fit,
    meta_analysis,
    meta_regression,
    register_tau2_estimator,
    rma,
    rma_mh,
    rma_peto,
    subgroup_analysis,
    tau2_qprofile_ci,
)
from mscsim.evidence._options import MetaAnalysisOptions, parse_filters
from mscsim.evidence._plots import (
    check_plot_path,
    cumulative_plot,
    forest_plot,
    forest_table,
    funnel_plot,
    heterogeneity_text,
)

__all__ = [
    # meta-analysis engine, plots, dataset analyses
    "MEASURES",
    "check_plot_path",
    "heterogeneity_text",
    "SUBGROUP_KEYS",
    "MetaAnalysisOptions",
    "TAU2_ESTIMATORS",
    "DiagnosticTable",
    "EffectSizes",
    "EggerResult",
    "FitControl",
    "InfluenceResult",
    "MetaRegressionResult",
    "MetaResult",
    "SubgroupResult",
    "Tau2Fit",
    "TrimFillResult",
    "ZeroCellHandling",
    "analyse_outcome",
    "analyse_subgroups",
    "comparison_table",
    "cumulative",
    "cumulative_by_date",
    "cumulative_plot",
    "egger_test", "rank_test", "RankTestResult",
    "escalc",
    "export_comparisons",
    "forest_plot",
    "forest_table",
    "funnel_plot",
    "funnel_table",
    "influence",
    "leave_one_out",
    "list_studies",
    "meta_analysis",
    "meta_regression",
    "parse_filters",
    "register_tau2_estimator",
    "rma",
    "rma_mh",
    "rma_peto",
    "subgroup_analysis",
    "tau2_qprofile_ci",
    "trim_and_fill",
    # evidence dataset
    "FILTER_KEYS",
    "comparisons",
    "filter_studies",
    "load_outcomes",
    "load_studies",
]
