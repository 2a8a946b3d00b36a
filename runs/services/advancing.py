"""Advancing runs: plan the next steps, claim one, execute it, record it — one commit per step.

Recording a step's outcome, its events, the run's counters, planning its successors and claiming
the next one for the same worker happen in one transaction under one lock on the run. A linear
chain therefore runs in one job: each step is one commit, with no round trip through a pool or a
broker between steps. Successors this worker will not run are queued and handed back as kicks.
Every state change commits together with its events before anything downstream is scheduled, so
a crash loses at most the step in flight.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DataError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)
from django.utils import timezone

from costs.services import SpendGuard, spend_record
from runs.engine.context import Allowance
from runs.engine.graph import CompiledGraph, compile_graph
from runs.engine.limits import stop_when
from runs.engine.runner import StepOutcome, execute_step
from runs.engine.scheduler import Budgets, RunState, StepState, Usage, plan
from runs.engine.secrets import Redactor
from runs.llm.semantic_cache import entries_used, semantic_evict
from runs.models import Recording, Run, RunEvent, RunStatus, Step, StepStatus

from . import statements
from .approvals import approval_request
from .capacity import run_may_start
from .events import DeltaStream, broadcast_live
from .lifecycle import RunChange, lock_run
from .ports import (
    Knowledge,
    RecordedLlm,
    RecordedRetrieval,
    RecordedSemanticCache,
    RecordedTools,
    SemanticCache,
    Tools,
    WorkspaceLlm,
    llm_client,
    workspace_catalogue,
    workspace_secrets,
)
from .starting import default_model
from .subflows import FLOW_TOOL_WAIT, run_allowance, subflow_start

logger = logging.getLogger(__name__)

_ROW_FIELDS = (
    "pk",
    "node_id",
    "iteration",
    "attempt",
    "status",
    "output",
    "ports",
    "error_code",
    "error_message",
    "lease_owner",
)


@functools.lru_cache(maxsize=256)
def _compiled(version_id: int, created_at: Any, region: str = "") -> CompiledGraph:
    from builder.models import FlowVersion

    document = FlowVersion.objects.values_list("graph", flat=True).get(pk=version_id)
    return compile_graph(document, region)


def compiled_graph(run: Run) -> CompiledGraph:
    """The run's graph, compiled once per version and region (versions are immutable).

    The key includes the version's creation time, so a reused id (a rolled-back test, a restored
    database) never returns another version's graph. A run locked with `lock_run` carries that
    time already; others cost one small query.
    """
    created_at = getattr(run, "version_created_at", None)
    if created_at is None:
        from builder.models import FlowVersion

        created_at = FlowVersion.objects.values_list("created_at", flat=True).get(pk=run.version_id)
    return _compiled(run.version_id, created_at, run.region)


@dataclass
class StepRow:
    """A step as the scheduler and the lease check need it."""

    pk: int
    node_id: str
    iteration: int
    attempt: int
    status: str
    output: Any
    ports: list[str]
    error_code: str
    error_message: str
    lease_owner: str
    # The row's StepState, built once: a chain step's planning and template data read every
    # row of the run, and most rows no longer change. Setting any field drops it.
    _state: StepState | None = field(default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_state":
            object.__setattr__(self, "_state", None)
        object.__setattr__(self, name, value)

    def state(self) -> StepState:
        """The step as the scheduler sees it (shared: callers must not change it)."""
        if self._state is None:
            self._state = self._new_state()
        return self._state

    def _new_state(self) -> StepState:
        return StepState(
            node_id=self.node_id,
            iteration=self.iteration,
            attempt=self.attempt,
            # A step parked for a person counts as waiting for scheduling purposes.
            status="waiting" if self.status == StepStatus.NEEDS_ATTENTION else self.status,
            output=self.output,
            ports=list(self.ports or []),
            error_code=self.error_code,
            error_message=self.error_message,
        )


def _row(step: Step) -> StepRow:
    return StepRow(
        pk=step.pk,
        node_id=step.node_id,
        iteration=step.iteration,
        attempt=step.attempt,
        status=step.status,
        output=step.output,
        ports=list(step.ports or []),
        error_code=step.error_code,
        error_message=step.error_message,
        lease_owner=step.lease_owner,
    )


def _rows(run_id: int) -> list[StepRow]:
    return [StepRow(*values) for values in statements.step_values(run_id, _ROW_FIELDS)]


# A step in one of these states never changes again (a retry or a re-run is a new step).
_SETTLED = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)


def _rows_after(run_id: int, known: list[StepRow]) -> list[StepRow]:
    """The run's steps now, reading again only those `known` had not settled: in a wide
    fan-out every branch's commit would otherwise read and decode every finished branch."""
    settled = [row for row in known if row.status in _SETTLED]
    if not settled or len(settled) > statements.MAX_PARAMS - 1:
        return _rows(run_id)
    fresh = statements.step_values(run_id, _ROW_FIELDS, except_ids=[r.pk for r in settled])
    rows = settled + [StepRow(*values) for values in fresh]
    rows.sort(key=lambda row: row.pk)
    return rows


def step_states(run_id: int) -> list[StepState]:
    return [row.state() for row in _rows(run_id)]


@dataclass
class ClaimedStep:
    """A step this worker holds a lease on, with everything executing it needs."""

    run_id: int
    step_id: int
    node_id: str
    iteration: int
    attempt: int
    workspace_id: int
    flow_id: int
    inputs: dict[str, Any]
    graph: CompiledGraph
    # The run's steps as the claiming transaction left them (this one running), and the run's
    # last event then: while no event follows, no step changed and these rows are current.
    rows: list[StepRow]
    last_seq: int
    started_at: datetime
    reproduce_of: int | None = None
    default_model: str = ""
    # Config fields this attempt runs with instead of the graph's (a person's retry with
    # another model).
    overrides: dict[str, Any] | None = None
    #: What the run may still spend when the step was claimed.
    allowance: Allowance | None = None
    #: A step back from a flow tool's child run: its saved loop state, with the child's result.
    resume: dict[str, Any] | None = None
    #: The run as the claiming transaction committed it, and step ids it reserved and left
    #: unused: while the run is unchanged, the step's own commit needs neither read again.
    run: Run | None = None
    spare_ids: list[int] = field(default_factory=list)
    #: Claimed by a transaction that planned the run: while the run is unchanged, every node
    #: that plan found ready or skipped has its step, and this step's commit can plan from
    #: what this step changed alone (`plan(..., changed=...)`).
    planned: bool = False


@dataclass
class Advance:
    """What a transaction on a run decided: a step claimed for this worker, steps to kick."""

    claimed: ClaimedStep | None = None
    queued: list[int] = field(default_factory=list)
    #: Other runs to advance: a sub-flow's child just started, a parent its finish resumed.
    runs: list[int] = field(default_factory=list)

    def __iter__(self):
        """The ids of every step to execute: the claimed one first."""
        if self.claimed is not None:
            yield self.claimed.step_id
        yield from self.queued


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


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.SWITCHBOARD_LEASE_SECONDS)


def _claimed(run: Run, graph: CompiledGraph, step: Step, rows: list[StepRow]) -> ClaimedStep:
    return ClaimedStep(
        run_id=run.pk,
        step_id=step.pk,
        node_id=step.node_id,
        iteration=step.iteration,
        attempt=step.attempt,
        workspace_id=run.workspace_id,
        flow_id=run.flow_id,
        inputs=run.inputs,
        graph=graph,
        rows=rows,
        last_seq=run.last_seq,
        started_at=step.started_at or timezone.now(),
        reproduce_of=run.parent_run_id if run.reproduce else None,
        default_model=run.default_model,
        allowance=run_allowance(run),
        run=run,
        spare_ids=list(getattr(run, "reserved_step_ids", None) or []),
    )


def _schedule(
    change: RunChange,
    graph: CompiledGraph,
    rows: list[StepRow],
    *,
    worker: str | None,
    redispatch: bool = False,
    changed: list[str] | None = None,
) -> Advance:
    """Plan the run from its steps, create what is next, and move its status.

    `changed`: the nodes whose steps changed since the plan the rows come from (the hint of
    `plan`), when they come from one."""
    run = change.run
    if run.status == RunStatus.QUEUED:
        change.transition(RunStatus.RUNNING)
    states = [row.state() for row in rows]
    decision = plan(graph, states, budgets=_budgets(run), usage=_usage(run), changed=changed)
    now = timezone.now()
    skipped = [
        statements.new(
            Step,
            run_id=run.pk,
            node_id=node_id,
            node_type=graph.nodes[node_id].type,
            iteration=iteration,
            status=StepStatus.SKIPPED,
            created_at=now,
            started_at=now,
            finished_at=now,
        )
        for node_id, iteration in decision.skipped
    ]
    ready = []
    for node_id, iteration in decision.ready:
        claim = worker is not None and not ready
        ready.append(
            statements.new(
                Step,
                run_id=run.pk,
                node_id=node_id,
                node_type=graph.nodes[node_id].type,
                iteration=iteration,
                status=StepStatus.RUNNING if claim else StepStatus.QUEUED,
                created_at=now,
                started_at=now if claim else None,
                lease_owner=worker if claim else "",
                lease_expires_at=_lease_until(now) if claim else None,
            )
        )
    if skipped or ready:
        statements.insert(
            skipped + ready, returning=True, ids=getattr(run, "reserved_step_ids", None)
        )
        rows = rows + [_row(step) for step in skipped + ready]
    for step in skipped:
        change.event("step.skipped", step.node_id, {"iteration": step.iteration})
    for step in ready:
        # A step this worker claims as it creates it starts at once: `step.started` alone says
        # so (a `step.queued` at the same instant said nothing more, and was a third of a chain
        # step's events). A step left for whoever takes it is queued, and starts when taken.
        if step.status == StepStatus.RUNNING:
            change.event("step.started", step.node_id, _started(step))
        else:
            change.event(
                "step.queued", step.node_id, {"iteration": step.iteration, "step_id": step.pk}
            )

    queued = [row.pk for row in rows if row.status == StepStatus.QUEUED] if redispatch else []
    queued += [s.pk for s in ready if s.status == StepStatus.QUEUED]
    outcome = decision.outcome
    if outcome is not None and (outcome.status == "failed" or not decision.active):
        change.finish(
            outcome.status,
            result=outcome.result,
            code=outcome.error_code,
            message=outcome.error_message,
            active_steps=any(r.status in (StepStatus.QUEUED, StepStatus.RUNNING) for r in rows),
        )
        return Advance(runs=change.kicks)
    if decision.waiting and run.status != RunStatus.WAITING:
        change.transition(RunStatus.WAITING)
    elif queued or ready or decision.active:
        change.resume()
    claimed = None
    if ready and ready[0].status == StepStatus.RUNNING:
        claimed = _claimed(run, graph, ready[0], rows)
        claimed.planned = True
    return Advance(claimed=claimed, queued=queued, runs=change.kicks)


def _started(step: Step) -> dict[str, Any]:
    return {"iteration": step.iteration, "attempt": step.attempt, "step_id": step.pk}


def run_advance(*, run_id: int, redispatch: bool = False, worker: str | None = None) -> Advance:
    """Plan a run's next steps in one transaction.

    With `worker`, the first ready step is created already claimed by that worker (it will run
    it next, in the same job). With `redispatch`, steps queued earlier (a lost kick, a crash
    re-execution) are handed back too; claiming is atomic, so a step kicked twice runs once.
    """
    with transaction.atomic():
        run = lock_run(run_id)
        if run is None or run.is_finished:
            return Advance()
        if run.status == RunStatus.QUEUED and not run_may_start(run):
            # The workspace is at its cap: the run stays queued until a slot frees.
            return Advance()
        change = RunChange(run)
        try:
            graph = compiled_graph(run)
        except Exception as exc:
            # A stored version whose configuration today's rules refuse (say, a schema with a
            # remote $ref saved before they existed) fails its run instead of staying queued.
            logger.warning("Run %s: version %s does not compile: %s", run.pk, run.version_id, exc)
            if run.status == RunStatus.QUEUED:
                change.transition(RunStatus.RUNNING)
            change.finish(
                RunStatus.FAILED,
                code="graph_invalid",
                message="This version of the flow cannot run any more: its saved configuration "
                "is no longer valid. Open the flow, fix the problems it shows, and run it again.",
            )
            change.save()
            return Advance(runs=change.kicks)
        advance = _schedule(change, graph, _rows(run.pk), worker=worker, redispatch=redispatch)
        change.save()
        return advance


def step_claim(*, run_id: int, step_id: int, worker: str) -> ClaimedStep | None:
    """Take a queued step under this worker's lease; None if it is not ours to run."""
    with transaction.atomic():
        run = lock_run(run_id)
        if run is None:
            return None
        rows = _rows(run.pk)
        row = next((r for r in rows if r.pk == step_id), None)
        if row is None or row.status != StepStatus.QUEUED:
            return None
        if run.is_finished or run.cancel_requested:
            Step.objects.filter(pk=step_id).update(status=StepStatus.CANCELLED)
            return None
        now = timezone.now()
        Step.objects.filter(pk=step_id).update(
            status=StepStatus.RUNNING,
            started_at=now,
            lease_owner=worker,
            lease_expires_at=_lease_until(now),
        )
        step = Step(
            pk=step_id,
            run_id=run.pk,
            node_id=row.node_id,
            iteration=row.iteration,
            attempt=row.attempt,
            started_at=now,
        )
        change = RunChange(run)
        change.event("step.started", row.node_id, _started(step))
        change.save()
        row.status, row.lease_owner = StepStatus.RUNNING, worker
        claimed = _claimed(run, compiled_graph(run), step, rows)
        node = claimed.graph.nodes[row.node_id]
        if row.attempt > 0 or node.node_type.called_flows(node.config):
            # Only a re-executed attempt can carry overrides, and only a step that may call
            # flows as tools resumes a loop: other first attempts skip the read.
            details = Step.objects.filter(pk=step_id).values_list("details", flat=True).first()
            claimed.overrides = (details or {}).get("overrides") or None
            claimed.resume = (details or {}).get(FLOW_TOOL_WAIT) or None
        return claimed


def _ports_for(claimed: ClaimedStep):
    """The model, tools and knowledge a step talks to: live, or recorded ones when reproducing."""
    tools = Tools(claimed.workspace_id)
    if claimed.reproduce_of is None:
        return (
            WorkspaceLlm(llm_client(), claimed.workspace_id),
            tools,
            Knowledge(claimed.workspace_id, claimed.run_id),
            SemanticCache(
                workspace_id=claimed.workspace_id,
                flow_id=claimed.flow_id,
                run_id=claimed.run_id,
                node_id=claimed.node_id,
            ),
        )
    original = (
        Step.objects.filter(
            run_id=claimed.reproduce_of,
            node_id=claimed.node_id,
            iteration=claimed.iteration,
            status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.WAITING],
        )
        .order_by("-attempt")
        .first()
    )
    recordings = list(original.recordings.all()) if original else []
    return (
        RecordedLlm(
            [r.response for r in recordings if r.kind == "llm"],
            catalogue=functools.partial(workspace_catalogue, claimed.workspace_id),
            routes=[r.response for r in recordings if r.kind == "route"],
        ),
        RecordedTools(
            [{"request": r.request, "response": r.response} for r in recordings if r.kind == "tool"]
        ),
        RecordedRetrieval(
            [r.response for r in recordings if r.kind == "retrieve"],
            [r.response for r in recordings if r.kind == "memory"],
            [r.response for r in recordings if r.kind == "summary"],
        ),
        RecordedSemanticCache([r.response for r in recordings if r.kind == "semantic"]),
    )


def step_run(claimed: ClaimedStep) -> StepOutcome:
    """Execute a claimed step's node. Touches no database (except to read recordings)."""
    states = [row.state() for row in claimed.rows if row.status != StepStatus.RUNNING]
    state = RunState(claimed.graph, states)
    llm, tools, retrieval, semantic = _ports_for(claimed)
    guard = None
    if claimed.reproduce_of is None:
        # Every model call is checked against the spend budgets first (a reproduction is free).
        guard = llm = SpendGuard(
            llm,
            workspace_id=claimed.workspace_id,
            flow_id=claimed.flow_id,
            default_model=claimed.default_model or default_model(),
        )
    run_id, node_id, last_seq = claimed.run_id, claimed.node_id, claimed.last_seq
    step_id = claimed.step_id

    deltas = DeltaStream(run_id, node_id, last_seq)

    def emit(kind: str, data: dict[str, Any]) -> None:
        if kind == "step.delta":
            deltas.add(data.get("text", ""))
        elif kind == "step.substep":
            deltas.flush()
            broadcast_live(run_id, node_id, kind, {**data, "step_id": step_id}, last_seq)

    # A long evaluation (a template, a query) stops as soon as the run is cancelled.
    with stop_when(_Cancelled(run_id)), deltas:
        outcome = execute_step(
            claimed.graph,
            state,
            claimed.node_id,
            run_inputs=claimed.inputs,
            llm=llm,
            tools=tools,
            emit=emit,
            default_model=claimed.default_model or default_model(),
            secrets=workspace_secrets(claimed.workspace_id),
            retrieval=retrieval,
            overrides=claimed.overrides,
            allowance=claimed.allowance,
            semantic=semantic,
            resume=claimed.resume,
        )
    if claimed.overrides:
        outcome.details = {**outcome.details, "overrides": claimed.overrides}
    if guard is not None and guard.alerts:
        outcome.details = {**outcome.details, "budget_alerts": list(guard.alerts.values())}
    if outcome.usage.saved_cost:
        # What the calls answered from the cache had cost: the cost page's savings.
        saved = round(outcome.usage.saved_cost, 6)
        outcome.details = {**outcome.details, "cache_saved_cost": saved}
    routing = outcome.details.get("routing")
    if outcome.status == "succeeded" and isinstance(routing, dict) and "strongest_cost" in routing:
        # What routing saved: the recorded tokens of the answer on the strongest allowed model,
        # less what the step's calls cost (every cascade attempt). A cached answer records no
        # tokens: what it saved is the cache's saving, not counted twice. A pass after an
        # evaluator sent the answer back is a cascade across steps: the strongest model's answer
        # was counted on the first pass, so this pass only spends (its saving is negative).
        counterfactual = float(routing["strongest_cost"]) if claimed.iteration == 0 else 0.0
        outcome.details = {
            **outcome.details,
            "routing_strongest_cost": round(counterfactual, 6),
            "routing_saved_cost": round(counterfactual - outcome.usage.cost, 6),
        }
    return outcome


class _Cancelled:
    """Whether a run was cancelled: asked of the database at most twice a second, and only by
    an evaluation that runs long enough to poll it."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.answer = False
        self.next_check = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.answer and now >= self.next_check:
            self.next_check = now + 0.5
            self.answer = Run.objects.filter(pk=self.run_id, cancel_requested=True).exists()
        return self.answer


def _replayed_decision(claimed: ClaimedStep, *, typed: bool) -> tuple[list[str], Any] | None:
    """A person's decision in the run being reproduced: an approval's, or (`typed`) the output
    a person typed for a failed step. A step the model settled is never stood in for."""
    if claimed.reproduce_of is None:
        return None
    original = (
        Step.objects.filter(
            run_id=claimed.reproduce_of,
            node_id=claimed.node_id,
            iteration=claimed.iteration,
            status=StepStatus.SUCCEEDED,
        )
        .order_by("-attempt")
        .first()
    )
    if original is None or (typed and "output_typed_by" not in (original.details or {})):
        return None
    return list(original.ports), original.output


def step_complete(
    *, claimed: ClaimedStep, outcome: StepOutcome, worker: str, claim_next: bool = True
) -> Advance | None:
    """Commit a step's outcome, plan what follows and claim the next step, in one transaction.

    With `claim_next` off, every successor is queued for whoever takes it.

    Return None when the result is discarded: the run finished or cancelled meanwhile, or the
    step was taken back from this worker (its lease expired and it was recovered).
    """
    successors = len(claimed.graph.outgoing.get(claimed.node_id, ()))
    if (
        claimed.run is not None
        and len(claimed.spare_ids) >= successors
        and connections[DEFAULT_DB_ALIAS].vendor == "postgresql"
    ):
        try:
            return _complete_unchanged(claimed, outcome, worker, claim_next=claim_next)
        except _RunMoved:
            pass  # someone else changed the run: lock it and read it again
    # One round trip for the lock, one for everything written and the commit (PostgreSQL): the
    # step ids its successors may need come with the lock, and spare ones for the steps after.
    reserve = successors + SPARE_STEP_IDS if successors else 0
    with transaction.atomic(), statements.batched():
        run = lock_run(claimed.run_id, reserve=reserve)
        if run is None:
            rows = []
        elif run.last_seq == claimed.last_seq:
            rows = claimed.rows  # nothing happened to the run since this step was claimed
        else:
            rows = _rows_after(claimed.run_id, claimed.rows)
        mine = next((r for r in rows if r.pk == claimed.step_id), None)
        if run is None or run.is_finished or not _holds(mine, worker):
            logger.info(
                "Discarding late result of step %s (run %s)", claimed.step_id, claimed.run_id
            )
            return None
        assert mine is not None
        return _complete(run, rows, mine, claimed, outcome, worker, claim_next=claim_next)


# Step ids a step's commit draws beyond what it needs, for the commits of the steps after it.
SPARE_STEP_IDS = 16


class _RunMoved(Exception):
    """The run changed since this worker's last commit on it."""


def _holds(row: StepRow | None, worker: str) -> bool:
    return row is not None and row.status == StepStatus.RUNNING and row.lease_owner == worker


def _complete(
    run: Run,
    rows: list[StepRow],
    mine: StepRow,
    claimed: ClaimedStep,
    outcome: StepOutcome,
    worker: str,
    *,
    claim_next: bool,
) -> Advance:
    change = RunChange(run)
    # Nothing happened to the run since the plan that claimed this step: only this step moved.
    planned = claimed.planned and run.last_seq == claimed.last_seq
    _record(change, claimed, mine, outcome)
    advance = _schedule(
        change,
        claimed.graph,
        rows,
        worker=worker if claim_next else None,
        changed=[claimed.node_id] if planned else None,
    )
    change.save()
    return advance


def _complete_unchanged(
    claimed: ClaimedStep, outcome: StepOutcome, worker: str, *, claim_next: bool
) -> Advance:
    """`step_complete` from the run as this worker committed it, in one round trip: the lock
    goes out with the writes and the commit, on the condition that the run is unchanged
    (`statements.run_unchanged`); else nothing is kept and `_RunMoved` is raised.

    The snapshot is copied, not changed, so a failed attempt leaves `claimed` as it was."""
    assert claimed.run is not None
    mine = next((r for r in claimed.rows if r.pk == claimed.step_id), None)
    if not _holds(mine, worker) or claimed.run.is_finished:
        raise _RunMoved  # let the locked path decide, as it always has
    assert mine is not None
    run = copy.copy(claimed.run)
    run.reserved_step_ids = list(claimed.spare_ids)  # type: ignore[attr-defined]
    mine = replace(mine)
    rows = [mine if r.pk == mine.pk else r for r in claimed.rows]
    try:
        with transaction.atomic(), statements.batched():
            statements.run_unchanged(run)
            return _complete(run, rows, mine, claimed, outcome, worker, claim_next=claim_next)
    except DataError as error:
        if statements.run_moved(error):
            raise _RunMoved from error
        raise


def _evict_judged(claimed: ClaimedStep) -> None:
    """A failed verdict: the cached answers its inputs came from (or went into) are wrong."""
    nodes = claimed.graph.nodes
    judged = {
        edge.source
        for edge in claimed.graph.incoming.get(claimed.node_id, [])
        if nodes[edge.source].node_type.answers_from_cache(nodes[edge.source].config)
    }
    if not judged:
        return  # nothing it judged can have come from a cache: no query
    used = [
        entry
        for details in Step.objects.filter(
            run_id=claimed.run_id, node_id__in=judged, details__has_key="semantic_cache"
        ).values_list("details", flat=True)
        for entry in entries_used(details)
    ]
    semantic_evict(used)


def _record(change: RunChange, claimed: ClaimedStep, row: StepRow, outcome: StepOutcome) -> None:
    """Write the step's outcome and its event; update `row` to what was written.

    Everything written here comes from the outcome with the credentials the step read replaced
    by `[secret:<name>]`: no value reaches the step, its recordings, its events or the run.
    """
    outcome = redacted(outcome)
    run = change.run
    now = timezone.now()
    usage = outcome.usage
    cost = Decimal(str(round(usage.cost, 6)))
    status, ports, output = outcome.status, outcome.ports, outcome.output
    fallback = (outcome.wait or {}).get("kind") == "fallback"
    replayed = None
    if status == "waiting" and claimed.reproduce_of is not None:
        replayed = _replayed_decision(claimed, typed=fallback)
        if replayed is not None:
            # Reproducing: a person's decision is taken as it was in the original run.
            status = StepStatus.SUCCEEDED
            ports, output = replayed
        elif fallback:
            # A reproduction asks nobody: a step that fails where the original did not is
            # the divergence it exists to show.
            status, ports, output = StepStatus.FAILED, [], None
    node_type = claimed.graph.nodes[row.node_id].node_type
    child = (
        status == "waiting"
        and not fallback
        and (node_type.starts_child_run or (outcome.wait or {}).get("kind") == FLOW_TOOL_WAIT)
    )
    if child:
        outcome = _child_run(change, claimed, row, outcome)
        status, ports, output = outcome.status, outcome.ports, outcome.output
        # A child that cannot start is the step's failure: under "ask", a task for a person.
        fallback = (outcome.wait or {}).get("kind") == "fallback"
    verdict = node_type.failed_verdict_port
    failed_verdict = ports == [verdict] or outcome.error_code == "evaluation_failed"
    if verdict is not None and failed_verdict and claimed.reproduce_of is None:
        _evict_judged(claimed)
    earlier = _earlier_execution(claimed, row)
    statements.update(
        Step,
        row.pk,
        {
            "status": status,
            "output": output,
            "ports": ports,
            "error_code": outcome.error_code,
            "error_message": outcome.error_message,
            "input": outcome.rendered or None,
            "details": outcome.details,
            "model": usage.model,
            "tokens_in": earlier["tokens_in"] + usage.tokens_in,
            "tokens_out": earlier["tokens_out"] + usage.tokens_out,
            "cost": earlier["cost"] + cost,
            "cache_hit": usage.cache_hit,
            "finished_at": now,
            "lease_expires_at": None,
        },
    )
    if outcome.recordings:
        statements.insert(
            [
                statements.new(
                    Recording,
                    step_id=row.pk,
                    index=earlier["recordings"] + i,
                    kind=r["kind"],
                    request=r["request"],
                    response=r["response"],
                )
                for i, r in enumerate(outcome.recordings)
            ]
        )
    if usage.llm_calls:
        # One upsert whose answer nobody reads: it may go with the commit.
        with statements.deferred():
            spend_record(
                workspace_id=run.workspace_id,
                flow_id=run.flow_id,
                cost=cost,
                saved=Decimal(str(round(usage.saved_cost, 6))),
                calls=usage.llm_calls,
                day=timezone.localdate(now),
            )
    _budget_alerts(change, row.node_id, outcome.details.get("budget_alerts"))
    row.status, row.output, row.ports = status, output, ports
    row.error_code, row.error_message = outcome.error_code, outcome.error_message
    change.set(
        tokens_in=run.tokens_in + usage.tokens_in,
        tokens_out=run.tokens_out + usage.tokens_out,
        cost=run.cost + cost,
        step_count=run.step_count + (0 if claimed.resume else 1),
    )
    summary = {
        "iteration": claimed.iteration,
        "step_id": row.pk,
        "output": output,
        "ports": ports,
        "model": usage.model,
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "cost": float(cost),
        "cache_hit": usage.cache_hit,
        "latency_ms": int((now - claimed.started_at).total_seconds() * 1000),
    }
    if "routing" in outcome.details:
        summary["routing"] = outcome.details["routing"]
    # A step resumed after a flow tool's child recorded its sub-steps up to the wait already.
    recorded = len((claimed.resume or {}).get("substeps") or [])
    for substep in outcome.substeps[recorded:]:
        change.event("step.substep", row.node_id, {**substep, "step_id": row.pk})
    if replayed is not None:
        change.event("step.succeeded", row.node_id, {**summary, "reproduced_decision": True})
    elif status == "waiting" and child and not fallback:
        started = {k: v for k, v in outcome.details.items() if k != FLOW_TOOL_WAIT}
        change.event("subflow.started", row.node_id, {**summary, **started})
    elif status == "waiting":
        approval_request(
            change,
            step=Step(pk=row.pk, run_id=run.pk, node_id=row.node_id, iteration=row.iteration),
            wait=outcome.wait or {},
            title=claimed.graph.nodes[row.node_id].label,
            code=outcome.error_code,
        )
    elif status == "failed":
        change.event(
            "step.failed",
            row.node_id,
            {**summary, "code": outcome.error_code, "message": outcome.error_message},
        )
    else:
        change.event("step.succeeded", row.node_id, summary)


def _earlier_execution(claimed: ClaimedStep, row: StepRow) -> dict[str, Any]:
    """What a resumed step recorded before it waited for a flow tool's child (and what the
    child spent, added when it finished): the step's totals go on from there."""
    if not claimed.resume:
        return {"tokens_in": 0, "tokens_out": 0, "cost": Decimal(0), "recordings": 0}
    found = Step.objects.filter(pk=row.pk).values("tokens_in", "tokens_out", "cost").first()
    return {**(found or {}), "recordings": Recording.objects.filter(step_id=row.pk).count()}


def _child_run(
    change: RunChange, claimed: ClaimedStep, row: StepRow, outcome: StepOutcome
) -> StepOutcome:
    """A sub-flow step: start its child run, or, reproducing, replay the original's failure
    (a success was replayed already) instead of running the child's models again."""
    routed = claimed.graph.has_forward_edges(row.node_id, "error")
    if claimed.reproduce_of is None:
        return subflow_start(change=change, step_id=row.pk, outcome=outcome, routed=routed)
    original = (
        Step.objects.filter(run_id=claimed.reproduce_of, node_id=row.node_id)
        .filter(iteration=claimed.iteration, status=StepStatus.FAILED)
        .order_by("-attempt")
        .values("error_code", "error_message", "output", "ports")
        .first()
    ) or {
        "error_code": "replay_mismatch",
        "error_message": "The original run has no recorded result for this sub-flow step.",
        "output": None,
        "ports": [],
    }
    return replace(outcome, status="failed", wait=None, **original)


def redacted(outcome: StepOutcome) -> StepOutcome:
    """Return the outcome with every credential value it read replaced by its placeholder."""
    if not outcome.secrets:
        return outcome
    redact = Redactor(outcome.secrets)
    return replace(
        outcome,
        output=redact(outcome.output),
        error_message=redact.text(outcome.error_message),
        rendered=redact(outcome.rendered),
        details=redact(outcome.details),
        recordings=redact(outcome.recordings),
        substeps=redact(outcome.substeps),
        wait=redact(outcome.wait),
        secrets={},
    )


def _budget_alerts(change: RunChange, node_id: str, alerts: list[dict[str, Any]] | None) -> None:
    """Tell the run once per budget that its spend is past the budget's alert level."""
    if not alerts:
        return
    told = {
        data.get("budget_id")
        for data in RunEvent.objects.filter(run_id=change.run.pk, kind="budget.alert").values_list(
            "data", flat=True
        )
    }
    for alert in alerts:
        if alert["budget_id"] not in told:
            change.event("budget.alert", node_id, alert)


# A step's result is worth keeping through a database hiccup (SQLite's write lock held past its
# busy timeout, no pooled connection free, a dropped connection): its transaction rolled back
# whole, so it is simply tried again, still under the step's lease.
RECORD_ATTEMPTS = 5
RECORD_BACKOFF = 0.25


def _complete_retrying(
    claimed: ClaimedStep, outcome: StepOutcome, worker: str, *, claim_next: bool
) -> Advance | None:
    for attempt in range(RECORD_ATTEMPTS):
        try:
            return step_complete(
                claimed=claimed, outcome=outcome, worker=worker, claim_next=claim_next
            )
        except (OperationalError, InterfaceError):
            if attempt == RECORD_ATTEMPTS - 1:
                raise
            logger.warning(
                "Recording step %s failed on a database error; retrying", claimed.step_id
            )
            for conn in connections.all(initialized_only=True):
                if conn.connection is not None and not conn.is_usable():
                    conn.close()
            time.sleep(RECORD_BACKOFF * 2**attempt)
    return None


def job_seconds() -> float:
    return float(getattr(settings, "SWITCHBOARD_JOB_SECONDS", 60))


def run_steps(
    advance: Advance,
    *,
    worker: str,
    hold: Callable[[int], AbstractContextManager[Any]],
    kick: Callable[[list[int]], None],
    chain: bool = True,
    kick_runs: Callable[[list[int]], None] = lambda run_ids: None,
) -> None:
    """Execute the claimed step and the chain after it, one commit per step.

    `hold(step_id)` keeps the step's lease alive while it runs (the worker's heartbeat); `kick`
    receives the steps this worker will not run itself (fan-out branches), as soon as they are
    committed. Without `chain`, only the claimed step runs and all its successors are kicked.
    `kick_runs` receives other runs the steps gave work to (sub-flow children and parents).
    A job hands its chain on as a kick after `SWITCHBOARD_JOB_SECONDS`, so one long chain never
    outlives a task's time limit or its broker's redelivery window, and queued work gets a turn.
    """
    deadline = time.monotonic() + job_seconds()
    if advance.runs:
        kick_runs(advance.runs)
    if advance.queued:
        kick(advance.queued)
    claimed = advance.claimed
    while claimed is not None:
        with hold(claimed.step_id):
            outcome = step_run(claimed)
            following = _complete_retrying(
                claimed, outcome, worker, claim_next=chain and time.monotonic() < deadline
            )
        if following is None:
            return
        if following.runs:
            kick_runs(following.runs)
        if following.queued:
            kick(following.queued)
        claimed = following.claimed


def step_execute(
    *,
    run_id: int,
    step_id: int,
    worker: str,
    hold: Callable[[int], AbstractContextManager[Any]] | None = None,
    kick: Callable[[list[int]], None] = lambda ids: None,
    chain: bool = True,
    kick_runs: Callable[[list[int]], None] = lambda run_ids: None,
) -> bool:
    """Claim a queued step and run it (with the chain after it, unless `chain` is off).

    Return False if the step was not this worker's to run."""
    claimed = step_claim(run_id=run_id, step_id=step_id, worker=worker)
    if claimed is None:
        return False
    run_steps(
        Advance(claimed=claimed),
        worker=worker,
        hold=hold or (lambda step_id: nullcontext()),
        kick=kick,
        chain=chain,
        kick_runs=kick_runs,
    )
    return True
