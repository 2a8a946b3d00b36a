"""Business operations on runs. Views, API handlers, tasks and commands call these."""

from .advancing import run_advance, step_execute
from .approvals import approval_decide, approvals_for, approvals_time_out
from .recovery import step_recover, sweep
from .starting import inputs_errors, run_cancel, run_start, sample_inputs

__all__ = [
    "approval_decide",
    "approvals_for",
    "approvals_time_out",
    "inputs_errors",
    "run_advance",
    "run_cancel",
    "run_start",
    "sample_inputs",
    "step_execute",
    "step_recover",
    "sweep",
]
