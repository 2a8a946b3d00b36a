"""The live run page: a run's header, canvas, step timeline, step details and approvals.

The page is rendered whole on the server (useful before, or without, JavaScript); the page's
modules then follow the run's websocket from the last seq the render reflects.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.timesince import timesince

from config.domain import NotAllowed, NotFound
from runs import selectors
from runs.models import Approval, ApprovalStatus, Run, RunEvent, Step, StepStatus
from runs.services.approvals import approval_can_decide
from runs.services.starting import input_schema
from workspaces.services import membership_for

STEP_STATE_LABELS = {
    "queued": "Queued",
    "running": "Running",
    "waiting": "Waiting",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "skipped": "Skipped",
    "cancelled": "Cancelled",
    "needs_attention": "Needs attention",
    "reused": "Reused",
}


def _run_for(request: HttpRequest, run_id: int) -> Run:
    try:
        return selectors.run_get(user=request.user, run_id=run_id)
    except NotAllowed as exc:
        raise PermissionDenied(exc.detail) from exc
    except NotFound as exc:
        raise Http404("Run not found") from exc


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _ms(start, end) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds() * 1000))


def _node_index(graph: dict[str, Any]) -> dict[str, dict[str, str]]:
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    return {
        str(n.get("id")): {"type": str(n.get("type", "")), "label": str(n.get("label") or "")}
        for n in nodes or []
        if isinstance(n, dict)
    }


SUBSTEP_PREVIEW = 280


def substep_summary(entry: dict[str, Any]) -> tuple[str, str]:
    """A sub-step's label and one-line text, as the timeline shows it (run_timeline.js too)."""
    kind = entry.get("type")
    if kind == "tool_call":
        arguments = json.dumps(entry.get("arguments"), ensure_ascii=False, default=str)
        return f"Calls {entry.get('tool', '?')}", arguments
    if kind == "tool_result":
        label = "Result" if entry.get("ok") else "Tool error"
        return label, str(entry.get("preview", ""))
    if kind == "critique":
        verdict = "Accepted" if entry.get("met") else "Rejected"
        by = {"rules": "by the checks", "schema": "by the output schema"}.get(
            str(entry.get("by")), "by the reviewer"
        )
        return f"{verdict} {by}", str(entry.get("feedback", ""))
    if kind == "answer":
        return "Answer", str(entry.get("text", ""))
    return "Thought", str(entry.get("text", ""))


def _substeps(run: Run) -> dict[int, list[dict[str, Any]]]:
    """The recorded sub-steps (an agent's thoughts, tool calls, critiques) by step id."""
    by_step: dict[int, list[dict[str, Any]]] = {}
    for data in (
        RunEvent.objects.filter(run=run, kind="step.substep")
        .order_by("seq")
        .values_list("data", flat=True)
    ):
        if not isinstance(data, dict) or not isinstance(data.get("step_id"), int):
            continue
        label, text = substep_summary(data)
        if len(text) > SUBSTEP_PREVIEW:
            text = text[: SUBSTEP_PREVIEW - 1] + "…"
        by_step.setdefault(data["step_id"], []).append({**data, "label": label, "text": text})
    return by_step


def _step_dict(step: Step, nodes: dict[str, dict[str, str]]) -> dict[str, Any]:
    state = "reused" if step.reused and step.status == StepStatus.SUCCEEDED else step.status
    return {
        **selectors.step_data(step),
        "label": nodes.get(step.node_id, {}).get("label") or step.node_id,
        "state": state,
        "state_label": STEP_STATE_LABELS.get(state, state),
        "duration_text": (
            _duration_text(step.latency_ms)
            if step.latency_ms is not None and not step.reused
            else ""
        ),
        "created_at": _iso(step.created_at),
        "started_at": _iso(step.started_at),
        "finished_at": _iso(step.finished_at),
    }


def _approval_dict(approval: Approval, user) -> dict[str, Any]:
    decisions = list(approval.decisions.select_related("user"))
    mine = next((d.decision for d in decisions if d.user_id == user.pk), None)
    return {
        "id": approval.pk,
        "node_id": approval.node_id,
        "step_id": approval.step_id,
        "kind": approval.kind,
        "title": approval.title,
        "status": approval.status,
        "instructions": approval.instructions,
        "payload": approval.payload,
        "payload_text": _pretty(approval.payload),
        "allow_edit": approval.allow_edit,
        "quorum": approval.quorum,
        "can_decide": approval_can_decide(approval, user),
        "assignees": sorted(u.get_username() for u in approval.users.all()),
        "groups": sorted(g.name for g in approval.groups.all()),
        "decisions": [
            {
                "user": d.user.get_username(),
                "decision": d.decision,
                "comment": d.comment,
                "at": _iso(d.created_at),
            }
            for d in decisions
        ],
        "my_decision": mine,
        "due_at": _iso(approval.due_at),
    }


def _pretty(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _inline(inputs: Any, limit: int = 140) -> str:
    """Inputs on one line for the header: `dish: vegetable lasagne · servings: 4`."""
    if not isinstance(inputs, dict) or not inputs:
        return "none"
    parts = []
    for key, value in inputs.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {shown}")
    text = " · ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _duration_text(ms: int | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _bars(steps: list[Step], start, end) -> dict[int, dict[str, float]]:
    """Each step's queue wait and execution as percentages of the run's time span."""
    if start is None or end is None:
        return {}
    span = max((end - start).total_seconds(), 0.001)

    def pct(moment) -> float:
        return round(min(100.0, max(0.0, (moment - start).total_seconds() / span * 100)), 2)

    bars = {}
    for step in steps:
        queued = step.created_at or step.started_at
        began = step.started_at or queued
        done = step.finished_at or end
        if queued is None:
            continue
        bars[step.pk] = {
            "queue_left": pct(queued),
            "queue_width": max(0.0, pct(began) - pct(queued)),
            "exec_left": pct(began),
            "exec_width": max(0.4, pct(done) - pct(began)),
        }
    return bars


def _ago(moment) -> str:
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 60:
        return "just now"
    return f"{timesince(moment)} ago"


def run_page_state(run: Run, user) -> dict[str, Any]:
    """Everything the page shows, as the page's modules read it (also the server render)."""
    graph = run.version.graph if isinstance(run.version.graph, dict) else {}
    nodes = _node_index(graph)
    rows = list(run.steps.order_by("created_at", "id"))
    now = timezone.now()
    bars = _bars(rows, run.created_at, run.finished_at or now)
    substeps = _substeps(run)
    steps = [
        {**_step_dict(s, nodes), "bar": bars.get(s.pk), "substeps": substeps.get(s.pk, [])}
        for s in rows
    ]
    approvals = [
        _approval_dict(a, user)
        for a in run.approvals.order_by("created_at").prefetch_related("users", "groups")
    ]
    membership = membership_for(user=user, workspace_id=run.workspace_id)
    end = run.finished_at or (None if run.is_finished else now)
    return {
        "run": {
            "id": run.pk,
            "status": run.status,
            "flow_id": run.flow_id,
            "flow_name": run.flow.name,
            "version": run.version.number,
            "version_label": run.version.label,
            "trigger": run.trigger,
            "created_by": run.created_by.get_username() if run.created_by else None,
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "duration_ms": _ms(run.started_at, end),
            "inputs": run.inputs,
            "result": run.result,
            "error_code": run.error_code,
            "error_message": run.error_message,
            "tokens_in": run.tokens_in,
            "tokens_out": run.tokens_out,
            "cost": float(run.cost),
            "step_count": run.step_count,
            "parent_run": run.parent_run_id,
            "from_node": run.from_node,
            "reproduce": run.reproduce,
            "last_seq": run.last_seq,
        },
        "graph": graph,
        "nodes": nodes,
        "steps": steps,
        "approvals": approvals,
        "input_schema": input_schema(graph),
        "me": user.get_username(),
        "can_run": bool(membership and membership.can("run")),
        "can_edit": bool(membership and membership.can("edit")),
    }


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run page: live while the run is going, replayable once it is done."""
    run = _run_for(request, run_id)
    state = run_page_state(run, request.user)
    info = state["run"]
    steps = state["steps"]
    pending = [a for a in state["approvals"] if a["status"] == ApprovalStatus.PENDING]
    end = info["duration_ms"]
    context = {
        "nav": "runs",
        "run": run,
        "state": state,
        "info": info,
        "steps": steps,
        "pending_approvals": pending,
        "node_labels": {k: v["label"] or k for k, v in state["nodes"].items()},
        "inputs_text": _pretty(run.inputs),
        "inputs_inline": _inline(run.inputs),
        "result_text": _pretty(run.result),
        "duration_text": _duration_text(end),
        "started_ago": _ago(run.created_at),
        "from_label": state["nodes"].get(run.from_node, {}).get("label") or run.from_node,
        "tokens_total": run.tokens_in + run.tokens_out,
        "is_finished": run.is_finished,
        "can_run": state["can_run"],
        "parent_run_id": run.parent_run_id,
        **_subflow_links(run, state["nodes"]),
    }
    return render(request, "runs/run_detail.html", context)


def _subflow_links(run: Run, nodes: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The run whose sub-flow step started this one, and the runs this one's steps started
    (always of the same workspace)."""
    caller = None
    step = selectors.run_caller_step(run)
    if step is not None:
        graph = step.run.version.graph if isinstance(step.run.version.graph, dict) else {}
        label = _node_index(graph).get(step.node_id, {}).get("label") or step.node_id
        caller = {"run_id": step.run_id, "label": label, "region": bool(run.region)}
    children, maps = [], {}
    for child in selectors.run_children(run):
        step = child.parent_step
        label = nodes.get(step.node_id, {}).get("label") or step.node_id
        progress = (step.details or {}).get("map")
        if progress is None:
            children.append(
                {
                    "id": child.pk,
                    "flow_name": child.flow.name,
                    "status": child.status,
                    "label": label,
                }
            )
            continue
        called = "the steps inside it" if progress.get("region") else child.flow.name
        group = maps.setdefault(step.pk, _map_group(step, label, progress, called))
        index = group["index_of"].get(child.pk)
        item = (progress.get("inputs") or [])[index] if index is not None else None
        if progress.get("region") and isinstance(item, dict):
            name = progress.get("item_input") or "item"
            item = {name: item.get(name)}  # not the run's inputs, which every item has too
        group["items"].append(
            {
                "number": index + 1 if index is not None else None,
                "id": child.pk,
                "status": child.status,
                "item": _inline(item) if item is not None else "",
            }
        )
    for group in maps.values():
        group["items"].sort(key=lambda item: (item["number"] is None, item["number"] or 0))
    return {"caller": caller, "child_runs": children, "map_groups": list(maps.values())}


def _map_group(step: Any, label: str, progress: dict[str, Any], flow_name: str) -> dict[str, Any]:
    """A map step's item runs as the run page lists them: number, item, status, link."""
    children = progress.get("children") or {}
    return {
        "label": label,
        "flow_name": flow_name,
        "status": step.status,
        "done": len(progress.get("results") or {}),
        "total": progress.get("total") or 0,
        "concurrency": progress.get("concurrency"),
        "policy": progress.get("policy"),
        "index_of": {int(run_id): int(index) for index, run_id in children.items()},
        "items": [],
    }
