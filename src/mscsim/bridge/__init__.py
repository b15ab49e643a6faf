"""The bridge between the mechanistic model and the published trials: in silico replicas of
the studies in the evidence dataset, calibration of the MSC effect on the studies published
up to a cut-off date, prediction of the later ones, and global sensitivity.
See ``docs/bridge.md``."""

from mscsim.bridge._calibrate import (
    EMAX_PARAMETERS,
    GRID_PARAMETERS,
    Profile,
    binomial_loglik,
    fit_table,
    goodness_of_fit,
    grid_loglik,
    grid_weights,
    profile,
)
from mscsim.bridge._predict import Prediction, covered, predict, predict_result, risk_ratio
from mscsim.bridge._replicas import (
    SEVERITY_RULES,
    Replica,
    build_replicas,
    parse_cutoff,
    split_by_cutoff,
)
from mscsim.bridge._report import bridge_report
from mscsim.bridge._run import (
    BridgeOptions,
    BridgeResult,
    calibrate,
    read_bridge,
    write_bridge,
)
from mscsim.bridge._sensitivity import Factor, default_factors, sobol_indices

__all__ = [
    "EMAX_PARAMETERS", "GRID_PARAMETERS", "SEVERITY_RULES", "BridgeOptions", "BridgeResult",
    "Factor", "Prediction", "Profile", "Replica", "binomial_loglik", "bridge_report",
    "build_replicas", "calibrate", "covered", "default_factors", "fit_table",
    "goodness_of_fit", "grid_loglik", "grid_weights", "parse_cutoff", "predict",
    "predict_result", "profile", "read_bridge", "risk_ratio", "sobol_indices",
    "split_by_cutoff", "write_bridge",
]
