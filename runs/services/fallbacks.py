"""Failed steps handed to a person ("ask a person"): typed output, retry, or fail.

A node whose on-failure policy is `ask` records its failed step as waiting, with an approval of
kind `fallback` in the inbox. An assignee settles it once, audited like any approval decision:

- `output`: the person types what the step should have produced; it is checked against the
  node's output schema (nothing is recorded when it does not fit) and the run goes on with it;
- `retry`: the step runs again as a new attempt, optionally with another model;
- `fail`: the step fails for good: its error branch if one is drawn, else the run fails.

Nothing is held in memory while a step waits: the step row and its approval are the state, so a
restart or a killed worker loses nothing. Run status changes go through `RunChange`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.domain import Conflict, Invalid, NotFound, RunConflict, TooLarge
from runs.engine.failures import (
    MAX_TYPED_OUTPUT_BYTES,
    TypedOutputInvalid,
    error_object,
    failed_ports,
    parse_typed_output,
    typed_output,
)
from runs.engine.graph import CompiledGraph
from runs.engine.scheduler import RunState
from runs.llm import providers
from runs.llm.response import LlmError
from runs.models import (
    Approval,
    ApprovalDecision,
    ApprovalKind,
    ApprovalStatus,
    Run,
    Step,
    StepStatus,
)

from .advancing import compiled_graph, step_states
from .approvals import MAX_COMMENT_CHARS, Decided, _check_access, _lock
from .lifecycle import RunChange

ACTIONS = ("output", "retry", "fail")
SETTLED = {
    "output": ApprovalStatus.ANSWERED,
    "retry": ApprovalStatus.RETRIED,
    "fail": ApprovalStatus.FAILED,
}
NO_OUTPUT = object()


@dataclass
class Fallback:
    """What the person settling a failed step needs to know about its node."""

    output_schema: dict[str, Any] | None
    text_output: bool
    model_field: str | None
    model: str
    models: list[str]


def fallback_info(approval: Approval) -> Fallback:
    """The node's output schema and models, from the run's version of the graph."""
    graph = compiled_graph(approval.run)
    node = graph.nodes.get(approval.node_id)
    if node is None:
        return Fallback(None, False, None, "", [])
    schema = node.node_type.typed_output_schema(node.config)
    field = node.node_type.retry_model_field
    return Fallback(
        output_schema=schema,
        text_output=schema == {"type": "string"},
        model_field=field,
        model=str(getattr(node.config, field, "") or "") if field else "",
        models=_models(graph, providers.default_model()),
    )


def _models(graph: CompiledGraph, default: str) -> list[str]:
    """Models worth suggesting for a retry: the ones this flow already uses, and the default."""
    found: list[str] = []
    for node in graph.nodes.values():
        names = [getattr(node.config, "model", ""), *getattr(node.config, "fallback_models", [])]
        for name in names:
            if isinstance(name, str) and name and name not in found:
                found.append(name)
    if default and default not in found:
        found.append(default)
    return found


def _check_model(model: str) -> None:
    if len(model) > 200:
        raise Invalid("The model name is longer than 200 characters.", code="invalid_model")
    try:
        providers.resolve(model, providers.configured_providers())
    except LlmError as exc:
        raise Invalid(exc.message, code="invalid_model") from exc


def _already_settled(approval: Approval, user, action: str) -> bool:
    if approval.status == ApprovalStatus.PENDING:
        return False
    mine = approval.decisions.filter(user=user).first()
    if mine is not None and mine.decision == action:
        return True
    who = "You" if mine is not None else "Someone"
    raise Conflict(
        f"{who} already settled this failed step ({approval.get_status_display().lower()}).",
        current_status=approval.status,
        code="already_decided",
    )


def fallback_decide(
    *,
    user,
    approval_id: int,
    action: str,
    output: Any = NO_OUTPUT,
    model: str = "",
    comment: str = "",
) -> Decided:
    """Settle a failed step waiting for a person. Return the run to kick (with redispatch).

    Only assignees whose role may approve can decide (NotAllowed; NotFound outside the
    workspace). A typed output that does not fit the node's output schema is refused (Invalid,
    with the problems) and nothing is recorded. Repeating the decision that settled it is a
    no-op; a different one is a conflict.
    """
    if action not in ACTIONS:
        raise Invalid('Action must be "output", "retry" or "fail".', code="invalid_action")
    if len(comment) > MAX_COMMENT_CHARS:
        raise Invalid("The comment is longer than 5,000 characters.", code="invalid_comment")
    if action == "output" and output is NO_OUTPUT:
        raise Invalid("Type the output the step should have produced.", code="output_missing")
    if isinstance(output, str) and len(output) > MAX_TYPED_OUTPUT_BYTES:
        raise TooLarge("The output is larger than 256 KB.", code="too_large")
    model = (model or "").strip()
    if action == "retry" and model:
        _check_model(model)
    with transaction.atomic():
        run, found = _lock(approval_id)
        approval = _check_access(found, user)
        if run is None:
            raise NotFound("Approval not found")
        if approval.kind != ApprovalKind.FALLBACK:
            raise Invalid(
                "This is an approval, not a failed step: approve or reject it.",
                code="not_a_failed_step",
            )
        if _already_settled(approval, user, action):
            return Decided(approval, False)
        step = Step.objects.select_for_update().get(pk=approval.step_id)
        if run.is_finished or step.status != StepStatus.WAITING:
            approval.status = ApprovalStatus.CANCELLED
            approval.decided_at = timezone.now()
            approval.save(update_fields=["status", "decided_at"])
            closed = True
        else:
            closed = False
            change = RunChange(run)
            _settle(change, approval, step, user, action, output, model, comment)
            change.save()
    if closed:
        raise RunConflict(
            f"The run is {run.status}; this failed step was closed.",
            current_status=run.status,
            code="run_finished",
        )
    return Decided(approval, True, resume=run.pk)


def _settle(
    change: RunChange,
    approval: Approval,
    step: Step,
    user,
    action: str,
    output: Any,
    model: str,
    comment: str,
) -> None:
    run = change.run
    graph = compiled_graph(run)
    node = graph.nodes.get(step.node_id)
    if node is None:
        raise Invalid("The flow no longer has this step's node.", code="unknown_node")
    who = user.get_username()
    now = timezone.now()
    recorded: Any = None
    typed = None
    if action == "output":
        typed = _typed(run, graph, step, output)
        recorded = {"output": typed.output}
    elif action == "retry":
        field = node.node_type.retry_model_field
        if model and field is None:
            raise Invalid(
                f"A {node.node_type.label} step has no model to change; retry it as it is.",
                code="invalid_model",
            )
        recorded = {"model": model} if model else None
    ApprovalDecision.objects.create(
        approval=approval, user=user, decision=action, comment=comment, edited_payload=recorded
    )
    approval.status = SETTLED[action]
    approval.decided_at = now
    approval.save(update_fields=["status", "decided_at"])
    change.event(
        "approval.decided",
        approval.node_id,
        {
            "approval_id": approval.pk,
            "kind": ApprovalKind.FALLBACK,
            "decision": action,
            "by": who,
            "comment": comment,
            "model": model or None,
            "final": True,
        },
    )
    if typed is not None:
        step.status, step.output, step.ports = StepStatus.SUCCEEDED, typed.output, typed.ports
        step.finished_at = now
        step.details = {**(step.details or {}), "output_typed_by": who}
        step.save(update_fields=["status", "output", "ports", "finished_at", "details"])
        change.event(
            "step.succeeded",
            step.node_id,
            {
                "iteration": step.iteration,
                "step_id": step.pk,
                "output": step.output,
                "ports": step.ports,
                "typed_by": who,
            },
        )
    elif action == "retry":
        _retry(change, step, who, model, node.node_type.retry_model_field)
    else:
        message = f"{step.error_message} (failed by {who})".strip()
        _fail_step(change, graph, step, message=message, failed_by=who)
    change.resume()


def _fail_step(
    change: RunChange,
    graph: CompiledGraph,
    step: Step,
    *,
    message: str,
    code: str | None = None,
    error: dict[str, Any] | None = None,
    **event: Any,
) -> None:
    """Fail a waiting step for good: out of its error branch if one is drawn (with its error
    object, or `error` instead), else the run fails with it."""
    ports = failed_ports(graph, step.node_id)
    step.status = StepStatus.FAILED
    step.ports = ports
    step.output = (error or step.output) if ports else None
    step.error_code = code or step.error_code
    step.error_message = message
    step.finished_at = timezone.now()
    step.save(
        update_fields=["status", "ports", "output", "error_code", "error_message", "finished_at"]
    )
    change.event(
        "step.failed",
        step.node_id,
        {
            "iteration": step.iteration,
            "step_id": step.pk,
            "ports": ports,
            "code": step.error_code,
            "message": step.error_message,
            **event,
        },
    )


def fallback_expire(change: RunChange, approval: Approval) -> bool:
    """Apply a task's timeout action to a failed step nobody settled in time (the caller holds
    the run and approval locks; the approval is pending and due). Return True when the run is to
    resume.

    `fail`: the step fails with its own error; `branch`: with a `timeout` error
    (`task_timed_out`) — either way out of its error branch if one is drawn, else the run fails.
    """
    now = timezone.now()
    step = Step.objects.select_for_update().get(pk=approval.step_id)
    approval.decided_at = now
    if change.run.is_finished or step.status != StepStatus.WAITING:
        approval.status = ApprovalStatus.CANCELLED
        approval.save(update_fields=["status", "decided_at"])
        return False
    approval.status = ApprovalStatus.TIMED_OUT
    approval.save(update_fields=["status", "decided_at"])
    waited = _waited(approval)
    change.event(
        "approval.decided",
        approval.node_id,
        {
            "approval_id": approval.pk,
            "kind": ApprovalKind.FALLBACK,
            "decision": "timed_out",
            "by": "timeout",
            "action": approval.timeout_action,
            "final": True,
        },
    )
    graph = compiled_graph(change.run)
    if approval.timeout_action == "branch":
        message = f"Nobody settled this failed step within {waited}."
        error = error_object(
            node_id=step.node_id, code="task_timed_out", message=message, kind="timeout"
        )
        _fail_step(
            change, graph, step, message=message, code="task_timed_out", error=error, timed_out=True
        )
    else:
        message = f"{step.error_message} (not settled within {waited})".strip()
        _fail_step(change, graph, step, message=message, timed_out=True)
    change.resume()
    return True


def _waited(approval: Approval) -> str:
    """How long the task was open, the way a timeout is written: 30m, 24h, 3d."""
    seconds = int((approval.due_at - approval.created_at).total_seconds()) if approval.due_at else 0
    for unit, size, least in (("d", 86400, 2 * 86400), ("h", 3600, 3600), ("m", 60, 60)):
        if seconds >= least and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _typed(run: Run, graph: CompiledGraph, step: Step, raw: Any):
    try:
        value = parse_typed_output(graph, step.node_id, raw)
        others = [
            s
            for s in step_states(run.pk)
            if (s.node_id, s.iteration, s.attempt) != (step.node_id, step.iteration, step.attempt)
        ]
        return typed_output(graph, step.node_id, value, RunState(graph, others))
    except TypedOutputInvalid as exc:
        raise Invalid(exc.message, errors=exc.problems, code="invalid_output") from exc


def _retry(change: RunChange, step: Step, who: str, model: str, field: str | None) -> None:
    """Close the waiting attempt and queue the next one (with the person's model, if any)."""
    now = timezone.now()
    step.status = StepStatus.FAILED
    step.ports = []
    step.finished_at = now
    step.save(update_fields=["status", "ports", "finished_at"])
    overrides = {field: model} if model and field else None
    retry = Step.objects.create(
        run=change.run,
        node_id=step.node_id,
        node_type=step.node_type,
        iteration=step.iteration,
        attempt=step.attempt + 1,
        status=StepStatus.QUEUED,
        created_at=now,
        details={"overrides": overrides, "retried_by": who} if overrides else {"retried_by": who},
    )
    change.event(
        "step.queued",
        step.node_id,
        {
            "iteration": retry.iteration,
            "step_id": retry.pk,
            "attempt": retry.attempt,
            "retried_by": who,
            "model": model or None,
        },
    )


def typed_output_text(value: Any) -> str:
    """A value as a person edits it: text as it is, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)
