"""mscsim: in silico research on mesenchymal stromal cell (MSC) therapy in severe COVID-19.

The public surface: the model (:func:`load_model`), simulation (:func:`simulate`,
:func:`simulate_batch`, :class:`Regimen`), and the error types. Parts live in sub-packages:
``mscsim.model``, ``mscsim.simulate``, ``mscsim.evidence``, ``mscsim.report``.
"""

from mscsim._errors import (  # noqa: E402
    EnvironmentFault,
    InputError,
    ModelError,
    MscsimError,
    SimulationError,
)
from mscsim._provenance import MSCSIM_VERSION as __version__
from mscsim.model import OBSERVABLE_NAMES, Model, load_model  # noqa: E402
from mscsim.simulate import (  # noqa: E402
    Dose,
    Regimen,
    SolverOptions,
    Status,
    simulate,
    simulate_batch,
)

__all__ = [
    "OBSERVABLE_NAMES", "Dose", "EnvironmentFault", "InputError", "Model", "ModelError",
    "MscsimError", "Regimen", "SimulationError", "SolverOptions", "Status", "__version__",
    "load_model", "simulate", "simulate_batch",
]
