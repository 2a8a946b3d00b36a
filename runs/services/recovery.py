"""The sweeper: expired leases, lost kicks, approval timeouts. Recovery takes seconds."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from runs.models import Run, RunStatus, Step, StepStatus
from runs.tools import registry

from .advancing import _finish, compiled_graph
from .approvals import approvals_time_out
from .events import event_append

logger = logging.getLogger(__name__)

MAX_CRASHES = 3
STALE_QUEUED = timedelta(seconds=30)


def _is_side_effect(run: Run, step: Step) -> bool:
    """A step whose re-execution could repeat a side effect (a non-idempotent tool call)."""
    node = compiled_graph(run).nodes.get(step.node_id)
    if node is None or node.type != "tool":
        return False
    try:
        tool = registry.get(node.config.tool)
    except Exception:
        return False
    arguments = (step.input or {}).get("arguments") or {}
    try:
        return not tool.is_idempotent(arguments if isinstance(arguments, dict) else {})
    except Exception:
        return True


def step_recover(*, step_id: int, reason: str = "worker_lost") -> int | None:
    """Handle a step whose worker vanished. Return the run id to re-advance, if any."""
    with transaction.atomic():
        step = Step.objects.select_for_update().filter(pk=step_id).first()
        if step is None or step.status != StepStatus.RUNNING:
            return None
        run = Run.objects.select_for_update().get(pk=step.run_id)
        now = timezone.now()
        step.status = StepStatus.FAILED
        step.error_code = reason
        step.error_message = "The worker running this step stopped before it finished."
        step.finished_at = now
        step.save(update_fields=["status", "error_code", "error_message", "finished_at"])
        if run.is_finished:
            return None
        run.crash_count += 1
        run.save(update_fields=["crash_count"])
        event_append(
            run,
            "step.retrying",
            step.node_id,
            {
                "iteration": step.iteration,
                "attempt": step.attempt + 1,
                "reason": reason,
            },
        )
        if run.crash_count >= MAX_CRASHES:
            run.status = RunStatus.DEAD_LETTER
            _finish(
                run,
                RunStatus.DEAD_LETTER,
                code="dead_letter",
                message=f"Workers crashed {run.crash_count} times running this flow; "
                "it was set aside for a person to look at.",
            )
            return None
        parked = _is_side_effect(run, step)
        Step.objects.create(
            run=run,
            node_id=step.node_id,
            node_type=step.node_type,
            iteration=step.iteration,
            attempt=step.attempt + 1,
            status=StepStatus.NEEDS_ATTENTION if parked else StepStatus.QUEUED,
            input=step.input,
            error_message=(
                "This step calls a tool that is not safe to repeat; a person must check "
                "whether it ran and retry or skip it."
                if parked
                else ""
            ),
        )
        if parked:
            event_append(run, "step.needs_attention", step.node_id, {"iteration": step.iteration})
            return None
        return run.pk


def sweep(*, now=None, owner_prefix: str | None = None, dead_owner: bool = False) -> set[int]:
    """One pass of the sweeper. Return the ids of runs to kick."""
    now = now or timezone.now()
    kick: set[int] = set()
    expired = Step.objects.filter(status=StepStatus.RUNNING, lease_expires_at__lt=now)
    if dead_owner and owner_prefix is not None:
        # At start-up the embedded executor owns nothing yet: every "running" step it left is lost.
        expired = Step.objects.filter(status=StepStatus.RUNNING)
    for step_id in expired.values_list("pk", flat=True):
        run_id = step_recover(step_id=step_id)
        if run_id:
            kick.add(run_id)
    kick.update(approvals_time_out(now=now))
    stale = Step.objects.filter(
        status=StepStatus.QUEUED,
        created_at__lt=now - STALE_QUEUED,
        run__status__in=[RunStatus.RUNNING, RunStatus.QUEUED],
    )
    kick.update(stale.values_list("run_id", flat=True))
    idle = Run.objects.filter(status=RunStatus.QUEUED, created_at__lt=now - STALE_QUEUED)
    kick.update(idle.values_list("pk", flat=True))
    return kick
