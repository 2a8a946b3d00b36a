"""Map steps: one child run per item of a list, a few at a time, resumed when the last one ends.

Each child runs the called flow, or, for a map with a region, the region of the parent's own
version (`Run.region`); the bookkeeping is the same.

A map step is a sub-flow step with many children. Its progress (`MapProgress`, the engine's
pure bookkeeping) lives in the step's `details["map"]`, written in the same transactions that
start and finish its children: the step's own transaction starts the first ones, and each
child's finishing transaction (which locks the child, then the parent, as every sub-flow write
does) records its result and starts the next item. A crash at any point therefore leaves either
both the child and the progress that names it, or neither: nothing is lost or started twice.
The sweeper (`maps_sweep`) picks up a finished child whose finish was not applied.

Budgets: every item's run gets what the parent has left when it starts (the steps, tokens and
cost of the items that ended count as the parent's); an item that would start with nothing left
fails the map with `budget_exceeded` instead. Items running side by side each have the whole
remainder, so with concurrency N the parent can overrun by what N - 1 of them spend.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from builder.maps import max_concurrency
from runs.engine.nodes import NODE_TYPES
from runs.engine.nodes.map import MAX_ITEMS, MapDecision, MapProgress
from runs.engine.runner import StepOutcome
from runs.models import FINISHED_RUN_STATUSES, Run, RunStatus, Step, StepStatus

from .lifecycle import RunChange, run_changing

logger = logging.getLogger(__name__)


class _RolledBack(Exception):
    """The map failed while starting its first items: the children it started are undone."""

    def __init__(self, decision: MapDecision) -> None:
        super().__init__(decision.error_message)
        self.decision = decision


def max_items() -> int:
    return min(MAX_ITEMS, int(getattr(settings, "SWITCHBOARD_MAP_MAX_ITEMS", 100)))


def per_item_types() -> list[str]:
    """The node types whose steps run one child per item."""
    return [slug for slug, node_type in NODE_TYPES.items() if node_type.runs_per_item]


def is_map_wait(wait: dict[str, Any] | None) -> bool:
    return isinstance(wait, dict) and isinstance(wait.get("items"), list)


def _failed(outcome: StepOutcome, routed: bool, code: str, message: str) -> StepOutcome:
    return replace(
        outcome,
        status="failed",
        output={"error": {"code": code, "message": message}} if routed else None,
        ports=["error"] if routed else [],
        error_code=code,
        error_message=message,
        wait=None,
    )


def map_start(
    *, change: RunChange, step_id: int, outcome: StepOutcome, routed: bool
) -> StepOutcome:
    """Start the first items' child runs of a waiting map step (inside the step's transaction).

    Return the outcome to record: waiting with the map's progress in its details (the children
    queued in `change.kicks`), or, when the map is over before it waits (it could not start, or
    every item was refused), succeeded or failed."""
    from .subflows import SubflowRefused

    wait = outcome.wait or {}
    items = wait["items"]
    if len(items) > max_items():
        return _failed(
            outcome,
            routed,
            "map_too_many_items",
            f"The list has {len(items)} items; a map may take at most {max_items()} here.",
        )
    progress = MapProgress(
        total=len(items),
        concurrency=max(1, min(int(wait.get("concurrency") or 1), max_concurrency())),
        policy=str(wait.get("on_item_failure") or "fail"),
    )
    state = {
        "flow": wait.get("flow"),
        "version": wait.get("version"),
        "region": wait.get("region") or "",
        "item_input": wait.get("item_input") or "",
        "inputs": items,
        "child_steps": 0,
    }
    kicks: list[int] = []
    try:
        with transaction.atomic():
            decision = _start_items(change, step_id, progress, state, progress.begin().start, kicks)
            if decision.status == "failed":
                raise _RolledBack(decision)
    except SubflowRefused as exc:
        return _failed(outcome, routed, exc.code, exc.message)
    except _RolledBack as exc:
        return _failed(outcome, routed, exc.decision.error_code, exc.decision.error_message)
    details = {**outcome.details, "map": {**progress.to_json(), **state}}
    if decision.status == "succeeded":
        return replace(
            outcome,
            status="succeeded",
            output=decision.output,
            ports=["out"],
            wait=None,
            details=details,
        )
    change.kicks.extend(kicks)
    if wait.get("region"):
        return replace(outcome, details={**details, "region": wait["region"]})
    return replace(outcome, details={**details, "flow_id": wait.get("flow")})


def _start_items(
    change: RunChange,
    step_id: int,
    progress: MapProgress,
    state: dict[str, Any],
    indexes: list[int],
    kicks: list[int],
) -> MapDecision:
    """Start the child runs of these items (and of those that take a refused item's place).

    Return the decision that ended the map, if starting ended it; raise SubflowRefused when no
    item can start at all (the flow is gone, nesting too deep, the budgets spent)."""
    from .subflows import SubflowRefused, start_child

    pending = list(indexes)
    while pending:
        index = pending.pop(0)
        budgets = _grant(change.run, state)
        wait = {
            "flow": state["flow"],
            "version": state["version"],
            "region": state.get("region") or "",
            "inputs": state["inputs"][index],
        }
        try:
            child = start_child(change, step_id, wait, budgets=budgets)
        except SubflowRefused as exc:
            if exc.code != "subflow_invalid_inputs":
                raise
            error = {"code": exc.code, "message": exc.message}
            decision = progress.finished(index, ok=False, error=error)
            if decision.status is not None:
                return decision
            pending += decision.start
            continue
        progress.started(index, child.pk)
        kicks.append(child.pk)
    if not progress.running and progress.next >= progress.total:
        return MapDecision(status="succeeded", output=progress.output())
    return MapDecision()


_USED = {
    "max_steps": lambda run, state: run.step_count + int(state.get("child_steps") or 0),
    "max_tokens": lambda run, state: run.tokens_in + run.tokens_out,
    "max_cost": lambda run, state: float(run.cost),
    "max_seconds": lambda run, state: (
        (timezone.now() - run.started_at).total_seconds() if run.started_at else 0.0
    ),
}


def _grant(run: Run, state: dict[str, Any]) -> dict[str, Any]:
    """The budgets of the next item's run: what the parent has left, counting the steps and
    spending of the items that ended (the parent's own totals do not count child steps)."""
    from .subflows import SubflowRefused

    grant: dict[str, Any] = {}
    for key, used in _USED.items():
        limit = (run.budgets or {}).get(key)
        if limit is None:
            grant[key] = None
            continue
        left = limit - used(run, state)
        if left <= 0 or (key in ("max_steps", "max_tokens") and int(left) < 1):
            raise SubflowRefused(
                "budget_exceeded",
                f"The run has used its {key.removeprefix('max_')} budget; the map's remaining "
                "items were not started.",
            )
        grant[key] = int(left) if key in ("max_steps", "max_tokens") else left
    return grant


def map_item_finished(parent: RunChange, step: Step, child: Run, kicks: list[int]) -> bool:
    """Apply a finished child run to its (locked, waiting) map step, in the child's transaction.

    Start the next items (their ids go to `kicks`). Return True when the step is over and the
    parent run has work again."""
    from .subflows import SubflowRefused

    state = dict(step.details["map"])
    progress = MapProgress.from_json(state)
    index = progress.index_of(child.pk)
    if index is None:
        return False  # applied already, or a sibling cancelled after the map failed
    state["child_steps"] = int(state.get("child_steps") or 0) + child.step_count
    ok = child.status == RunStatus.SUCCEEDED
    error = None
    if not ok:
        message = f"Run #{child.pk} {child.get_status_display().lower()}"
        message += f": {child.error_message}" if child.error_message else "."
        error = {"code": child.error_code or str(child.status), "message": message}
        error["run_id"] = child.pk
    decision = progress.finished(index, ok=ok, output=child.result, error=error)
    run = parent.run
    parent.set(
        tokens_in=run.tokens_in + child.tokens_in,
        tokens_out=run.tokens_out + child.tokens_out,
        cost=run.cost + child.cost,
    )
    step.tokens_in += child.tokens_in
    step.tokens_out += child.tokens_out
    step.cost += child.cost
    if decision.status is None and decision.start:
        try:
            started = _start_items(parent, step.pk, progress, state, decision.start, kicks)
        except SubflowRefused as exc:
            started = progress.abort(exc.code, exc.message)
        if started.status is not None:
            decision = started
    parent.event(
        "map.item",
        step.node_id,
        {
            "step_id": step.pk,
            "index": index,
            "child_run_id": child.pk,
            "status": child.status,
            "ok": ok,
            "done": len(progress.results),
            "total": progress.total,
        },
    )
    step.details = {**step.details, "map": {**progress.to_json(), **_kept(state)}}
    if decision.status is None:
        step.save(update_fields=["details", "tokens_in", "tokens_out", "cost"])
        return False
    _resolve(parent, step, decision)
    if decision.cancel:
        siblings = [progress.children[i] for i in decision.cancel]
        transaction.on_commit(lambda: _cancel_runs(siblings))
    return True


def _kept(state: dict[str, Any]) -> dict[str, Any]:
    kept = ("flow", "version", "region", "item_input", "inputs", "child_steps")
    return {k: state.get(k) for k in kept}


def _resolve(parent: RunChange, step: Step, decision: MapDecision) -> None:
    from .advancing import compiled_graph

    summary: dict[str, Any] = {"iteration": step.iteration, "step_id": step.pk}
    if decision.status == "succeeded":
        step.status, step.output, step.ports = StepStatus.SUCCEEDED, decision.output, ["out"]
        kind = "step.succeeded"
    else:
        code, message = decision.error_code, decision.error_message
        routed = compiled_graph(parent.run).has_forward_edges(step.node_id, "error")
        step.status = StepStatus.FAILED
        step.error_code, step.error_message = code, message
        step.ports = ["error"] if routed else []
        step.output = {"error": {"code": code, "message": message}} if routed else None
        summary.update(code=code, message=message)
        kind = "step.failed"
    step.finished_at = timezone.now()
    step.save(
        update_fields=[
            "status",
            "output",
            "ports",
            "error_code",
            "error_message",
            "details",
            "tokens_in",
            "tokens_out",
            "cost",
            "finished_at",
        ]
    )
    summary.update(
        output=step.output,
        ports=step.ports,
        tokens_in=step.tokens_in,
        tokens_out=step.tokens_out,
        cost=float(step.cost),
    )
    parent.event(kind, step.node_id, summary)
    parent.resume()


def _cancel_runs(run_ids: list[int]) -> None:
    """Cancel the items still running after their map failed (after its commit: a child's lock
    is taken before its parent's everywhere, so never while holding the parent's)."""
    from .starting import run_cancel

    for run in Run.objects.filter(pk__in=run_ids).exclude(status__in=FINISHED_RUN_STATUSES):
        run_cancel(run=run)


def maps_sweep() -> set[int]:
    """Apply finished children a waiting map step has not heard of; return the runs to kick."""
    kick: set[int] = set()
    waiting = Step.objects.filter(
        status=StepStatus.WAITING,
        node_type__in=per_item_types(),
        run__status__in=[RunStatus.RUNNING, RunStatus.WAITING],
    ).values_list("details", flat=True)
    running: list[int] = []
    for details in waiting:
        running += [int(v) for v in ((details or {}).get("map") or {}).get("running", {}).values()]
    finished = Run.objects.filter(pk__in=running, status__in=FINISHED_RUN_STATUSES)
    for child_id in finished.values_list("pk", flat=True):
        from .subflows import subflow_finished

        with run_changing(child_id) as change:
            if change is None:
                continue
            parent_id = subflow_finished(change)
            kick.update(change.kicks)
        if parent_id is not None:
            kick.add(parent_id)
        logger.info("Applied finished map item run %s to its parent", child_id)
    return kick
