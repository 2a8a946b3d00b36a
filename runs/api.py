"""The runs API: start, list, inspect and cancel runs, read their event logs, decide approvals.

A program triggers a flow with `POST /api/flows/{id}/runs` and a personal token: that is the
webhook. It then follows the run over `/ws/runs/{id}/` or polls `/api/runs/{id}/events`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from django.db.models import Count, Q
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from builder.services import flow_get
from config.errors import ApiError
from config.ratelimits import starts_runs
from config.schemas import CleanIn, Cursor, Id, Offset, StrictIn
from runs import dispatch, selectors
from runs.models import Approval, ApprovalStatus, Run, RunStatus, Step, Trigger
from runs.services import run_cancel, run_start
from runs.services.approvals import (
    approval_can_decide,
    approval_decide,
    approval_get,
    approvals_for,
)
from runs.services.fallbacks import NO_OUTPUT, fallback_decide, fallback_info
from runs.services.recovery import step_attention_resolve

router = Router(tags=["runs"])

MAX_INPUT_BYTES = 1024 * 1024
MAX_PAGE = 100


class RunStartIn(StrictIn):
    inputs: dict[str, Any] | None = Field(
        None, description="Run inputs; the flow's sample inputs when omitted."
    )
    use_draft: bool = Field(False, description="Run the current draft instead of the published")
    version: Id | None = Field(None, description="Run this version number")
    budgets: dict[str, int | float | None] | None = Field(
        None, description="max_steps, max_seconds, max_tokens, max_cost"
    )


class RunStartedOut(Schema):
    id: int
    status: str
    ws_url: str
    events_url: str
    url: str


class TotalsOut(Schema):
    tokens_in: int
    tokens_out: int
    cost: float
    steps: int
    duration_ms: int | None


class RunSummaryOut(Schema):
    id: int
    workspace: int
    flow: int
    flow_name: str
    version: int | None = Field(description="The version number; null for a draft snapshot")
    version_label: str = Field(description='"v2", or "Draft snapshot" for a test run of the draft')
    status: str
    trigger: str
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error_code: str
    error_message: str
    parent_run: int | None
    from_node: str
    region: str = Field(
        "", description="An item of a map: the map node whose steps inside it this run ran"
    )
    totals: TotalsOut


class StepOut(Schema):
    id: int
    node_id: str
    node_type: str
    iteration: int
    attempt: int
    status: str
    input: Any
    output: Any
    ports: list[str]
    error_code: str
    error_message: str
    details: dict[str, Any]
    model: str
    tokens_in: int
    tokens_out: int
    cost: float
    cache_hit: bool
    reused: bool
    started_at: datetime | None
    finished_at: datetime | None
    latency_ms: int | None


class RunApprovalOut(Schema):
    id: int
    node_id: str
    status: str


class CallerOut(Schema):
    run: int
    step: int
    node_id: str


class RunOut(RunSummaryOut):
    inputs: dict[str, Any]
    result: Any
    budgets: dict[str, Any]
    crash_count: int
    last_seq: int
    ws_url: str
    events_url: str
    steps: list[StepOut]
    approvals: list[RunApprovalOut]
    called_by: CallerOut | None = Field(
        None, description="The run and step whose sub-flow node started this run"
    )
    child_runs: list[int] = Field(
        default_factory=list, description="Runs this run's sub-flow steps started"
    )


class RunPageOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[RunSummaryOut]


class EventOut(Schema):
    run_id: int
    seq: int
    ts: str
    kind: str
    node_id: str | None
    data: dict[str, Any]


class EventsOut(Schema):
    run_id: int
    status: str
    last_seq: int
    has_more: bool
    events: list[EventOut]


class RunFilter(CleanIn):
    workspace: Id | None = None
    flow: Id | None = None
    status: str | None = Field(None, max_length=200, description="Comma-separated statuses")
    created_by: str | None = Field(None, max_length=150, description='A username, or "me"')
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(25, ge=1, le=MAX_PAGE)
    offset: Offset = 0


class EventFilter(CleanIn):
    after: Cursor = Field(0, description="Return events with a seq greater than this")
    limit: int = Field(selectors.MAX_EVENTS_PAGE, ge=1, le=selectors.MAX_EVENTS_PAGE)


class ApprovalFilter(CleanIn):
    status: Literal["pending", "decided", "all"] = "pending"
    workspace: Id | None = None
    limit: int = Field(25, ge=1, le=MAX_PAGE)
    offset: Offset = 0


class ResolveIn(StrictIn):
    action: Literal["retry", "fail"]


class DecisionIn(StrictIn):
    decision: Literal["approved", "rejected"]
    comment: str = Field("", max_length=5_000)
    payload: dict[str, Any] | None = Field(
        None, description="The edited payload, where the approval allows edits"
    )


class FallbackIn(StrictIn):
    action: Literal["output", "retry", "fail"] = Field(
        ..., description="output: use the typed output; retry: run the step again; fail: fail it"
    )
    output: Any = Field(
        None,
        description="With output: what the step should have produced (checked against the "
        "node's output schema). Text for a text prompt; any JSON value otherwise.",
    )
    model: str = Field("", max_length=200, description="With retry: another model to use")
    comment: str = Field("", max_length=5_000)


class FallbackOut(Schema):
    output_schema: dict[str, Any] | None
    text_output: bool
    model: str | None = Field(None, description="The model the step used, if it has one")
    models: list[str] = Field(description="Models this flow uses (suggestions for a retry)")


class DecisionRecordOut(Schema):
    user: str
    decision: str
    comment: str
    edited: bool
    created_at: datetime


class ApprovalSummaryOut(Schema):
    id: int
    run: int
    workspace: int
    flow: int
    flow_name: str
    node_id: str
    kind: str = Field(description='"approval", or "fallback" for a failed step to settle')
    title: str
    status: str
    quorum: int
    approvals: int
    created_at: datetime
    due_at: datetime | None
    decided_at: datetime | None
    can_decide: bool


class ApprovalOut(ApprovalSummaryOut):
    instructions: str
    payload: dict[str, Any]
    allow_edit: bool
    timeout_action: str
    run_status: str
    assignees: list[str]
    groups: list[str]
    decisions: list[DecisionRecordOut]
    my_decision: str | None
    fallback: FallbackOut | None = Field(
        None, description="For a failed step: what the typed output must match"
    )


class DecisionOut(ApprovalOut):
    changed: bool


class ApprovalPageOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[ApprovalSummaryOut]


def _urls(run_id: Id) -> dict[str, str]:
    return {
        "ws_url": f"/ws/runs/{run_id}/",
        "events_url": f"/api/runs/{run_id}/events",
        "url": f"/api/runs/{run_id}",
    }


def _totals(run: Run) -> dict[str, Any]:
    duration = None
    if run.started_at:
        end = run.finished_at or None
        if end is not None:
            duration = int((end - run.started_at).total_seconds() * 1000)
    return {
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "cost": float(run.cost),
        "steps": run.step_count,
        "duration_ms": duration,
    }


def _summary(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "workspace": run.workspace_id,
        "flow": run.flow_id,
        "flow_name": run.flow.name,
        "version": run.version.number,
        "version_label": run.version.label,
        "status": run.status,
        "trigger": run.trigger,
        "created_by": run.created_by.get_username() if run.created_by else None,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error_code": run.error_code,
        "error_message": run.error_message,
        "parent_run": run.parent_run_id,
        "from_node": run.from_node,
        "region": run.region,
        "totals": _totals(run),
    }


def _step(step: Step) -> dict[str, Any]:
    return selectors.step_data(step)


def _detail(run: Run) -> dict[str, Any]:
    return {
        **_summary(run),
        **_urls(run.pk),
        "inputs": run.inputs,
        "result": run.result,
        "budgets": run.budgets,
        "crash_count": run.crash_count,
        "last_seq": run.last_seq,
        "steps": [_step(s) for s in run.steps.order_by("created_at", "id")],
        "approvals": [
            {"id": a.pk, "node_id": a.node_id, "status": a.status}
            for a in run.approvals.order_by("created_at")
        ],
        "called_by": _caller(run),
        "child_runs": list(selectors.run_children(run).values_list("pk", flat=True)),
    }


def _caller(run: Run) -> dict[str, Any] | None:
    step = selectors.run_caller_step(run)
    return {"run": step.run_id, "step": step.pk, "node_id": step.node_id} if step else None


def _statuses(raw: str | None, allowed: list[str], what: str) -> list[str]:
    values = [v.strip() for v in (raw or "").split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ApiError(
            422, "invalid_filter", f"Unknown {what} {', '.join(unknown)}; use {', '.join(allowed)}."
        )
    return values


@router.post("/flows/{int:flow_id}/runs", response={202: RunStartedOut})
@starts_runs
def run_create(request: HttpRequest, flow_id: Id, payload: RunStartIn):
    """Start a run of a flow (the published version unless `version` or `use_draft` says
    otherwise). Answers 202 at once; follow the run on `ws_url` or `events_url`."""
    flow = flow_get(user=request.user, flow_id=flow_id, permission="run")
    if payload.inputs is not None and len(json.dumps(payload.inputs)) > MAX_INPUT_BYTES:
        raise ApiError(413, "too_large", "Run inputs are limited to 1 MB.")
    by_program = request.headers.get("Authorization", "").lower().startswith("bearer ")
    run = run_start(
        user=request.user,
        flow=flow,
        inputs=payload.inputs,
        use_draft=payload.use_draft,
        version=payload.version,
        budgets=payload.budgets,
        trigger=Trigger.API if by_program else Trigger.UI,
    )
    dispatch.kick(run.pk)
    return Status(202, {"id": run.pk, "status": run.status, **_urls(run.pk)})


@router.get("/runs", response=RunPageOut)
def run_list(request: HttpRequest, filters: Query[RunFilter]):
    """Runs in your workspaces, newest first, filtered by workspace, flow, status (a
    comma-separated list), who started them (`me` or a username) and creation time."""
    runs = selectors.run_list(
        user=request.user,
        workspace=filters.workspace,
        flow=filters.flow,
        status=_statuses(filters.status, list(RunStatus.values), "status"),
        created_by=filters.created_by,
        since=filters.since,
        until=filters.until,
    )
    page = runs[filters.offset : filters.offset + filters.limit]
    return {
        "count": runs.count(),
        "limit": filters.limit,
        "offset": filters.offset,
        "items": [_summary(run) for run in page],
    }


@router.get("/runs/{int:run_id}", response=RunOut)
def run_get(request: HttpRequest, run_id: Id):
    """A run with its steps (inputs, outputs, tokens, cost, latency) and totals."""
    return _detail(selectors.run_get(user=request.user, run_id=run_id))


@router.post("/runs/{int:run_id}/cancel", response=RunSummaryOut)
def run_cancel_view(request: HttpRequest, run_id: Id):
    """Cancel a run: scheduling stops at once and a result still in flight is discarded."""
    run = selectors.run_get(user=request.user, run_id=run_id, permission="run")
    if run.is_finished and run.status != RunStatus.CANCELLED:
        raise ApiError(
            409, "already_finished", f"The run already {run.status}.", current_status=run.status
        )
    run = run_cancel(run=run, user=request.user)
    dispatch.kick_all(run.kicks)
    return _summary(selectors.run_get(user=request.user, run_id=run.pk))


@router.get("/runs/{int:run_id}/events", response=EventsOut)
def run_events(request: HttpRequest, run_id: Id, filters: Query[EventFilter]):
    """The run's events after seq `after`, in order: the same log the websocket replays."""
    run = selectors.run_get(user=request.user, run_id=run_id)
    events = selectors.run_events(run_id=run.pk, after=filters.after, limit=filters.limit + 1)
    return {
        "run_id": run.pk,
        "status": run.status,
        "last_seq": run.last_seq,
        "has_more": len(events) > filters.limit,
        "events": events[: filters.limit],
    }


@router.post("/runs/{int:run_id}/steps/{int:step_id}/resolve", response=RunSummaryOut)
def step_resolve(request: HttpRequest, run_id: Id, step_id: Id, payload: ResolveIn):
    """Settle a step parked after a lost worker (a tool not safe to repeat): retry or fail it."""
    run = selectors.run_get(user=request.user, run_id=run_id, permission="run")
    if not run.steps.filter(pk=step_id).exists():
        raise ApiError(404, "not_found", "Step not found")
    step_attention_resolve(step_id=step_id, action=payload.action, user=request.user)
    dispatch.kick(run.pk, redispatch=True)
    return _summary(selectors.run_get(user=request.user, run_id=run.pk))


def _approved_count(approval: Approval) -> int:
    annotated = getattr(approval, "approved_count", None)
    if annotated is not None:
        return annotated
    return approval.decisions.filter(decision="approved").count()


def _approval_summary(approval: Approval, user) -> dict[str, Any]:
    return {
        "id": approval.pk,
        "run": approval.run_id,
        "workspace": approval.workspace_id,
        "flow": approval.run.flow_id,
        "flow_name": approval.run.flow.name,
        "node_id": approval.node_id,
        "kind": approval.kind,
        "title": approval.title,
        "status": approval.status,
        "quorum": approval.quorum,
        "approvals": _approved_count(approval),
        "created_at": approval.created_at,
        "due_at": approval.due_at,
        "decided_at": approval.decided_at,
        "can_decide": approval_can_decide(approval, user),
    }


def _approval_detail(approval: Approval, user) -> dict[str, Any]:
    decisions = list(approval.decisions.select_related("user"))
    mine = next((d for d in decisions if d.user_id == user.pk), None)
    return {
        **_approval_summary(approval, user),
        "instructions": approval.instructions,
        "payload": approval.payload,
        "allow_edit": approval.allow_edit,
        "timeout_action": approval.timeout_action,
        "run_status": approval.run.status,
        "assignees": sorted(u.get_username() for u in approval.users.all()),
        "groups": sorted(g.name for g in approval.groups.all()),
        "decisions": [
            {
                "user": d.user.get_username(),
                "decision": d.decision,
                "comment": d.comment,
                "edited": d.edited_payload is not None,
                "created_at": d.created_at,
            }
            for d in decisions
        ],
        "my_decision": mine.decision if mine else None,
        "fallback": _fallback(approval),
    }


def _fallback(approval: Approval) -> dict[str, Any] | None:
    if approval.kind != "fallback":
        return None
    info = fallback_info(approval)
    return {
        "output_schema": info.output_schema,
        "text_output": info.text_output,
        "model": info.model if info.model_field else None,
        "models": info.models,
    }


@router.get("/approvals", response=ApprovalPageOut, tags=["approvals"])
def approval_list(request: HttpRequest, filters: Query[ApprovalFilter]):
    """Approvals assigned to you: `pending` (your inbox), `decided`, or `all`."""
    approvals = approvals_for(request.user).select_related("run", "run__flow")
    if filters.status == "pending":
        approvals = approvals.filter(status=ApprovalStatus.PENDING)
    elif filters.status == "decided":
        approvals = approvals.exclude(status=ApprovalStatus.PENDING)
    if filters.workspace is not None:
        approvals = approvals.filter(workspace_id=filters.workspace)
    approvals = approvals.annotate(
        approved_count=Count("decisions", filter=Q(decisions__decision="approved"), distinct=True)
    ).order_by("-created_at", "-id")
    page = approvals[filters.offset : filters.offset + filters.limit]
    return {
        "count": approvals.count(),
        "limit": filters.limit,
        "offset": filters.offset,
        "items": [_approval_summary(a, request.user) for a in page],
    }


@router.get("/approvals/{int:approval_id}", response=ApprovalOut, tags=["approvals"])
def approval_detail(request: HttpRequest, approval_id: Id):
    """An approval with what the approver must see: instructions, payload, decisions so far."""
    return _approval_detail(approval_get(user=request.user, approval_id=approval_id), request.user)


@router.post("/approvals/{int:approval_id}/decision", response=DecisionOut, tags=["approvals"])
def approval_decision(request: HttpRequest, approval_id: Id, payload: DecisionIn):
    """Approve or reject (with a comment, and an edited payload where allowed).

    Only assignees may decide (403; 404 outside the workspace). Repeating a decision that
    already holds answers 200 with `changed: false`; contradicting it answers 409.
    """
    decided = approval_decide(
        user=request.user,
        approval_id=approval_id,
        decision=payload.decision,
        comment=payload.comment,
        payload=payload.payload,
    )
    dispatch.kick(decided.resume)
    changed = decided.changed
    approval = approval_get(user=request.user, approval_id=approval_id)
    return {**_approval_detail(approval, request.user), "changed": changed}


@router.post("/approvals/{int:approval_id}/fallback", response=DecisionOut, tags=["approvals"])
def approval_fallback(request: HttpRequest, approval_id: Id, payload: FallbackIn):
    """Settle a failed step handed to a person: type its `output`, `retry` it (optionally with
    another `model`), or `fail` it.

    A typed output that does not match the node's output schema answers 422 with the problems
    and records nothing. Only assignees may decide (403; 404 outside the workspace); repeating
    the decision answers 200 with `changed: false`, a different one 409.
    """
    output = payload.output if "output" in payload.model_fields_set else NO_OUTPUT
    decided = fallback_decide(
        user=request.user,
        approval_id=approval_id,
        action=payload.action,
        output=output,
        model=payload.model,
        comment=payload.comment,
    )
    dispatch.kick(decided.resume, redispatch=True)
    approval = approval_get(user=request.user, approval_id=approval_id)
    return {**_approval_detail(approval, request.user), "changed": decided.changed}
