"""What happens when a step fails: its typed error, its node's on-failure policy, and checking
the output a person types in place of a failed step's.

A node type that can fail declares an error port (`NodeType.error_port`) and its Config derives
from `FailureConfig`. Its policy is `fail` (the run stops, unless an edge leaves the error port),
`branch` (the error object goes out of the error port) or `ask` (the step waits for a person,
who types the output, retries the step, or fails it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .graph import CompiledGraph
from .nodes.base import duration_seconds
from .scheduler import RunState, resolve_ports
from .schemas import SchemaCheckFailed, validation_errors
from .templates import TemplateRenderError, render

# A step's error code -> the type of error its error port carries.
ERROR_TYPES: dict[str, str] = {
    "refusal": "refusal",
    "truncated": "truncated",
    "invalid_json": "invalid_json",
    "malformed_tool_call": "invalid_json",
    "judge_no_score": "invalid_json",
    "timeout": "timeout",
    "rate_limited": "provider_error",
    "server_error": "provider_error",
    "connection_error": "provider_error",
    "stream_cut": "provider_error",
    "auth_error": "provider_error",
    "bad_request": "provider_error",
    "unknown_model": "provider_error",
    "no_provider": "provider_error",
    "budget_exceeded": "budget",
    "tool_rounds_exceeded": "tool_error",
    "max_rounds": "max_rounds",
    "template_error": "template_error",
    "schema_check_failed": "config_error",
    "internal_error": "internal_error",
    "unknown_knowledge_base": "config_error",
    "invalid_filters": "config_error",
    "subflow_too_deep": "depth",
    "subflow_not_found": "config_error",
    "subflow_not_published": "config_error",
    "task_timed_out": "timeout",
}
ERROR_TYPE_NAMES = tuple(
    sorted(set(ERROR_TYPES.values()) | {"tool_error", "node_error", "child_failed"})
)

MAX_TYPED_OUTPUT_BYTES = 256 * 1024


def error_type(code: str, kind: str | None = None) -> str:
    """The type of an error on the error port: the node's own word (a tool's), else by code."""
    if kind:
        return kind
    return ERROR_TYPES.get(code, "node_error")


def error_object(
    *, node_id: str, code: str, message: str, kind: str | None = None, attempts: int = 1
) -> dict[str, Any]:
    """The payload of a failed step's error port: `{type, code, message, node, attempts}`."""
    return {
        "type": error_type(code, kind),
        "code": code,
        "message": message,
        "node": node_id,
        "attempts": max(1, attempts),
    }


def policy(graph: CompiledGraph, node_id: str) -> str:
    """What a failure of this node does: "ask", "branch" or "fail".

    An edge from the error port is taken under `fail` too: tool nodes routed errors that way
    before policies existed, and a drawn edge says what the author meant.
    """
    node = graph.nodes[node_id]
    node_type = node.node_type
    if node_type.error_port is None or not node_type.can_fail(node.config):
        return "fail"
    chosen = getattr(node.config, "on_failure", "fail")
    if chosen == "ask":
        return "ask"
    if graph.has_forward_edges(node_id, node_type.error_port.name):
        return "branch"
    return "fail"


def ask_wait(
    graph: CompiledGraph, node_id: str, error: dict[str, Any], inputs: Any, instructions: str
) -> dict[str, Any]:
    """What a step waiting for a person records: who is asked, what they see, and when the task
    expires or its assignees are reminded (seconds, None: never)."""
    node = graph.nodes[node_id]
    config = node.config
    model_field = node.node_type.retry_model_field
    return {
        "kind": "fallback",
        "users": list(getattr(config, "fallback_users", []) or []),
        "groups": list(getattr(config, "fallback_groups", []) or []),
        "quorum": 1,
        "instructions": instructions,
        "payload": {"inputs": inputs, "error": error},
        "allow_edit": True,
        "output_schema": node.node_type.typed_output_schema(config),
        "model": getattr(config, model_field, "") if model_field else None,
        "timeout_seconds": duration_seconds(getattr(config, "fallback_timeout", "")),
        "timeout_action": getattr(config, "fallback_timeout_action", "fail"),
        "remind_after_seconds": duration_seconds(getattr(config, "fallback_remind_after", "")),
    }


def fallback_instructions(config: Any, variables: dict[str, Any]) -> str:
    """The instructions for the person asked, rendered over the step's template variables."""
    text = getattr(config, "fallback_instructions", "")
    if not text:
        return ""
    try:
        return render(text, variables)
    except TemplateRenderError as exc:
        return f"(The instructions could not be shown: {exc})"


@dataclass
class Handling:
    """What a failed step records under its node's policy: failed (out of its error port, or
    not), or waiting for a person."""

    status: str
    output: Any = None
    ports: list[str] = field(default_factory=list)
    wait: dict[str, Any] | None = None


def handle_failure(
    graph: CompiledGraph,
    node_id: str,
    error: dict[str, Any],
    *,
    inputs: Any,
    variables: dict[str, Any],
) -> Handling:
    """Apply the node's on-failure policy to a failed step's typed `error`.

    Used for failures inside a node's `run` and for those the services find after it (a child
    run that failed or could not start), so every node type that can fail behaves alike.
    """
    how = policy(graph, node_id)
    node = graph.nodes[node_id]
    port = node.node_type.error_port
    if how == "branch" and port is not None:
        return Handling("failed", error, [port.name])
    if how == "ask":
        instructions = fallback_instructions(node.config, variables)
        return Handling("waiting", error, [], ask_wait(graph, node_id, error, inputs, instructions))
    return Handling("failed")


class TypedOutputInvalid(Exception):
    """A person's typed output does not fit the node: `problems` say where and why."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []


@dataclass
class TypedOutput:
    output: Any
    ports: list[str]


def parse_typed_output(graph: CompiledGraph, node_id: str, raw: Any) -> Any:
    """Read what a person typed: a text node takes the text as it is; others need JSON.

    `raw` is a string from a form, or an already-decoded value from the API.
    """
    node = graph.nodes[node_id]
    schema = node.node_type.typed_output_schema(node.config)
    if not isinstance(raw, str):
        return raw
    if schema == {"type": "string"}:
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise TypedOutputInvalid(
            f"This is not valid JSON ({getattr(exc, 'msg', exc)} on line "
            f"{getattr(exc, 'lineno', 1)}). Fix it and submit again."
        ) from exc


def typed_output(
    graph: CompiledGraph, node_id: str, value: Any, state: RunState | None = None
) -> TypedOutput:
    """Check a person's output for a failed step against the node's output schema, and return
    it with the ports it takes (an evaluator's "fail" re-arms its loop while attempts last)."""
    node = graph.nodes[node_id]
    if len(json.dumps(value, default=str)) > MAX_TYPED_OUTPUT_BYTES:
        raise TypedOutputInvalid("The output is larger than 256 KB.")
    schema = node.node_type.typed_output_schema(node.config)
    if schema:
        try:
            problems = validation_errors(schema, value)
        except SchemaCheckFailed as exc:
            raise TypedOutputInvalid(
                f"The node's output schema could not be checked: {exc}."
            ) from exc
        if problems:
            lines = []
            for problem in problems[:5]:
                where = "/".join(str(p) for p in problem.absolute_path) or "the output"
                lines.append(f"{where}: {problem.message}")
            raise TypedOutputInvalid(
                "The output does not match what this step must produce.", lines
            )
    ports = node.node_type.typed_output_ports(node.config, value)
    if state is not None:
        ports = resolve_ports(graph, state, node_id, ports)
    return TypedOutput(output=value, ports=ports)


def failed_ports(graph: CompiledGraph, node_id: str) -> list[str]:
    """The ports a step failed by a person takes: its error branch if one is drawn."""
    node_type = graph.nodes[node_id].node_type
    port = node_type.error_port
    return [port.name] if port is not None and graph.has_forward_edges(node_id, port.name) else []
