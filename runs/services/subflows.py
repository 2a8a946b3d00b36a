"""Sub-flows: a step that runs another flow as a child run and resumes with its result.

The child is a real run, linked to the step that waits for it (`Run.parent_step`). It is created
in the transaction that records the waiting step, and the step is resolved in the transaction
that finishes the child (`RunChange.transition` calls `subflow_finished`): the child's run is
locked first, then the parent's, the order every sub-flow write uses. A resume whose kick was
lost, or a child finished some other way, is picked up by the sweeper (`subflows_sweep`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from config.domain import DomainError
from runs.engine.context import Allowance
from runs.engine.graph import CompiledGraph
from runs.engine.nodes.flow_tools import WAIT_KIND as FLOW_TOOL_WAIT
from runs.engine.runner import StepOutcome, child_failed, failed_after_run
from runs.engine.scheduler import RunState
from runs.models import (
    FINISHED_RUN_STATUSES,
    UNFINISHED_RUN_STATUSES,
    Approval,
    Run,
    RunStatus,
    Step,
    StepStatus,
    Trigger,
)

from .approvals import approval_request
from .lifecycle import RunChange, run_changing
from .maps import is_map_wait, map_item_finished, map_start, maps_sweep, per_item_types

logger = logging.getLogger(__name__)

_BUDGET_USAGE = {
    "max_steps": lambda run: run.step_count,
    "max_tokens": lambda run: run.tokens_in + run.tokens_out,
    "max_cost": lambda run: float(run.cost),
    "max_seconds": lambda run: (
        (timezone.now() - run.started_at).total_seconds() if run.started_at else 0.0
    ),
}


def run_allowance(run: Run) -> Allowance:
    """What the run may still spend on tokens, cost and time (its budgets less its usage)."""
    budgets = run.budgets or {}

    def left(key: str) -> float | None:
        limit = budgets.get(key)
        return None if limit is None else max(0, limit - _BUDGET_USAGE[key](run))

    tokens = left("max_tokens")
    return Allowance(
        tokens=None if tokens is None else int(tokens),
        cost=left("max_cost"),
        seconds=left("max_seconds"),
    )


def max_depth() -> int:
    return int(getattr(settings, "SWITCHBOARD_SUBFLOW_MAX_DEPTH", 5))


class SubflowRefused(Exception):
    """A sub-flow step cannot start its child run; the step fails with this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _remaining_budgets(run: Run) -> dict[str, Any]:
    """The parent run's budgets minus what it has used: a child can never outspend its parent."""
    remaining: dict[str, Any] = {}
    for key, used in _BUDGET_USAGE.items():
        limit = (run.budgets or {}).get(key)
        if limit is None:
            remaining[key] = None
            continue
        left = limit - used(run)
        if left <= 0:
            raise SubflowRefused(
                "budget_exceeded",
                f"The run has used its {key.removeprefix('max_')} budget; the sub-flow was not "
                "started.",
            )
        remaining[key] = int(left) if key in ("max_steps", "max_tokens") else left
    return remaining


def _child_version(flow, version: int | None):
    if version is not None:
        found = flow.versions.filter(number=version, published=True).first()
        if found is None:
            raise SubflowRefused(
                "subflow_not_published",
                f'Version {version} of the flow "{flow.name}" is not published. Publish it, or '
                "leave the version empty to use the latest published one.",
            )
        return found
    found = flow.published_version
    if found is None:
        raise SubflowRefused(
            "subflow_not_published",
            f'The flow "{flow.name}" has no published version yet. Publish it first.',
        )
    return found


def called_version(workspace_id: int | None, flow_id: Any, version: int | None) -> Any:
    """The published version of a workspace's flow a child run would run (None: the latest);
    raise SubflowRefused when there is none."""
    from builder.models import Flow

    flow = (
        Flow.objects.live()
        .select_related("workspace")
        .filter(pk=flow_id, workspace_id=workspace_id)
        .first()
    )
    if flow is None:
        raise SubflowRefused(
            "subflow_not_found", f"There is no flow {flow_id} in this workspace to call."
        )
    return _child_version(flow, version)


def start_child(
    change: RunChange, step_id: int, wait: dict[str, Any], *, budgets: dict[str, Any] | None = None
) -> Run:
    """Start the child run `wait` names for a step of the locked run (its remaining budgets,
    unless `budgets` says otherwise); raise SubflowRefused when it cannot start.

    A `wait` with a `region` (a map's) runs that region of the parent's own version; one with
    a `flow` runs a published version of that flow."""
    from .starting import run_start

    parent = change.run
    depth = parent.depth + 1
    if depth > max_depth():
        raise SubflowRefused(
            "subflow_too_deep",
            f"Sub-flows are nested more than {max_depth()} levels deep here. A flow may be "
            "calling itself through its sub-flows; check which flows they call.",
        )
    region = str(wait.get("region") or "")
    if region:
        flow, version = parent.flow, parent.version
    else:
        version = called_version(parent.workspace_id, wait.get("flow"), wait.get("version"))
        flow = version.flow
    try:
        return run_start(
            user=parent.created_by,
            flow=flow,
            inputs=wait.get("inputs") or {},
            version=version if region else version.number,
            trigger=Trigger.SUBFLOW,
            budgets=_remaining_budgets(parent) if budgets is None else budgets,
            default_model=parent.default_model,
            parent_step_id=step_id,
            depth=depth,
            region=region,
        )
    except DomainError as exc:
        problems = exc.extra.get("errors") or []
        detail = "; ".join(str(p) for p in problems[:5])
        message = f'The flow "{flow.name}" could not start: {exc.detail}'
        raise SubflowRefused(
            f"subflow_{exc.code}", message + (f" ({detail})" if detail else "")
        ) from exc


def subflow_start(
    *, change: RunChange, step_id: int, outcome: StepOutcome, routed: bool
) -> StepOutcome:
    """Start the child run a waiting sub-flow step asks for (inside the step's transaction).

    Return the outcome to record: still waiting, with the child's id in its details (and the
    child queued in `change.kicks`), or failed with the reason the child could not start
    (out of the error port when `routed`).
    """
    wait = outcome.wait or {}
    if is_map_wait(wait):
        return map_start(change=change, step_id=step_id, outcome=outcome, routed=routed)
    try:
        child = start_child(change, step_id, wait)
    except SubflowRefused as exc:
        graph, state, node_id = _step_state(change.run, step_id)
        failed = failed_after_run(
            graph,
            state,
            node_id,
            run_inputs=change.run.inputs,
            rendered=outcome.rendered,
            code=exc.code,
            message=exc.message,
        )
        return replace(
            outcome,
            status=failed.status,
            output=failed.output,
            ports=failed.ports,
            error_code=exc.code,
            error_message=exc.message,
            wait=failed.wait,
        )
    change.kicks.append(child.pk)
    details = {
        **outcome.details,
        "child_run_id": child.pk,
        "flow_id": child.flow_id,
        "version": child.version.number,
    }
    return replace(outcome, details=details)


def subflow_finished(change: RunChange) -> int | None:
    """Resume the step waiting for this (just finished) child run, in the child's transaction.

    Return the parent run's id when it has work again (the caller kicks it)."""
    child = change.run
    parents = Step.objects.filter(pk=child.parent_step_id)
    parent_id = parents.values_list("run_id", flat=True).first()
    if parent_id is None:
        return None
    with run_changing(parent_id) as parent:
        if parent is None or parent.run.is_finished:
            return None
        return parent_id if _resolve(parent, child, change.kicks) else None


def _resolve(parent: RunChange, child: Run, kicks: list[int]) -> bool:
    step = Step.objects.select_for_update().filter(pk=child.parent_step_id).first()
    if step is None or step.status != StepStatus.WAITING or _asked(step):
        return False
    if (step.details or {}).get("map") is not None:
        return map_item_finished(parent, step, child, kicks)
    if (step.details or {}).get(FLOW_TOOL_WAIT) is not None:
        return _tool_answered(parent, step, child)
    now = timezone.now()
    summary: dict[str, Any] = {"iteration": step.iteration, "step_id": step.pk}
    if child.status == RunStatus.SUCCEEDED:
        step.status = StepStatus.SUCCEEDED
        step.output = child.result
        step.ports = ["out"]
        kind = "step.succeeded"
    else:
        graph, state, _ = _step_state(parent.run, step.pk)
        failed = child_failed(
            graph,
            state,
            step.node_id,
            run_inputs=parent.run.inputs,
            rendered=step.input,
            child_run_id=child.pk,
            child_status=child.get_status_display().lower(),
            child_code=child.error_code or str(child.status),
            child_message=child.error_message,
        )
        step.error_code, step.error_message = failed.error_code, failed.error_message
        step.ports, step.output = failed.ports, failed.output
        summary.update(code=failed.error_code, message=failed.error_message)
        if failed.status == "waiting":
            # Asking a person: the step keeps waiting, now on the inbox task, not the child.
            return _ask(parent, step, child, failed.wait or {}, graph.nodes[step.node_id].label)
        step.status = StepStatus.FAILED
        kind = "step.failed"
    # The child's spending is the parent's: its totals count toward the parent's budgets.
    step.tokens_in, step.tokens_out, step.cost = child.tokens_in, child.tokens_out, child.cost
    step.finished_at = now
    step.save(
        update_fields=[
            "status",
            "output",
            "ports",
            "error_code",
            "error_message",
            "tokens_in",
            "tokens_out",
            "cost",
            "finished_at",
        ]
    )
    run = parent.run
    parent.set(
        tokens_in=run.tokens_in + child.tokens_in,
        tokens_out=run.tokens_out + child.tokens_out,
        cost=run.cost + child.cost,
    )
    summary.update(
        output=step.output,
        ports=step.ports,
        child_run_id=child.pk,
        tokens_in=child.tokens_in,
        tokens_out=child.tokens_out,
        cost=float(child.cost),
    )
    parent.event(kind, step.node_id, summary)
    parent.resume()
    return True


def _step_state(run: Run, step_id: int) -> tuple[CompiledGraph, RunState, str]:
    """The run's graph, the state of its other steps, and the step's node."""
    from .advancing import compiled_graph, step_states

    node_id = Step.objects.values_list("node_id", flat=True).get(pk=step_id)
    graph = compiled_graph(run)
    others = [s for s in step_states(run.pk) if s.status not in ("running", "waiting")]
    return graph, RunState(graph, others), node_id


def _ask(parent: RunChange, step: Step, child: Run, wait: dict[str, Any], title: str) -> bool:
    """Hand a step whose child run failed to a person; the child's spending is the step's."""
    step.tokens_in, step.tokens_out, step.cost = child.tokens_in, child.tokens_out, child.cost
    step.save(
        update_fields=[
            "output",
            "ports",
            "error_code",
            "error_message",
            "tokens_in",
            "tokens_out",
            "cost",
        ]
    )
    run = parent.run
    parent.set(
        tokens_in=run.tokens_in + child.tokens_in,
        tokens_out=run.tokens_out + child.tokens_out,
        cost=run.cost + child.cost,
    )
    approval_request(parent, step=step, wait=wait, title=title, code=step.error_code)
    return False


def _asked(step: Step) -> bool:
    """Whether the step already waits for a person (its child's failure was handed over)."""
    return Approval.objects.filter(step_id=step.pk).exists()


def _tool_answered(parent: RunChange, step: Step, child: Run) -> bool:
    """A flow tool's child finished: keep its result with the step's loop state and queue the
    step again, which carries on from there (redispatched by whoever kicks the parent)."""
    details = dict(step.details or {})
    if details.get("child_run_id") != child.pk:
        return False  # an earlier call's child, answered already
    result: dict[str, Any] = {"child_run_id": child.pk, "ok": child.status == RunStatus.SUCCEEDED}
    if result["ok"]:
        result["output"] = child.result
    else:
        message = f"The flow's run #{child.pk} {child.get_status_display().lower()}"
        message += f": {child.error_message}" if child.error_message else "."
        result.update(code=child.error_code or str(child.status), message=message)
    details[FLOW_TOOL_WAIT] = {**details[FLOW_TOOL_WAIT], "result": result}
    step.details = details
    step.status = StepStatus.QUEUED
    # The child's spending is the step's (and so the parent's), as for a sub-flow node.
    step.tokens_in += child.tokens_in
    step.tokens_out += child.tokens_out
    step.cost += child.cost
    step.save(update_fields=["details", "status", "tokens_in", "tokens_out", "cost"])
    run = parent.run
    parent.set(
        tokens_in=run.tokens_in + child.tokens_in,
        tokens_out=run.tokens_out + child.tokens_out,
        cost=run.cost + child.cost,
    )
    parent.event(
        "subflow.finished",
        step.node_id,
        {
            "step_id": step.pk,
            "iteration": step.iteration,
            "child_run_id": child.pk,
            "tool": details[FLOW_TOOL_WAIT]["pending"][0]["name"],
            "ok": result["ok"],
        },
    )
    parent.resume()
    return True


def children_to_cancel(run_id: int) -> list[Run]:
    """The unfinished child runs of a run's sub-flow steps."""
    return list(
        Run.objects.filter(parent_step__run_id=run_id).exclude(status__in=FINISHED_RUN_STATUSES)
    )


def subflows_sweep() -> set[int]:
    """Resume parent steps still waiting on a finished child; return the parents to kick.

    Children of finished parents are cancelled separately (`orphans`), by the caller."""
    kick: set[int] = maps_sweep()
    waiting = (
        Run.objects.filter(
            status__in=FINISHED_RUN_STATUSES,
            parent_step__status=StepStatus.WAITING,
            parent_step__run__status__in=[RunStatus.RUNNING, RunStatus.WAITING],
        )
        .exclude(parent_step__node_type__in=per_item_types())  # maps_sweep applies those
        .filter(parent_step__approval__isnull=True)  # handed to a person: not the child's now
        .values_list("pk", flat=True)
    )
    for child_id in waiting:
        with run_changing(child_id) as change:
            if change is None:
                continue
            parent_id = subflow_finished(change)
        if parent_id is not None:
            logger.info("Resumed run %s from its finished sub-flow run %s", parent_id, child_id)
            kick.add(parent_id)
    return kick


def orphans() -> list[Run]:
    """Unfinished child runs whose parent run has finished (failed, cancelled, dead-lettered),
    or whose step is over (a map that failed while other items still ran)."""
    over = [StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.SKIPPED]
    return list(
        Run.objects.filter(status__in=UNFINISHED_RUN_STATUSES, parent_step__isnull=False).filter(
            Q(parent_step__run__status__in=FINISHED_RUN_STATUSES) | Q(parent_step__status__in=over)
        )
    )
