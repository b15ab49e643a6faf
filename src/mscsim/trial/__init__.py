"""Virtual clinical trials. This part: the statistics that trial endpoints are analysed with.

Independent of the model and of the trial runner; every function takes plain arrays.
Arms are coded 1 = treated (MSC), 0 = control; contrasts are treated versus control.
Batch functions (``*_batch``) analyse many replicate trials at once and are the code path
of their scalar counterparts. Degenerate data give a defined result and a
:class:`StatisticsWarning`; invalid input raises :class:`mscsim.InputError`.
See ``docs/trial_statistics.md`` for definitions, defaults versus R, and tolerances.
"""

from mscsim.trial._stats.binary import (
    BinaryEffect,
    BinaryEffectBatch,
    FisherBatch,
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
    RankSumBatch,
    RankSumResult,
    ancova,
    wilcoxon_rank_sum,
    wilcoxon_rank_sum_batch,
)
from mscsim.trial._stats.ordinal import ProportionalOddsResult, proportional_odds
from mscsim.trial._stats.survival import (
    CoxBatch,
    CoxResult,
    KaplanMeierResult,
    LogRankBatch,
    LogRankResult,
    cox_ph,
    cox_ph_batch,
    kaplan_meier,
    logrank_test,
    logrank_test_batch,
)

__all__ = [
    "AncovaResult", "BinaryEffect", "BinaryEffectBatch", "CoxBatch", "CoxResult",
    "FisherBatch", "FisherResult", "KaplanMeierResult", "LogRankBatch", "LogRankResult",
    "ProportionalOddsResult", "RankSumBatch", "RankSumResult", "StatisticsWarning", "ancova",
    "cox_ph", "cox_ph_batch", "fisher_exact", "fisher_exact_batch", "kaplan_meier",
    "logrank_test", "logrank_test_batch", "odds_ratio", "odds_ratio_batch",
    "proportional_odds", "risk_difference", "risk_difference_batch", "risk_ratio",
    "risk_ratio_batch", "wilcoxon_rank_sum", "wilcoxon_rank_sum_batch",
]
