"""Execute one step: build the node's context, run it, and classify the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .context import (
    Allowance,
    LlmPort,
    NodeContext,
    NoRetrieval,
    NoSemanticCache,
    RetrievalPort,
    SemanticCachePort,
    StepUsage,
    ToolPort,
)
from .failures import error_object, error_type, handle_failure
from .graph import CompiledGraph, Node
from .nodes.base import NodeError
from .scheduler import RunState, resolve_ports
from .secrets import SECRET_ROOT, SecretLookup, Secrets, resolved

logger = logging.getLogger(__name__)


@dataclass
class StepOutcome:
    """What a finished step records. `status` is succeeded, failed or waiting."""

    status: str
    output: Any = None
    ports: list[str] = field(default_factory=list)
    error_code: str = ""
    error_message: str = ""
    usage: StepUsage = field(default_factory=StepUsage)
    rendered: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    recordings: list[dict[str, Any]] = field(default_factory=list)
    wait: dict[str, Any] | None = None
    #: Credentials the step read, name → value: whoever records the outcome redacts them.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    #: The step's visible parts (`NodeContext.substep`), recorded as `step.substep` events.
    substeps: list[dict[str, Any]] = field(default_factory=list)


def node_inputs(graph: CompiledGraph, state: RunState, node_id: str) -> dict[str, Any]:
    """Collect the values on a node's input ports from the edges that were taken."""
    values: dict[str, list[Any]] = {}
    for edge in graph.incoming.get(node_id, []):
        if edge.id in graph.retry_edges:
            continue
        source = state.current(edge.source)
        if source is not None and edge.source_port in (source.ports or []):
            values.setdefault(edge.target_port, []).append(source.output)
    return {port: items[0] if len(items) == 1 else items for port, items in values.items()}


def template_variables(
    graph: CompiledGraph, state: RunState, node_id: str, run_inputs: dict[str, Any]
) -> dict[str, Any]:
    return {
        "inputs": run_inputs,
        "nodes": state.outputs(),
        "feedback": state.feedback(node_id),
        "iteration": state.iteration(node_id),
    }


def execute_step(
    graph: CompiledGraph,
    state: RunState,
    node_id: str,
    *,
    run_inputs: dict[str, Any],
    llm: LlmPort,
    tools: ToolPort,
    emit: Callable[[str, dict[str, Any]], None] = lambda kind, data: None,
    default_model: str = "",
    secrets: SecretLookup | None = None,
    retrieval: RetrievalPort | None = None,
    overrides: dict[str, Any] | None = None,
    allowance: Allowance | None = None,
    semantic: SemanticCachePort | None = None,
    resume: dict[str, Any] | None = None,
) -> StepOutcome:
    """Run one node at its current iteration and return what to record.

    `secrets` looks credentials up by name, for node types that use them; the outcome lists the
    ones read, so the caller can redact them from what it records. `overrides` replaces config
    fields for this attempt only (a person retrying a failed step with another model).
    `allowance` is what the run may still spend (its budgets less its usage). `resume` is
    the saved state of a step that waited for a flow tool's child run, with the child's result.
    """
    node = graph.nodes[node_id]
    variables = template_variables(graph, state, node_id, run_inputs)
    values = None
    if secrets is not None and node.node_type.uses_secrets:
        values = variables[SECRET_ROOT] = Secrets(secrets)
    outcome = _execute(
        graph,
        state,
        node_id,
        variables,
        run_inputs,
        llm,
        tools,
        emit,
        default_model,
        overrides,
        retrieval,
        allowance or Allowance(),
        semantic,
        resume,
    )
    outcome.secrets = resolved(values)
    return outcome


def _execute(
    graph: CompiledGraph,
    state: RunState,
    node_id: str,
    variables: dict[str, Any],
    run_inputs: dict[str, Any],
    llm: LlmPort,
    tools: ToolPort,
    emit: Callable[[str, dict[str, Any]], None],
    default_model: str,
    overrides: dict[str, Any] | None,
    retrieval: RetrievalPort | None,
    allowance: Allowance,
    semantic: SemanticCachePort | None = None,
    resume: dict[str, Any] | None = None,
) -> StepOutcome:
    node = graph.nodes[node_id]
    config = node.config.model_copy(update=overrides) if overrides else node.config
    ctx = NodeContext(
        node_id=node_id,
        node_type=node.type,
        config=config,
        iteration=state.iteration(node_id),
        run_inputs=run_inputs,
        variables=variables,
        llm=llm,
        tools=tools,
        emit=emit,
        default_model=default_model,
        names=graph.names,
        retrieval=retrieval if retrieval is not None else NoRetrieval(),
        allowance=allowance,
        semantic=semantic if semantic is not None else NoSemanticCache(),
        resume=resume,
    )
    inputs = node_inputs(graph, state, node_id)
    try:
        result = node.node_type().run(ctx, inputs)
    except NodeError as exc:
        return _failed(graph, node, ctx, inputs, exc.code, exc.message, exc.kind)
    except Exception as exc:
        logger.exception("Node %s (%s) crashed", node_id, node.type)
        message = f"The {node.type} node hit an unexpected error ({type(exc).__name__})."
        return _failed(graph, node, ctx, inputs, "internal_error", message, None)
    details = {**ctx.details, **result.details}
    if result.wait is not None:
        return StepOutcome(
            status="waiting",
            output=result.output,
            usage=ctx.usage,
            rendered=ctx.rendered,
            details=details,
            recordings=ctx.recordings,
            substeps=ctx.substeps,
            wait=result.wait,
        )
    ports = result.ports if result.ports is not None else node.node_type.success_ports(config)
    ports = resolve_ports(graph, state, node_id, ports)
    retry_port = node.node_type.retry_port
    if (
        retry_port is not None
        and ports == [retry_port]
        and not graph.has_forward_edges(node_id, retry_port)
    ):
        # A check that failed its last attempt with nowhere to go fails the run.
        attempts = state.retries.get(node_id, 0) + 1
        feedback = (result.output or {}).get("feedback", "")
        return StepOutcome(
            status="failed",
            output=result.output,
            error_code="evaluation_failed",
            error_message=f"{node.label} did not pass after {attempts} attempt(s): {feedback}",
            usage=ctx.usage,
            rendered=ctx.rendered,
            details=details,
            recordings=ctx.recordings,
            substeps=ctx.substeps,
        )
    return StepOutcome(
        status="succeeded",
        output=result.output,
        ports=ports,
        usage=ctx.usage,
        rendered=ctx.rendered,
        details=details,
        recordings=ctx.recordings,
        substeps=ctx.substeps,
    )


def _failed(
    graph: CompiledGraph,
    node: Node,
    ctx: NodeContext,
    inputs: dict[str, Any],
    code: str,
    message: str,
    kind: str | None,
) -> StepOutcome:
    """A failed step's outcome under its node's on-failure policy."""
    attempts = len(ctx.details.get("llm_attempts") or []) or 1
    error = error_object(node_id=node.id, code=code, message=message, kind=kind, attempts=attempts)
    shown = {"in": inputs.get("in"), **ctx.rendered} if ctx.rendered else inputs
    handling = handle_failure(graph, node.id, error, inputs=shown, variables=ctx.variables)
    return StepOutcome(
        status=handling.status,
        output=handling.output,
        ports=handling.ports,
        wait=handling.wait,
        error_code=code,
        error_message=message,
        usage=ctx.usage,
        rendered=ctx.rendered,
        details=ctx.details,
        recordings=ctx.recordings,
        substeps=ctx.substeps,
    )


def failed_after_run(
    graph: CompiledGraph,
    state: RunState,
    node_id: str,
    *,
    run_inputs: dict[str, Any],
    rendered: dict[str, Any] | None,
    code: str,
    message: str,
    kind: str | None = None,
    extra: dict[str, Any] | None = None,
) -> StepOutcome:
    """The outcome of a step that failed after its node ran: its child run failed or could not
    start. The node's on-failure policy applies as to a failure inside `run`; `extra` adds
    fields to the error object (the child run's id and error type)."""
    error = {
        **error_object(node_id=node_id, code=code, message=message, kind=kind),
        **(extra or {}),
    }
    rendered = rendered or {}
    incoming = node_inputs(graph, state, node_id).get("in")
    shown = {"in": incoming, **rendered} if rendered else {"in": incoming}
    variables = template_variables(graph, state, node_id, run_inputs)
    handling = handle_failure(graph, node_id, error, inputs=shown, variables=variables)
    return StepOutcome(
        status=handling.status,
        output=handling.output,
        ports=handling.ports,
        wait=handling.wait,
        error_code=code,
        error_message=message,
        rendered=rendered,
    )


def child_failed(
    graph: CompiledGraph,
    state: RunState,
    node_id: str,
    *,
    run_inputs: dict[str, Any],
    rendered: dict[str, Any] | None,
    child_run_id: int | None,
    child_status: str,
    child_code: str,
    child_message: str,
) -> StepOutcome:
    """The outcome of a step whose child run ended without succeeding: a `child_failed` error
    carrying the child's code, its error type (`child_type`) and its id."""
    code = child_code or child_status
    message = f"The sub-flow run #{child_run_id} {child_status}"
    message += f": {child_message}" if child_message else "."
    return failed_after_run(
        graph,
        state,
        node_id,
        run_inputs=run_inputs,
        rendered=rendered,
        code=code,
        message=message,
        kind="child_failed",
        extra={"child_run_id": child_run_id, "child_type": error_type(code)},
    )
