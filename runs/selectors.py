"""Reads for runs, scoped to what a user may see: a run outside their workspaces is a 404."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from config.domain import NotAllowed, NotFound
from runs.models import Run, RunEvent, Step
from workspaces.services import PermissionDenied, require

MAX_EVENTS_PAGE = 1000


def runs_visible_to(user) -> QuerySet[Run]:
    if not user.is_authenticated:
        return Run.objects.none()
    return Run.objects.filter(workspace__memberships__user=user)


def run_get(*, user, run_id: int, permission: str = "read") -> Run:
    """Return a run the user may act on: 404 outside their workspaces, 403 for a weaker role."""
    run = runs_visible_to(user).select_related("flow", "version").filter(pk=run_id).first()
    if run is None:
        raise NotFound("Run not found")
    try:
        require(user=user, workspace_id=run.workspace_id, permission=permission)
    except PermissionDenied as exc:
        raise NotAllowed("Your role does not allow this.") from exc
    return run


def run_list(
    *,
    user,
    workspace: int | None = None,
    flow: int | None = None,
    status: list[str] | None = None,
    created_by: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Run]:
    """Runs the user may see, newest first, filtered."""
    runs = runs_visible_to(user).select_related("flow", "version", "created_by")
    if workspace is not None:
        runs = runs.filter(workspace_id=workspace)
    if flow is not None:
        runs = runs.filter(flow_id=flow)
    if status:
        runs = runs.filter(status__in=status)
    if created_by:
        runs = (
            runs.filter(created_by=user)
            if created_by == "me"
            else runs.filter(created_by__username=created_by)
        )
    if since is not None:
        runs = runs.filter(created_at__gte=since)
    if until is not None:
        runs = runs.filter(created_at__lt=until)
    return runs.order_by("-created_at", "-id")


def run_events(
    *, run_id: int, after: int = 0, limit: int = MAX_EVENTS_PAGE
) -> list[dict[str, Any]]:
    """The run's stored events after `after`, in order (what the websocket replays)."""
    limit = max(1, min(limit, MAX_EVENTS_PAGE))
    events = RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:limit]
    return [event.as_dict() for event in events]


def run_readable(*, user, run_id: int) -> dict[str, Any] | None:
    """The run's stream facts if the user may read it, else None (for the websocket)."""
    if user is None or not user.is_authenticated:
        return None
    return (
        runs_visible_to(user)
        .filter(pk=run_id)
        .values("id", "workspace_id", "status", "last_seq")
        .first()
    )


def workspace_ids_for(user) -> list[int]:
    if user is None or not user.is_authenticated:
        return []
    return list(user.memberships.values_list("workspace_id", flat=True))


def step_data(step: Step) -> dict[str, Any]:
    """What a step recorded, as JSON data: the API and the run page both start from this."""
    return {
        "id": step.pk,
        "node_id": step.node_id,
        "node_type": step.node_type,
        "iteration": step.iteration,
        "attempt": step.attempt,
        "status": step.status,
        "input": step.input,
        "output": step.output,
        "ports": list(step.ports or []),
        "error_code": step.error_code,
        "error_message": step.error_message,
        "details": step.details or {},
        "model": step.model,
        "tokens_in": step.tokens_in,
        "tokens_out": step.tokens_out,
        "cost": float(step.cost),
        "cache_hit": step.cache_hit,
        "reused": step.reused,
        "started_at": step.started_at,
        "finished_at": step.finished_at,
        "latency_ms": step.latency_ms,
    }


def run_caller_step(run: Run) -> Step | None:
    """The sub-flow step (with its run and version) that started this run, if one did."""
    if run.parent_step_id is None:
        return None
    return Step.objects.select_related("run__version").filter(pk=run.parent_step_id).first()


def run_children(run: Run) -> QuerySet[Run]:
    """The runs this run's sub-flow steps started, oldest first (always of its workspace)."""
    return (
        Run.objects.filter(parent_step__run=run)
        .select_related("flow", "parent_step")
        .order_by("created_at", "id")
    )
