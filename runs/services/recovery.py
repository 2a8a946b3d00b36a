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
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.domain import Invalid, NotFound, RunConflict
from runs import periodic
from runs.engine.failures import error_object
from runs.engine.nodes.flow_tools import WAIT_KIND as FLOW_TOOL_WAIT
from runs.models import Recording, Run, RunStatus, Step, StepStatus
from runs.tools import registry

from .advancing import compiled_graph
from .approvals import approvals_close_finished, approvals_time_out
from .capacity import runs_to_start_everywhere
from .lifecycle import run_changing
from .starting import run_cancel
from .subflows import orphans, subflows_sweep

logger = logging.getLogger(__name__)

MAX_CRASHES = 3
# Without word from the broker, a kick older than this without effect is presumed lost and sent
# again (at most this often): it may as well be waiting in line for a free worker.
STALE_QUEUED = timedelta(seconds=30)
# A running run with nothing queued or in flight for this long lost the kick after its last step.
STALLED = timedelta(seconds=10)
# Slack when comparing a row's last kick with the broker's horizon: a kick leaves after its
# transaction commits, and the clocks of two machines differ a little.
KICK_SLACK = timedelta(seconds=1)


def rekick_after() -> timedelta:
    """How long a kick the broker has delivered may go without effect before it is presumed lost
    (the worker that took it died before claiming) and sent again."""
    return timedelta(seconds=float(getattr(settings, "SWITCHBOARD_REKICK_SECONDS", 5)))


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
            return change.kicks[0] if change.kicks else None  # a sub-flow's parent resumed
        parked = _is_side_effect(run, step)
        retry = Step.objects.create(
            run=run,
            node_id=step.node_id,
            node_type=step.node_type,
            iteration=step.iteration,
            attempt=step.attempt + 1,
            status=StepStatus.NEEDS_ATTENTION if parked else StepStatus.QUEUED,
            input=step.input,
            details=_carried(step.details),
            error_message=(
                "This step calls a tool that is not safe to repeat; a person must check "
                "whether it ran and retry or fail it."
                if parked
                else ""
            ),
        )
        if FLOW_TOOL_WAIT in retry.details:
            # A loop resumed from a flow tool's child goes on from its saved state: the calls
            # the state answered stay with the step, for a reproduction to replay.
            Recording.objects.bulk_create(
                Recording(
                    step=retry,
                    index=r.index,
                    kind=r.kind,
                    request=r.request,
                    response=r.response,
                )
                for r in step.recordings.all()
            )
        if parked:
            change.event(
                "step.needs_attention",
                step.node_id,
                {"iteration": step.iteration, "attempt": retry.attempt, "step_id": retry.pk},
            )
            # Waiting for a person: the next plan turns the run to "waiting".
        return run.pk


def _carried(details: Any) -> dict[str, Any]:
    """What a lost attempt hands its retry: a person's overrides, a flow tool loop's state."""
    if not isinstance(details, dict):
        return {}
    return {key: details[key] for key in ("overrides", FLOW_TOOL_WAIT) if details.get(key)}


def steps_release(*, run_id: int, worker: str, kick_at: datetime | None = None) -> list[int]:
    """Queue again the steps `worker` holds on a run, because its job failed (the database
    went away) rather than its process: no crash is counted and no attempt is lost. Return
    their ids. `kick_at` is when the job's retry will kick them: the sweeper waits for it.
    A worker name is one thread's, and a thread runs one job at a time: every step leased in
    its name is that job's."""
    with run_changing(run_id) as change:
        if change is None or change.run.is_finished:
            return []
        held = list(
            Step.objects.select_for_update()
            .filter(run_id=run_id, status=StepStatus.RUNNING, lease_owner=worker)
            .values_list("pk", "node_id", "iteration")
        )
        if not held:
            return []
        Step.objects.filter(pk__in=[pk for pk, _, _ in held]).update(
            status=StepStatus.QUEUED,
            started_at=None,
            lease_owner="",
            # For a queued row, the sweeper reads this as the time of its last kick.
            lease_expires_at=kick_at or timezone.now(),
        )
        for pk, node_id, iteration in held:
            change.event(
                "step.queued",
                node_id,
                {"iteration": iteration, "step_id": pk, "reason": "database_error"},
            )
        return [pk for pk, _, _ in held]


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
            step.output = (
                error_object(node_id=step.node_id, code="abandoned", message=message)
                if routed
                else None
            )
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


def _claim_rekick(
    queryset, horizon: datetime, now: datetime, first_kick: str = "created_at"
) -> set[int]:
    """Return the run ids of `queryset` (steps or runs) last kicked before `horizon`, and note
    that they are kicked now. The otherwise unused lease field of a queued row holds its last
    re-kick (the `first_kick` field stands in before that), so a row is re-kicked at most once
    per horizon, never on every pass."""
    due = queryset.alias(last_kick=Coalesce("lease_expires_at", first_kick)).filter(
        last_kick__lt=horizon
    )
    field = "run_id" if queryset.model is Step else "pk"
    rows = list(due.values_list("pk", field))
    if rows:
        queryset.model.objects.filter(pk__in=[pk for pk, _ in rows]).update(lease_expires_at=now)
    return {run_id for _, run_id in rows}


def sweep(
    *,
    now: datetime | None = None,
    lost_owner_prefixes: Iterable[str] = (),
    startup: bool = False,
    delivered_before: datetime | None = None,
) -> set[int]:
    """One pass of the sweeper. Return the ids of runs to kick (with redispatch).

    `lost_owner_prefixes` names lease owners known to be dead (a previous embedded process on
    this machine): their steps are recovered at once instead of when their leases expire. With
    `startup`, every unfinished run that is not waiting is kicked, since this process's kicks
    died with the previous one.

    `delivered_before` is the broker's word on its queue (see `runs.tasks.delivered_before`):
    every kick sent before it has left the queue. A row still queued `rekick_after()` after such
    a kick lost it with a worker and is kicked again; a row whose kick is still in line is left
    alone however long the line. Without it, rows are re-kicked once per STALE_QUEUED.
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
    kick.update(subflows_sweep())
    for orphan in orphans():
        run_cancel(run=orphan)
    kick.update(periodic.run_due(now))
    if startup:
        kick.update(
            Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list(
                "pk", flat=True
            )
        )
        return kick
    if delivered_before is None:
        horizon = now - STALE_QUEUED
    else:
        horizon = min(now - rekick_after(), delivered_before - KICK_SLACK)
    live = [RunStatus.RUNNING, RunStatus.QUEUED]
    queued_steps = Step.objects.filter(status=StepStatus.QUEUED, run__status__in=live)
    kick |= _claim_rekick(queued_steps, horizon, now)
    kick |= _claim_rekick(Run.objects.filter(status=RunStatus.QUEUED), horizon, now)
    stalled = Run.objects.filter(status=RunStatus.RUNNING, started_at__lt=now - STALLED).exclude(
        Q(steps__status__in=[StepStatus.QUEUED, StepStatus.RUNNING])
        | Q(steps__finished_at__gt=now - STALLED)
    )
    kick |= _claim_rekick(stalled, now - STALE_QUEUED, now, first_kick="started_at")
    # Runs queued behind a workspace's cap whose slot is free (the kick was lost with a process
    # that crashed after freeing it) go again once `rekick_after()` has passed since their last
    # kick, not only after STALE_QUEUED; a run just started still has its own kick in flight.
    # With word from the broker, a kick still in its line is left alone there too.
    startable = Run.objects.filter(pk__in=runs_to_start_everywhere())
    soon = now - rekick_after() if delivered_before is None else horizon
    kick |= _claim_rekick(startable, soon, now)
    return kick
