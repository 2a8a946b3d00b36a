"""Re-run, re-run from a step, reproduce, and compare runs. The original run never changes."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.domain import Invalid, RunConflict
from runs.engine.graph import compile_graph
from runs.engine.nodes import NODE_TYPES
from runs.models import Run, RunEvent, Step, StepStatus, Trigger

from .lifecycle import RunChange, lock_run
from .starting import region_problem, resolve_version, run_start

REUSABLE = (StepStatus.SUCCEEDED, StepStatus.SKIPPED)


def _ancestors(graph_document: dict[str, Any], node_id: str, region: str = "") -> set[str]:
    graph = compile_graph(graph_document, region)
    if node_id not in graph.nodes:
        raise Invalid(f'The flow has no node "{node_id}".', code="unknown_node")
    predecessors: dict[str, set[str]] = defaultdict(set)
    for edge in graph.edges:
        if edge.id not in graph.retry_edges:
            predecessors[edge.target].add(edge.source)
    seen: set[str] = set()
    stack = list(predecessors[node_id])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(predecessors[current])
    return seen


def _latest_steps(run: Run) -> dict[tuple[str, int], Step]:
    latest: dict[tuple[str, int], Step] = {}
    for step in run.steps.order_by("attempt", "id"):
        latest[(step.node_id, step.iteration)] = step
    return latest


def run_rerun(
    *,
    user,
    run: Run,
    from_node: str | None = None,
    use_draft: bool = False,
    inputs: dict[str, Any] | None = None,
) -> Run:
    """Start a new run like `run`: from scratch, or from `from_node` reusing upstream outputs.

    Steps upstream of `from_node` are copied from the original (marked reused, costing nothing);
    the input node always re-runs so edited inputs take effect.
    """
    version = (
        resolve_version(flow=run.flow, user=user, use_draft=True, version=None)
        if use_draft
        else run.version
    )
    if run.region and (problem := region_problem(version.graph, run.region)):
        raise Invalid(problem, code="unknown_region")
    upstream = _ancestors(version.graph, from_node, run.region) if from_node else set()
    with transaction.atomic():
        new = run_start(
            user=user,
            flow=run.flow,
            inputs=run.inputs if inputs is None else inputs,
            version=version,
            trigger=Trigger.RERUN,
            budgets=run.budgets,
            default_model=run.default_model,
            parent_run=run,
            from_node=from_node or "",
            region=run.region,
        )
        types = {n["id"]: n["type"] for n in version.graph.get("nodes", [])}
        copied = []
        for (node_id, _iteration), step in _latest_steps(run).items():
            if node_id not in upstream or types.get(node_id) not in (step.node_type,):
                continue
            node_type = NODE_TYPES.get(step.node_type)
            if step.status not in REUSABLE or (node_type is not None and node_type.provides_inputs):
                continue
            copied.append(_copy_step(new, step))
        if copied:
            change = RunChange(lock_run(new.pk))
            substeps = _substeps(run, [step.details["reused_from_step"] for step in copied])
            for step in copied:
                # An agent's thoughts, tool calls and critiques come along, so the new run's
                # timeline shows how the reused output was reached.
                for data in substeps.get(step.details["reused_from_step"], []):
                    change.event("step.substep", step.node_id, {**data, "step_id": step.pk})
                change.event(
                    "step.skipped" if step.status == StepStatus.SKIPPED else "step.succeeded",
                    step.node_id,
                    {
                        "iteration": step.iteration,
                        "step_id": step.pk,
                        "output": step.output,
                        "ports": step.ports,
                        "reused": True,
                        "reused_from": run.pk,
                    },
                )
            change.save()
    return new


def _substeps(run: Run, step_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The recorded sub-steps (`step.substep` events) of these steps of `run`, in order."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    events = RunEvent.objects.filter(run=run, kind="step.substep").order_by("seq")
    wanted = set(step_ids)
    for data in events.values_list("data", flat=True):
        if isinstance(data, dict) and data.get("step_id") in wanted:
            found[data["step_id"]].append(data)
    return found


def _copy_step(run: Run, step: Step) -> Step:
    now = timezone.now()
    return Step.objects.create(
        run=run,
        node_id=step.node_id,
        node_type=step.node_type,
        iteration=step.iteration,
        attempt=0,
        status=step.status,
        input=step.input,
        output=step.output,
        ports=step.ports,
        details={**(step.details or {}), "reused_from_step": step.pk},
        model=step.model,
        reused=True,
        started_at=now,
        finished_at=now,
    )


def run_reproduce(*, user, run: Run) -> Run:
    """Re-execute a finished run from its recorded model and tool responses (no external calls)."""
    if not run.is_finished:
        raise RunConflict("Only a finished run can be reproduced.", code="run_not_finished")
    with transaction.atomic():
        new = run_start(
            user=user,
            flow=run.flow,
            inputs=run.inputs,
            version=run.version,
            trigger=Trigger.RERUN,
            budgets=run.budgets,
            default_model=run.default_model,
            parent_run=run,
            reproduce=True,
            region=run.region,
        )
    return new


def _step_summary(step: Step | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return {
        "status": step.status,
        "output": step.output,
        "error_code": step.error_code,
        "tokens": step.tokens_in + step.tokens_out,
        "cost": float(step.cost),
        "latency_ms": step.latency_ms,
        "model": step.model,
        "reused": step.reused,
        # What the node was given after templates (the prompts it sent, a tool's arguments).
        "rendered": step.input,
    }


def runs_compare(*, left: Run, right: Run) -> dict[str, Any]:
    """Compare two runs node by node: outputs, tokens, cost, latency; and their totals."""
    left_steps, right_steps = _final_steps(left), _final_steps(right)
    order = list(dict.fromkeys([*left_steps, *right_steps]))
    nodes = []
    for node_id in order:
        a, b = _step_summary(left_steps.get(node_id)), _step_summary(right_steps.get(node_id))
        same = (
            a is not None
            and b is not None
            and a["output"] == b["output"]
            and (a["status"] == b["status"])
        )
        nodes.append({"node_id": node_id, "left": a, "right": b, "same_output": same})
    return {
        "left": _totals(left),
        "right": _totals(right),
        "nodes": nodes,
        "all_outputs_match": all(n["same_output"] for n in nodes) and left.result == right.result,
    }


def _final_steps(run: Run) -> dict[str, Step]:
    """Each node's last step (latest iteration, latest attempt), in execution order."""
    final: dict[str, Step] = {}
    for step in run.steps.order_by("iteration", "attempt", "id"):
        final[step.node_id] = step
    return final


def _totals(run: Run) -> dict[str, Any]:
    duration = (
        (run.finished_at - run.started_at).total_seconds() * 1000
        if run.finished_at and run.started_at
        else None
    )
    return {
        "id": run.pk,
        "status": run.status,
        "tokens": run.tokens_in + run.tokens_out,
        "cost": float(run.cost),
        "steps": run.step_count,
        "duration_ms": int(duration) if duration is not None else None,
        "result": run.result,
    }
