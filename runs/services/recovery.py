"""The sweeper: expired leases, lost kicks, approval timeouts. Recovery takes seconds.

A step being executed holds a lease its worker's heartbeat keeps extending. When the worker dies
the lease runs out; the sweeper then marks the attempt lost and queues the next attempt (LLM
calls and idempotent tools), or parks it for a person (a tool that must not run twice). Completed
steps are never executed again: only the attempt in flight is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.db.models import Q
from django.utils import timezone

from config.domain import Invalid, NotFound, RunConflict
from runs.models import Run, RunStatus, Step, StepStatus
from runs.tools import registry

from .advancing import compiled_graph
from .approvals import approvals_close_finished, approvals_time_out
from .lifecycle import run_changing

logger = logging.getLogger(__name__)

MAX_CRASHES = 3
# A kick older than this without effect is presumed lost and sent again (at most this often).
STALE_QUEUED = timedelta(seconds=30)
# A running run with nothing queued or in flight for this long lost the kick after its last step.
STALLED = timedelta(seconds=10)


def _is_side_effect(run: Run, step: Step) -> bool:
    """Could re-executing this lost step repeat a side effect? Decided conservatively.

    A tool node is judged on its arguments: the rendered ones when the step recorded them, else
    the configured ones (a step lost in flight never recorded its input; an unrendered template
    in, say, an HTTP method is not "GET", so it counts as a side effect). A prompt node that may
    call a tool which is not always idempotent counts as one too: the model's arguments are gone.
    """
    node = compiled_graph(run).nodes.get(step.node_id)
    if node is None:
        return False
    recorded = (step.input or {}).get("arguments")
    calls = node.node_type.tool_calls(node.config, recorded if isinstance(recorded, dict) else None)
    for name, arguments in calls:
        try:
            tool = registry.get(name)
        except Exception:
            # An unknown tool never ran anything; a model-chosen one is judged unsafe.
            if arguments is None:
                return True
            continue
        if arguments is None:
            if tool.idempotent is not True:
                return True
        elif not tool.is_idempotent(arguments):
            return True
    return False


def step_recover(*, step_id: int, reason: str = "worker_lost") -> int | None:
    """Handle a step whose worker vanished. Return the run id to re-advance, if any."""
    run_id = Step.objects.filter(pk=step_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return None
    with run_changing(run_id) as change:
        # The run first, then the step: the order every writer uses, so none can deadlock.
        if change is None:
            return None
        step = Step.objects.select_for_update().get(pk=step_id)
        if step.status != StepStatus.RUNNING:
            return None
        now = timezone.now()
        step.status = StepStatus.FAILED
        step.error_code = reason
        step.error_message = "The worker running this step stopped before it finished."
        step.finished_at = now
        step.lease_expires_at = None
        step.save(
            update_fields=[
                "status",
                "error_code",
                "error_message",
                "finished_at",
                "lease_expires_at",
            ]
        )
        run = change.run
        if run.is_finished:
            return None
        change.set(crash_count=run.crash_count + 1)
        change.event(
            "step.retrying",
            step.node_id,
            {
                "iteration": step.iteration,
                "attempt": step.attempt + 1,
                "reason": reason,
                "step_id": step.pk,
                "crashes": run.crash_count,
            },
        )
        if run.crash_count >= MAX_CRASHES:
            change.finish(
                RunStatus.DEAD_LETTER,
                code="dead_letter",
                message=f"Workers stopped {run.crash_count} times while running this flow "
                f'(last at step "{step.node_id}"); it was set aside for a person to look at.',
            )
            return None
        parked = _is_side_effect(run, step)
        retry = Step.objects.create(
            run=run,
            node_id=step.node_id,
            node_type=step.node_type,
            iteration=step.iteration,
            attempt=step.attempt + 1,
            status=StepStatus.NEEDS_ATTENTION if parked else StepStatus.QUEUED,
            input=step.input,
            error_message=(
                "This step calls a tool that is not safe to repeat; a person must check "
                "whether it ran and retry or fail it."
                if parked
                else ""
            ),
        )
        if parked:
            change.event(
                "step.needs_attention",
                step.node_id,
                {"iteration": step.iteration, "attempt": retry.attempt, "step_id": retry.pk},
            )
            # Waiting for a person: the next plan turns the run to "waiting".
        return run.pk


def step_attention_resolve(*, step_id: int, action: str, user) -> int:
    """Settle a step parked for a person: "retry" it, or "fail" it. Return the run id to kick."""
    if action not in ("retry", "fail"):
        raise Invalid('Action must be "retry" or "fail".', code="invalid_action")
    run_id = Step.objects.filter(pk=step_id).values_list("run_id", flat=True).first()
    if run_id is None:
        raise NotFound("Step not found", code="not_found")
    with run_changing(run_id) as change:
        step = Step.objects.select_for_update().filter(pk=step_id).first()
        if (
            change is None
            or step is None
            or step.status != StepStatus.NEEDS_ATTENTION
            or change.run.is_finished
        ):
            raise RunConflict("This step is not waiting for a person.", code="not_parked")
        run = change.run
        who = user.get_username()
        if action == "retry":
            step.status = StepStatus.QUEUED
            step.error_message = ""
            step.created_at = timezone.now()
            step.save(update_fields=["status", "error_message", "created_at"])
            change.event(
                "step.queued",
                step.node_id,
                {"iteration": step.iteration, "step_id": step.pk, "resolved_by": who},
            )
        else:
            graph = compiled_graph(run)
            message = f"{who} marked this step as failed after a worker was lost."
            routed = graph.has_forward_edges(step.node_id, "error")
            step.status = StepStatus.FAILED
            step.error_code = "abandoned"
            step.error_message = message
            step.ports = ["error"] if routed else []
            step.output = {"error": {"code": "abandoned", "message": message}} if routed else None
            step.finished_at = timezone.now()
            step.save()
            change.event(
                "step.failed",
                step.node_id,
                {
                    "iteration": step.iteration,
                    "step_id": step.pk,
                    "ports": step.ports,
                    "code": "abandoned",
                    "message": message,
                },
            )
        change.resume()
        return run.pk


def _claim_rekick(queryset, now: datetime) -> set[int]:
    """Return the run ids of `queryset` (steps or runs) due for a re-kick, and push their next
    re-kick back. The otherwise unused lease field of a queued row holds "not before", so a long
    queue under load is re-kicked once per STALE_QUEUED, not on every pass."""
    due = queryset.filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
    field = "run_id" if queryset.model is Step else "pk"
    ids = set(due.values_list(field, flat=True))
    if ids:
        queryset.model.objects.filter(pk__in=list(due.values_list("pk", flat=True))).update(
            lease_expires_at=now + STALE_QUEUED
        )
    return ids


def sweep(
    *,
    now: datetime | None = None,
    lost_owner_prefixes: Iterable[str] = (),
    startup: bool = False,
) -> set[int]:
    """One pass of the sweeper. Return the ids of runs to kick (with redispatch).

    `lost_owner_prefixes` names lease owners known to be dead (a previous embedded process on
    this machine): their steps are recovered at once instead of when their leases expire. With
    `startup`, every unfinished run that is not waiting is kicked, since this process's kicks
    died with the previous one.
    """
    now = now or timezone.now()
    kick: set[int] = set()
    lost = Q(lease_expires_at__lt=now)
    prefixes = [Q(lease_owner__startswith=p) for p in lost_owner_prefixes if p]
    if prefixes:
        lost |= reduce(or_, prefixes)
    expired = Step.objects.filter(lost, status=StepStatus.RUNNING)
    for step_id in expired.values_list("pk", flat=True):
        run_id = step_recover(step_id=step_id)
        if run_id:
            kick.add(run_id)
    kick.update(approvals_time_out(now=now))
    approvals_close_finished()
    if startup:
        kick.update(
            Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list(
                "pk", flat=True
            )
        )
        return kick
    live = [RunStatus.RUNNING, RunStatus.QUEUED]
    kick |= _claim_rekick(
        Step.objects.filter(
            status=StepStatus.QUEUED, created_at__lt=now - STALE_QUEUED, run__status__in=live
        ),
        now,
    )
    kick |= _claim_rekick(
        Run.objects.filter(status=RunStatus.QUEUED, created_at__lt=now - STALE_QUEUED), now
    )
    stalled = Run.objects.filter(status=RunStatus.RUNNING, started_at__lt=now - STALLED).exclude(
        Q(steps__status__in=[StepStatus.QUEUED, StepStatus.RUNNING])
        | Q(steps__finished_at__gt=now - STALLED)
    )
    kick |= _claim_rekick(stalled, now)
    return kick
