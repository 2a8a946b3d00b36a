"""Advancing runs: plan the next steps, execute a step, record its outcome.

Every state change commits together with its events before anything downstream is scheduled, so
a crash loses at most the step in flight.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from runs.engine.graph import CompiledGraph, compile_graph
from runs.engine.runner import StepOutcome, execute_step
from runs.engine.scheduler import Budgets, RunState, StepState, Usage, plan
from runs.models import Recording, Run, RunStatus, Step, StepStatus

from .approvals import approval_create
from .events import broadcast_delta, event_append
from .ports import RecordedLlm, RecordedTools, Tools, llm_client
from .starting import default_model

logger = logging.getLogger(__name__)

EXECUTED = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.RUNNING, StepStatus.WAITING)


@functools.lru_cache(maxsize=256)
def _compiled(version_id: int, created_at: Any) -> CompiledGraph:
    from builder.models import FlowVersion

    return compile_graph(FlowVersion.objects.values_list("graph", flat=True).get(pk=version_id))


def compiled_graph(run: Run) -> CompiledGraph:
    """The run's graph, compiled once per version (versions are immutable).

    The key includes the version's creation time, so a reused id (a rolled-back test, a restored
    database) never returns another version's graph.
    """
    from builder.models import FlowVersion

    created_at = FlowVersion.objects.values_list("created_at", flat=True).get(pk=run.version_id)
    return _compiled(run.version_id, created_at)


def step_states(run_id: int) -> list[StepState]:
    rows = Step.objects.filter(run_id=run_id).values_list(
        "node_id",
        "iteration",
        "attempt",
        "status",
        "output",
        "ports",
        "error_code",
        "error_message",
    )
    states = []
    for node_id, iteration, attempt, status, output, ports, code, message in rows:
        states.append(
            StepState(
                node_id=node_id,
                iteration=iteration,
                attempt=attempt,
                # A step parked for a person counts as waiting for scheduling purposes.
                status="waiting" if status == StepStatus.NEEDS_ATTENTION else status,
                output=output,
                ports=list(ports or []),
                error_code=code,
                error_message=message,
            )
        )
    return states


def _budgets(run: Run) -> Budgets:
    b = run.budgets or {}
    return Budgets(
        max_steps=b.get("max_steps"),
        max_seconds=b.get("max_seconds"),
        max_tokens=b.get("max_tokens"),
        max_cost=b.get("max_cost"),
    )


def _usage(run: Run) -> Usage:
    elapsed = (timezone.now() - run.started_at).total_seconds() if run.started_at else 0.0
    return Usage(
        steps=run.step_count,
        seconds=elapsed,
        tokens=run.tokens_in + run.tokens_out,
        cost=float(run.cost),
    )


def _finish(run: Run, status: str, *, result: Any = None, code: str = "", message: str = ""):
    run.status = status
    run.result = result
    run.error_code = code
    run.error_message = message
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "result", "error_code", "error_message", "finished_at"])
    Step.objects.filter(run=run, status__in=[StepStatus.QUEUED, StepStatus.RUNNING]).update(
        status=StepStatus.CANCELLED, finished_at=run.finished_at
    )
    data: dict[str, Any] = {"result": result} if status == RunStatus.SUCCEEDED else {}
    if code:
        data.update(code=code, message=message)
    data.update(_totals(run))
    event_append(run, f"run.{status}", data=data)


def _totals(run: Run) -> dict[str, Any]:
    return {
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "cost": float(run.cost),
        "steps": run.step_count,
    }


def run_advance(*, run_id: int, redispatch: bool = False) -> list[int]:
    """Plan a run's next steps; return the ids of the steps queued for execution.

    With `redispatch`, steps queued earlier (a lost kick, a crash re-execution) are returned too;
    claiming is atomic, so a step dispatched twice still runs once.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished:
            return []
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
            event_append(run, "run.started")
        graph = compiled_graph(run)
        decision = plan(graph, step_states(run.pk), budgets=_budgets(run), usage=_usage(run))
        now = timezone.now()
        for node_id, iteration in decision.skipped:
            Step.objects.create(
                run=run,
                node_id=node_id,
                node_type=graph.nodes[node_id].type,
                iteration=iteration,
                status=StepStatus.SKIPPED,
                started_at=now,
                finished_at=now,
            )
            event_append(run, "step.skipped", node_id, {"iteration": iteration})
        queued = (
            list(
                Step.objects.filter(run=run, status=StepStatus.QUEUED).values_list("pk", flat=True)
            )
            if redispatch
            else []
        )
        for node_id, iteration in decision.ready:
            step = Step.objects.create(
                run=run,
                node_id=node_id,
                node_type=graph.nodes[node_id].type,
                iteration=iteration,
                status=StepStatus.QUEUED,
            )
            event_append(run, "step.queued", node_id, {"iteration": iteration, "step_id": step.pk})
            queued.append(step.pk)
        outcome = decision.outcome
        if outcome is not None and (outcome.status == "failed" or not decision.active):
            _finish(
                run,
                outcome.status,
                result=outcome.result,
                code=outcome.error_code,
                message=outcome.error_message,
            )
            return []
        if decision.waiting and run.status != RunStatus.WAITING:
            run.status = RunStatus.WAITING
            run.save(update_fields=["status"])
            event_append(run, "run.waiting")
        elif (queued or decision.active) and run.status == RunStatus.WAITING:
            run.status = RunStatus.RUNNING
            run.save(update_fields=["status"])
            event_append(run, "run.started", data={"resumed": True})
        return queued


def _claim(step_id: int, worker: str) -> Step | None:
    """Mark a queued step running under this worker's lease; None if it is not ours to run."""
    run_id = Step.objects.filter(pk=step_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return None
    with transaction.atomic():
        # Lock order everywhere: the run, then its steps (cancel and approvals do the same).
        run = Run.objects.select_for_update().get(pk=run_id)
        step = Step.objects.select_for_update().get(pk=step_id)
        if step.status != StepStatus.QUEUED:
            return None
        if run.is_finished or run.cancel_requested:
            step.status = StepStatus.CANCELLED
            step.save(update_fields=["status"])
            return None
        now = timezone.now()
        step.status = StepStatus.RUNNING
        step.started_at = now
        step.lease_owner = worker
        step.lease_expires_at = now + timedelta(seconds=settings.SWITCHBOARD_LEASE_SECONDS)
        step.save(update_fields=["status", "started_at", "lease_owner", "lease_expires_at"])
        event_append(
            run,
            "step.started",
            step.node_id,
            {"iteration": step.iteration, "attempt": step.attempt, "step_id": step.pk},
        )
        step.run = run
        return step


def _ports_for(run: Run, step: Step, graph: CompiledGraph):
    """The model and tools a step talks to: live, or recorded ones when reproducing."""
    tools = Tools(run.workspace_id)
    if not run.reproduce or run.parent_run_id is None:
        return llm_client(), tools
    original = (
        Step.objects.filter(
            run_id=run.parent_run_id,
            node_id=step.node_id,
            iteration=step.iteration,
            status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.WAITING],
        )
        .order_by("-attempt")
        .first()
    )
    recordings = list(original.recordings.all()) if original else []
    return (
        RecordedLlm([r.response for r in recordings if r.kind == "llm"]),
        RecordedTools(
            [{"request": r.request, "response": r.response} for r in recordings if r.kind == "tool"]
        ),
    )


def step_execute(*, step_id: int, worker: str = "inline") -> bool:
    """Execute one queued step and record its outcome. Return True if the outcome was kept."""
    step = _claim(step_id, worker)
    if step is None:
        return False
    run = step.run
    graph = compiled_graph(run)
    state = RunState(graph, [s for s in step_states(run.pk) if s.status != "running"])
    llm, tools = _ports_for(run, step, graph)
    last_seq = run.last_seq
    started = time.monotonic()

    def emit(kind: str, data: dict[str, Any]) -> None:
        if kind == "step.delta":
            broadcast_delta(run.pk, step.node_id, data.get("text", ""), last_seq)

    outcome = execute_step(
        graph,
        state,
        step.node_id,
        run_inputs=run.inputs,
        llm=llm,
        tools=tools,
        emit=emit,
        default_model=default_model(),
    )
    logger.debug("Step %s ran in %.3fs", step.pk, time.monotonic() - started)
    return step_record(step_id=step.pk, worker=worker, outcome=outcome)


def _replayed_decision(run: Run, step: Step) -> tuple[list[str], Any] | None:
    if not run.reproduce or run.parent_run_id is None:
        return None
    original = (
        Step.objects.filter(
            run_id=run.parent_run_id,
            node_id=step.node_id,
            iteration=step.iteration,
            status=StepStatus.SUCCEEDED,
        )
        .order_by("-attempt")
        .first()
    )
    return (list(original.ports), original.output) if original is not None else None


def step_record(*, step_id: int, worker: str, outcome: StepOutcome) -> bool:
    """Commit a step's outcome with its events, unless the run moved on without it."""
    run_id = Step.objects.values_list("run_id", flat=True).get(pk=step_id)
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        step = Step.objects.select_for_update().get(pk=step_id)
        if run.is_finished or step.status != StepStatus.RUNNING or step.lease_owner != worker:
            logger.info(
                "Discarding late result of step %s (run %s is %s)", step.pk, run.pk, run.status
            )
            return False
        now = timezone.now()
        usage = outcome.usage
        step.status = outcome.status
        step.output = outcome.output
        step.ports = outcome.ports
        step.error_code = outcome.error_code
        step.error_message = outcome.error_message
        step.input = outcome.rendered or None
        step.details = outcome.details
        step.model = usage.model
        step.tokens_in = usage.tokens_in
        step.tokens_out = usage.tokens_out
        step.cost = Decimal(str(round(usage.cost, 6)))
        step.cache_hit = usage.cache_hit
        step.finished_at = now
        step.lease_expires_at = None
        step.save()
        Recording.objects.bulk_create(
            Recording(
                step=step, index=i, kind=r["kind"], request=r["request"], response=r["response"]
            )
            for i, r in enumerate(outcome.recordings)
        )
        run.tokens_in += usage.tokens_in
        run.tokens_out += usage.tokens_out
        run.cost += step.cost
        run.step_count += 1
        run.save(update_fields=["tokens_in", "tokens_out", "cost", "step_count"])
        summary = {
            "iteration": step.iteration,
            "step_id": step.pk,
            "output": outcome.output,
            "ports": outcome.ports,
            "model": usage.model,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "cost": float(step.cost),
            "cache_hit": usage.cache_hit,
            "latency_ms": step.latency_ms,
        }
        replayed = _replayed_decision(run, step) if outcome.status == "waiting" else None
        if replayed is not None:
            # Reproducing: the approval is decided as it was in the original run.
            step.status = StepStatus.SUCCEEDED
            step.ports, step.output = replayed
            step.save(update_fields=["status", "ports", "output"])
            event_append(
                run,
                "step.succeeded",
                step.node_id,
                {
                    **summary,
                    "output": step.output,
                    "ports": step.ports,
                    "reproduced_decision": True,
                },
            )
        elif outcome.status == "waiting":
            approval = approval_create(run=run, step=step, wait=outcome.wait or {})
            event_append(
                run,
                "approval.requested",
                step.node_id,
                {
                    "approval_id": approval.pk,
                    "step_id": step.pk,
                    "payload": approval.payload,
                    "instructions": approval.instructions,
                },
            )
        elif outcome.status == "failed":
            event_append(
                run,
                "step.failed",
                step.node_id,
                {**summary, "code": outcome.error_code, "message": outcome.error_message},
            )
        else:
            event_append(run, "step.succeeded", step.node_id, summary)
    return True
