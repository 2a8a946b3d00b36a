"""The inbox pane of a failed step handed to a person: what went wrong, what the step received,
and the three ways to settle it (type the output, retry, fail)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from runs.models import Approval, ApprovalStatus
from runs.services.approvals import approval_can_decide
from runs.services.fallbacks import NO_OUTPUT, fallback_info, typed_output_text

from .diffs import pretty_value

ERROR_TITLES = {
    "refusal": "The model refused to answer",
    "truncated": "The answer was cut off at its length limit",
    "invalid_json": "The model's answer was not valid JSON",
    "provider_error": "The model provider could not answer",
    "timeout": "The step ran out of time",
    "budget": "The run reached a budget limit",
    "tool_error": "The tool call failed",
    "template_error": "A template in the step could not be filled in",
    "config_error": "The step's settings could not be used",
    "internal_error": "The step hit an unexpected error",
    "node_error": "The step failed",
}
INPUT_LABELS = {
    "system": "System message",
    "prompt": "User message",
    "in": "Incoming value",
    "arguments": "Tool arguments",
    "target": "What was evaluated",
}
ACTIONS = ("output", "retry", "fail")


@dataclass
class FallbackForm:
    action: str = ""
    output: Any = NO_OUTPUT
    output_text: str = ""
    model: str = ""
    comment: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def parse_fallback(request: HttpRequest) -> FallbackForm:
    """Read the pane's form; the typed text is kept as typed, whatever is wrong with it."""
    form = FallbackForm(
        action=request.POST.get("action", ""),
        output_text=request.POST.get("output", "").replace("\r\n", "\n"),
        model=request.POST.get("model", "").strip(),
        comment=request.POST.get("comment", "").replace("\r\n", "\n").strip(),
    )
    if form.action not in ACTIONS:
        form.errors["action"] = "Choose what to do: use your output, retry, or fail the step."
    elif form.action == "output":
        if not form.output_text.strip():
            form.errors["output"] = "Type the output the step should have produced."
        else:
            form.output = form.output_text
    if len(form.comment) > 5_000:
        form.errors["comment"] = "Keep the comment under 5,000 characters."
    return form


def _inputs(payload: dict[str, Any]) -> list[dict[str, str]]:
    raw = payload.get("inputs")
    values: dict[str, Any] = raw if isinstance(raw, dict) else {}
    rows = []
    for key, value in values.items():
        if value is None:
            continue
        kind, display = pretty_value(value)
        rows.append(
            {"key": key, "label": INPUT_LABELS.get(key, key), "kind": kind, "text": display}
        )
    return rows


def _schema_hint(schema: dict[str, Any] | None) -> str:
    if schema == {"type": "string"}:
        return ""
    if not schema:
        return "Any JSON value."
    return json.dumps(schema, indent=2, ensure_ascii=False)


def _settled(approval: Approval) -> dict[str, Any] | None:
    decision = approval.decisions.select_related("user").order_by("created_at").first()
    if decision is None:
        return None
    recorded = decision.edited_payload or {}
    text = ""
    if decision.decision == "output" and "output" in recorded:
        text = typed_output_text(recorded["output"])
    return {"decision": decision, "output_text": text, "model": recorded.get("model", "")}


def fallback_context(
    approval: Approval,
    user,
    *,
    form: FallbackForm | None,
    error: str,
    notice: str,
    base: dict[str, Any],
) -> dict[str, Any]:
    payload = approval.payload if isinstance(approval.payload, dict) else {}
    raw = payload.get("error")
    problem: dict[str, Any] = raw if isinstance(raw, dict) else {}
    info = fallback_info(approval)
    can_decide = approval_can_decide(approval, user)
    form = form or FallbackForm()
    graph = approval.run.version.graph or {}
    error_edge = any(
        e.get("source") == approval.node_id and e.get("source_port") == "error"
        for e in graph.get("edges", [])
        if isinstance(e, dict)
    )
    cannot = ""
    if approval.status == ApprovalStatus.PENDING and not can_decide:
        cannot = "You can see this failed step, but your role does not let you settle it."
    return {
        **base,
        "is_fallback": True,
        "problem": problem,
        "problem_title": ERROR_TITLES.get(str(problem.get("type")), "The step failed"),
        "inputs": _inputs(payload),
        "text_output": info.text_output,
        "schema_hint": _schema_hint(info.output_schema),
        "model_field": info.model_field,
        "current_model": info.model,
        "models": info.models,
        "error_path": error_edge,
        "fail_note": (
            "The flow takes this step's Error path."
            if error_edge
            else "The run stops here and is marked as failed."
        ),
        "settled": _settled(approval),
        "can_decide": can_decide,
        "cannot_reason": cannot,
        "form": form,
        "error": error,
        "notice": notice,
        "decisions": [],
    }
