"""Business operations on runs. Views, API handlers, tasks and commands call these.

Services never kick executors: they return what must be kicked, and `runs.dispatch` kicks it.
"""

from .advancing import Advance, run_advance, run_steps, step_claim, step_execute
from .approvals import approval_decide, approvals_for, approvals_time_out
from .recovery import step_recover, sweep
from .starting import inputs_errors, run_cancel, run_start, sample_inputs

__all__ = [
    "Advance",
    "approval_decide",
    "approvals_for",
    "approvals_time_out",
    "inputs_errors",
    "run_advance",
    "run_cancel",
    "run_start",
    "run_steps",
    "sample_inputs",
    "step_claim",
    "step_execute",
    "step_recover",
    "sweep",
]
