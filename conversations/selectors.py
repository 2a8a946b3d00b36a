"""Reads for the chat page: a person's conversations with a flow, and each turn as shown."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, QuerySet

from config.domain import NotFound
from runs.models import FINISHED_RUN_STATUSES, Approval, ApprovalStatus, Step, StepStatus

from .models import Conversation, Turn
from .services import answer_text

MAX_LISTED = 200
MAX_SHOWN = 200


def conversations_of(*, user, flow) -> QuerySet[Conversation]:
    """The user's conversations with the flow, the most recently active first."""
    return (
        Conversation.objects.filter(owner=user, flow=flow)
        .annotate(turn_count=Count("turns"), active_at=Max("turns__created_at"))
        .order_by("-active_at", "-created_at")[:MAX_LISTED]
    )


def turn_get(*, conversation: Conversation, position: int) -> Turn:
    turn = (
        Turn.objects.select_related("run")
        .filter(conversation=conversation, position=position)
        .first()
    )
    if turn is None:
        raise NotFound("Message not found")
    return turn


def turns_shown(conversation: Conversation, limit: int = MAX_SHOWN) -> list[dict[str, Any]]:
    """The latest `limit` turns, in conversation order."""
    turns = list(conversation.turns.select_related("run").order_by("-position")[:limit])[::-1]
    steps = _steps_by_run([t.run_id for t in turns if t.run_id])
    approvals = _approvals_by_run([t.run_id for t in turns if t.run and t.run.status == "waiting"])
    return [turn_shown(t, steps.get(t.run_id, []), approvals.get(t.run_id)) for t in turns]


def turn_shown(
    turn: Turn, steps: list[Step] | None = None, approval_id: int | None = None
) -> dict[str, Any]:
    """A turn as the chat shows it: the answer (text, never HTML) or why there is none, the
    sources its Retrieve steps found and the earlier turns its Memory step used."""
    run = turn.run
    if steps is None and run is not None:
        steps = _steps_by_run([run.pk]).get(run.pk, [])
        if run.status == "waiting":
            approval_id = _approvals_by_run([run.pk]).get(run.pk)
    status = run.status if run is not None else "deleted"
    shown: dict[str, Any] = {
        "position": turn.position,
        "message": turn.message,
        "run_id": turn.run_id,
        "status": status,
        "finished": status in FINISHED_RUN_STATUSES or status == "deleted",
        "last_seq": run.last_seq if run is not None else 0,
        "answer": answer_text(run.result) if status == "succeeded" else "",
        "error": run.error_message if run is not None and status != "succeeded" else "",
        "approval_id": approval_id,
        "sources": [],
        "memory": None,
    }
    for step in steps or []:
        if step.node_type == "retrieve" and isinstance(step.output, list):
            shown["sources"] += [_source(chunk) for chunk in step.output if isinstance(chunk, dict)]
        elif step.node_type == "memory":
            shown["memory"] = (step.details or {}).get("memory")
    return shown


def _source(chunk: dict[str, Any]) -> dict[str, Any]:
    text = str(chunk.get("text") or "")
    return {
        "source": str(chunk.get("source") or "unknown source"),
        "heading": str(chunk.get("heading") or ""),
        "score": chunk.get("score"),
        "text": text[:1200],
    }


def _steps_by_run(run_ids: list[int]) -> dict[int, list[Step]]:
    steps: dict[int, list[Step]] = {}
    if not run_ids:
        return steps
    rows = Step.objects.filter(
        run_id__in=run_ids, node_type__in=("retrieve", "memory"), status=StepStatus.SUCCEEDED
    ).order_by("run_id", "id")
    for step in rows.only("run_id", "node_type", "output", "details"):
        steps.setdefault(step.run_id, []).append(step)
    return steps


def _approvals_by_run(run_ids: list[int]) -> dict[int, int]:
    if not run_ids:
        return {}
    rows = Approval.objects.filter(run_id__in=run_ids, status=ApprovalStatus.PENDING)
    return {run_id: pk for run_id, pk in rows.values_list("run_id", "pk")}
