"""Virtual clinical trials: the statistics that trial endpoints are analysed with, and the
trial runner built on them.

The statistics (``mscsim.trial._stats``) are independent of the model and of the runner:
every function takes plain arrays.
Arms are coded 1 = treated (MSC), 0 = control; contrasts are treated versus control.
Batch functions (``*_batch``) analyse many replicate trials at once and are the code path
of their scalar counterparts; both return the statistic's one result type, whose fields are
numbers for one trial and arrays for a batch. Degenerate data give a defined result and a
:class:`StatisticsWarning`; invalid input raises :class:`mscsim.InputError`.
See ``docs/trial_statistics.md`` for definitions, defaults versus R, and tolerances.

The trial runner (issue #4; ``docs/trials.md``) builds on them: TOML specs validated by
pydantic (:func:`load_spec`; the example designs ship with the package,
:func:`design_names`), screening and randomisation of a virtual population, potential
outcomes under each arm (:func:`run_trial`, :func:`build_pool`), an endpoint analyser
registry (:data:`ANALYSERS`), an ICH E9(R1) :class:`Estimand` for every endpoint
(:func:`endpoint_of` applies a spec's death strategy), replicated trials
(:func:`power_analysis`) and an HTML report (:func:`trial_report`).
"""

from mscsim.trial._stats.binary import (
    BinaryEffect,
    FisherResult,
    fisher_exact,
    fisher_exact_batch,
    odds_ratio,
    odds_ratio_batch,
    risk_difference,
    risk_difference_batch,
    risk_ratio,
    risk_ratio_batch,
)
from mscsim.trial._stats.common import StatisticsWarning
from mscsim.trial._stats.continuous import (
    AncovaResult,
    RankSumResult,
    WorstRankResult,
    ancova,
    wilcoxon_rank_sum,
    wilcoxon_rank_sum_batch,
    worst_rank_test,
    worst_rank_test_batch,
    worst_ranks,
)
from mscsim.trial._stats.ordinal import ProportionalOddsResult, proportional_odds
from mscsim.trial._stats.result import PerTrial
from mscsim.trial._stats.survival import (
    CoxResult,
    CumulativeIncidenceResult,
    KaplanMeierResult,
    LogRankResult,
    cox_ph,
    cox_ph_batch,
    cumulative_incidence,
    kaplan_meier,
    logrank_test,
    logrank_test_batch,
)
from mscsim.trial._stats.win import WinRatioResult, win_ratio

__all__ = [
    "AncovaResult", "BinaryEffect", "CoxResult", "FisherResult", "KaplanMeierResult",
    "LogRankResult", "PerTrial", "ProportionalOddsResult", "RankSumResult",
    "StatisticsWarning", "ancova",
    "cox_ph", "cox_ph_batch", "fisher_exact", "fisher_exact_batch", "kaplan_meier",
    "logrank_test", "logrank_test_batch", "odds_ratio", "odds_ratio_batch",
    "proportional_odds", "risk_difference", "risk_difference_batch", "risk_ratio",
    "risk_ratio_batch", "wilcoxon_rank_sum", "wilcoxon_rank_sum_batch", "WinRatioResult",
    "win_ratio", "CumulativeIncidenceResult", "cumulative_incidence",
    "WorstRankResult", "worst_rank_test", "worst_rank_test_batch", "worst_ranks",
]

# ---------------------------------------------------------------- the trial runner (issue #4)
from mscsim.trial._analysis import (  # noqa: E402
    ANALYSERS,
    Analyser,
    AnalysisOptions,
    BatchEstimates,
    analyse,
    analyse_batch,
    register_analyser,
)
from mscsim.trial._designs import design_names, design_path  # noqa: E402
from mscsim.trial._endpoints import (  # noqa: E402
    ENDPOINTS,
    Endpoint,
    Estimand,
    endpoint_of,
    get_endpoint,
)
from mscsim.trial._enrol import Cohort, allocate, doses_for, screen, screened_cohort  # noqa: E402
from mscsim.trial._power import (  # noqa: E402
    POOL_DIR,
    Pool,
    PowerResult,
    build_pool,
    pool_warning,
    power_analysis,
    sample_size_search,
    write_power,
)
from mscsim.trial._power_options import PowerOptions  # noqa: E402
from mscsim.trial._report import trial_report  # noqa: E402
from mscsim.trial._run import TrialResult, analyse_endpoints, run_trial, write_trial  # noqa: E402
from mscsim.trial._simulate import (  # noqa: E402
    NULL_POTENCY,
    POINTS_PER_DAY,
    horizon_for,
    simulate_from_infection,
)
from mscsim.trial._spec import (  # noqa: E402
    DEATH_STRATEGIES,
    MAX_FOLLOW_UP_DAYS,
    MORTALITY_DAYS,
    TrialSpec,
    endpoint_names,
    load_spec,
    spec_from_dict,
    spec_json_schema,
    spec_json_schema_text,
)

__all__ += [
    "ANALYSERS", "ENDPOINTS", "NULL_POTENCY", "Analyser", "AnalysisOptions", "BatchEstimates",
    "Cohort", "Endpoint", "Pool", "PowerOptions", "PowerResult", "TrialResult", "TrialSpec",
    "allocate",
    "analyse", "analyse_batch", "analyse_endpoints", "build_pool", "design_names",
    "design_path", "endpoint_names",
    "get_endpoint", "load_spec", "power_analysis", "register_analyser", "run_trial",
    "sample_size_search", "screen", "spec_from_dict", "spec_json_schema", "trial_report",
    "write_trial", "MAX_FOLLOW_UP_DAYS", "MORTALITY_DAYS", "POINTS_PER_DAY", "POOL_DIR",
    "pool_warning", "spec_json_schema_text", "write_power", "DEATH_STRATEGIES", "Estimand",
    "endpoint_of", "doses_for", "horizon_for", "screened_cohort", "simulate_from_infection",
]
