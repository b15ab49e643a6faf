"""Running models: regimens, back ends (registry), single and batched simulation."""

from mscsim.simulate import _compiled, _roadrunner, _scipy  # noqa: F401  (register the back ends)
from mscsim.simulate._backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    Backend,
    get_backend,
    register_backend,
)
from mscsim.simulate._options import SolverOptions
from mscsim.simulate._regimen import Dose, Regimen
from mscsim.simulate._simulate import (
    TIME_COLUMN,
    BatchResult,
    SimulationResult,
    Status,
    output_times,
    simulate,
    simulate_batch,
)

__all__ = [
    "BACKENDS", "DEFAULT_BACKEND", "TIME_COLUMN", "Backend", "BatchResult", "Dose", "Regimen",
    "SimulationResult", "SolverOptions", "Status", "get_backend", "output_times",
    "register_backend", "simulate", "simulate_batch",
]
