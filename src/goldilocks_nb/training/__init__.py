"""Training engine of Section 5: full-batch gradient descent over whole grids.

- :mod:`.descent`: the one gradient-descent step (:func:`descent_step`, shared by the grid
  engine, full-batch runs and chapter 05's SGD), functional gradient descent for one run and
  Section 3's trajectory equivalence (used by chapter 01).
- :mod:`.spec`: :class:`GridSpec`, what a grid trains and how (data, axes, schedule, what
  to record, execution), validated once when built (checks in :mod:`._checks`).
- :mod:`.grid`: a spec's shared problem, initial points ``alpha * theta_0`` and run keys.
- :mod:`.rules`: update rules (gradient descent, the USO model of App. E), random labels,
  restarts at a rescaled parameter vector.
- :mod:`.metrics`: the logged statistics (loss, accuracy, norms, alignments, entropy, zero
  logits).
- :mod:`.engine`: the batched loop over a chunk of configurations.
- :mod:`.store`: the atomic, verified (key and checksum) run store behind resuming.
- :mod:`.grid_run`: :func:`train_grid`, in-process or on Dask.
- :mod:`.probe`: the linear probe on penultimate features (Fig. 12 left).
"""

from .descent import (
    Descent,
    Step,
    Trajectory,
    descent_step,
    effective_learning_rate,
    gradient_descent,
    gradient_descent_steps,
    loss_and_gradient,
    trajectory_equivalence,
    update_direction,
)
from .engine import LOG_COLUMNS, RunResult, run_chunk
from .grid import Problem, RunConfig, kaiming_theta0, make_problem, run_key
from .grid_run import EXECUTORS, GridResult, GridTooLargeError, estimate_grid_need, train_grid
from .probe import ProbeResult, linear_probe, penultimate_features
from .rules import (
    LABEL_MODES,
    RULES,
    random_labels,
    restart_params,
    update_objective,
    uso_coefficients,
)
from .spec import Data, Execution, Grid, GridSpec, Record, Schedule
from .store import RunStore, StoreWarning

__all__ = [
    "Data",
    "Descent",
    "EXECUTORS",
    "Execution",
    "Grid",
    "GridSpec",
    "Record",
    "Schedule",
    "LABEL_MODES",
    "LOG_COLUMNS",
    "GridResult",
    "GridTooLargeError",
    "Problem",
    "ProbeResult",
    "RULES",
    "RunConfig",
    "RunResult",
    "RunStore",
    "Step",
    "StoreWarning",
    "Trajectory",
    "descent_step",
    "effective_learning_rate",
    "estimate_grid_need",
    "gradient_descent",
    "gradient_descent_steps",
    "linear_probe",
    "loss_and_gradient",
    "kaiming_theta0",
    "make_problem",
    "penultimate_features",
    "random_labels",
    "restart_params",
    "run_chunk",
    "run_key",
    "train_grid",
    "trajectory_equivalence",
    "update_direction",
    "update_objective",
    "uso_coefficients",
]
