"""Evaluation runs: a flow version over a dataset, each item a real run, scored as it finishes.

Progress is a function of the database alone, so any number of drivers (a thread, the command,
a restarted process) may call `evaluation_advance` at any time: an item's run is created and
linked to the item in one transaction under the evaluation's lock (so an item gets exactly one
run, whoever crashes when), and an item is scored by a conditional update (so it is scored
once). Runs recover from crashed workers through the runs sweeper like any other run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from builder.models import Flow
from config.domain import Invalid, NotAllowed, NotFound
from runs.engine.nodes import NODE_TYPES
from runs.models import FINISHED_RUN_STATUSES, Run, RunStatus, Step, Trigger
from runs.services import run_cancel, run_start
from runs.services.starting import resolve_version
from workspaces.services import PermissionDenied, require, workspaces_for

from .eviction import evaluation_evict_failed
from .judging import EvaluationJudge
from .models import (
    Dataset,
    Evaluation,
    EvaluationItem,
    EvaluationStatus,
    ItemStatus,
    Label,
)
from .scorers import JudgeBusy, JudgeRefused, Score, flow_evaluator_score, score_one, scorers_clean

MAX_CONCURRENCY = 32
MAX_ITEMS = 5_000
BUDGET_EXCEEDED = "budget_exceeded"
# Items the sweeper scores per evaluation and pass (a judge call may take seconds).
SWEEP_SCORED = 10


def driver_stale() -> timedelta:
    """How long an evaluation may go without its driver's heartbeat before another process
    (a page visit, the sweeper) drives it."""
    return timedelta(seconds=float(settings.SWITCHBOARD_EVAL_DRIVER_STALE_SECONDS))


# Node types whose verdict can fail (they have a retry port): the flow's own evaluators.
CHECK_TYPES = [slug for slug, cls in NODE_TYPES.items() if cls.retry_port is not None]


def evaluations_visible_to(user) -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(workspace__in=workspaces_for(user))


def evaluation_get(*, user, evaluation_id: int, permission: str = "read") -> Evaluation:
    evaluation = (
        evaluations_visible_to(user)
        .select_related("flow", "version", "dataset", "created_by")
        .filter(pk=evaluation_id)
        .first()
    )
    if evaluation is None:
        raise NotFound("Evaluation not found")
    try:
        require(user=user, workspace_id=evaluation.workspace_id, permission=permission)
    except PermissionDenied as exc:
        raise NotAllowed("Your role does not allow this.") from exc
    return evaluation


def evaluation_start(
    *,
    user,
    flow: Flow,
    dataset: Dataset,
    version: int | None = None,
    use_draft: bool = False,
    scorers: Any = None,
    concurrency: int = 4,
) -> Evaluation:
    """Create an evaluation of a flow version (or the draft) over every item of a dataset.

    The caller drives it (`evals.dispatch.drive`)."""
    try:
        require(user=user, workspace_id=flow.workspace_id, permission="run")
    except PermissionDenied as exc:
        raise NotAllowed("Your role does not allow running this flow.") from exc
    if dataset.workspace_id != flow.workspace_id:
        raise NotFound("Dataset not found")
    if not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise Invalid(f"Concurrency must be a whole number from 1 to {MAX_CONCURRENCY}.")
    clean = scorers_clean(scorers)
    item_ids = list(dataset.items.order_by("pk").values_list("pk", flat=True)[: MAX_ITEMS + 1])
    if not item_ids:
        raise Invalid("The dataset has no items yet.", code="empty_dataset")
    if len(item_ids) > MAX_ITEMS:
        raise Invalid(f"A dataset evaluated at once holds at most {MAX_ITEMS:,} items.")
    flow_version = resolve_version(flow=flow, user=user, use_draft=use_draft, version=version)
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            workspace_id=flow.workspace_id,
            flow=flow,
            version=flow_version,
            dataset=dataset,
            scorers=clean,
            concurrency=concurrency,
            item_count=len(item_ids),
            created_by=user,
        )
        EvaluationItem.objects.bulk_create(
            [
                EvaluationItem(evaluation=evaluation, dataset_item_id=item_id, position=i)
                for i, item_id in enumerate(item_ids, start=1)
            ],
            batch_size=500,
        )
    return evaluation


def _final_output(result: Any) -> Any:
    if isinstance(result, dict) and len(result) == 1:
        return next(iter(result.values()))
    return result


def _negative(output: Any, expected: Any) -> Score:
    """A negative example holds an output a person rejected: it must not come back."""
    same = score_one(
        {"type": "exact", "ignore_case": True}, output=output, expected=expected, inputs=None
    )
    return Score(
        "not_rejected",
        not same.passed,
        0.0 if same.passed else 1.0,
        "the rejected output came back" if same.passed else "",
    )


def item_scores(
    evaluation: Evaluation, item: EvaluationItem, run: Run, judge: Any = None
) -> list[Score]:
    """Score a finished run of an item with the evaluation's scorers."""
    output = _final_output(run.result)
    example = item.dataset_item
    if example.label == Label.NEGATIVE:
        return [_negative(output, example.expected)]
    scorers = evaluation.scorers or [{"type": "flow_evaluators"}]
    scores = []
    for scorer in scorers:
        if scorer["type"] == "flow_evaluators":
            steps = list(
                Step.objects.filter(
                    run=run, node_type__in=CHECK_TYPES, status__in=["succeeded", "failed"]
                )
                .order_by("iteration", "attempt")
                .values("node_id", "details")
            )
            if not steps and not evaluation.scorers:
                # No scorer and no evaluator node: a run that finished counts as a pass.
                scores.append(Score("finished", True, 1.0))
                continue
            scores.append(flow_evaluator_score(steps))
        else:
            scores.append(
                score_one(
                    scorer,
                    output=output,
                    expected=example.expected,
                    inputs=example.inputs,
                    judge=judge,
                )
            )
    return scores


def _score_item(evaluation: Evaluation, item: EvaluationItem, judge: Any) -> None:
    run = item.run
    output = _final_output(run.result)
    latency = None
    if run.finished_at:
        latency = int((run.finished_at - (run.started_at or run.created_at)).total_seconds() * 1000)
    if run.status != RunStatus.SUCCEEDED:
        scores = [Score("run", False, 0.0, run.error_message or f"The run {run.status}.")]
        error = run.error_message or f"The run {run.get_status_display().lower()}."
    else:
        scores, error = item_scores(evaluation, item, run, judge), ""
    passed = all(s.passed for s in scores)
    judge_cost = sum(s.cost for s in scores)
    status = (
        ItemStatus.CANCELLED
        if run.status == RunStatus.CANCELLED
        else (ItemStatus.PASSED if passed else ItemStatus.FAILED)
    )
    EvaluationItem.objects.filter(pk=item.pk, status=ItemStatus.RUNNING).update(
        status=status,
        output=output,
        passed=passed,
        score=sum(s.score for s in scores) / len(scores),
        scores=[s.as_dict() for s in scores],
        error=error[:2000],
        cost=run.cost + type(run.cost)(str(round(judge_cost, 6))),
        latency_ms=latency,
        scored_at=timezone.now(),
    )


def evaluation_advance(
    *, evaluation_id: int, judge: Any = None, max_scored: int | None = None
) -> list[int]:
    """Score items whose runs finished (at most `max_scored` of them), start runs for pending
    items up to the concurrency limit, finish the evaluation when every item is scored. Return
    the runs to kick.

    A spend budget that is used up (by an item's run, or before a judge call) stops the
    evaluation with the budget's reason: every item left would fail for it."""
    finished = (
        EvaluationItem.objects.filter(
            evaluation_id=evaluation_id,
            status=ItemStatus.RUNNING,
            run__status__in=list(FINISHED_RUN_STATUSES),
        )
        .select_related("run", "dataset_item", "evaluation")
        .order_by("position")
    )
    for item in finished[:max_scored] if max_scored is not None else finished:
        try:
            _score_item(item.evaluation, item, judge or EvaluationJudge(item.evaluation, item))
        except JudgeBusy:
            continue  # another driver is asking the judge about this item: it scores it
        except JudgeRefused as exc:
            EvaluationItem.objects.filter(pk=item.pk).update(cost=item.run.cost)
            return evaluation_stop(
                evaluation_id=evaluation_id, code=exc.code, reason=exc.message, item_id=item.pk
            )
        if item.run.error_code == BUDGET_EXCEEDED:
            return evaluation_stop(
                evaluation_id=evaluation_id, code=BUDGET_EXCEEDED, reason=item.run.error_message
            )
    started: list[int] = []
    with transaction.atomic():
        evaluation = (
            Evaluation.objects.select_for_update(of=("self",))
            .select_related("flow", "version", "created_by")
            .filter(pk=evaluation_id)
            .first()
        )
        if evaluation is None or evaluation.is_finished:
            return []
        counts = evaluation.items.aggregate(
            running=Count("pk", filter=Q(status=ItemStatus.RUNNING)),
            pending=Count("pk", filter=Q(status=ItemStatus.PENDING)),
        )
        free = evaluation.concurrency - counts["running"]
        if free > 0 and counts["pending"]:
            pending = evaluation.items.filter(status=ItemStatus.PENDING).select_related(
                "dataset_item"
            )[:free]
            for item in pending:
                run_id = _start_item(evaluation, item)
                if run_id is not None:
                    started.append(run_id)
        elif not counts["running"] and not counts["pending"]:
            evaluation.status = EvaluationStatus.SUCCEEDED
            evaluation.finished_at = timezone.now()
            evaluation.save(update_fields=["status", "finished_at"])
            evaluation_evict_failed(evaluation_id=evaluation_id)
    return started


def _start_item(evaluation: Evaluation, item: EvaluationItem) -> int | None:
    try:
        run = run_start(
            user=evaluation.created_by,
            flow=evaluation.flow,
            inputs=item.dataset_item.inputs,
            version=evaluation.version.number,
            trigger=Trigger.EVAL,
        )
    except (Invalid, NotFound) as exc:
        problems = "; ".join(str(e) for e in exc.extra.get("errors") or [])[:1000]
        EvaluationItem.objects.filter(pk=item.pk).update(
            status=ItemStatus.FAILED,
            passed=False,
            score=0.0,
            error=f"{exc.detail} {problems}".strip(),
            scores=[{"scorer": "inputs", "passed": False, "score": 0, "reason": str(exc.detail)}],
            scored_at=timezone.now(),
        )
        return None
    EvaluationItem.objects.filter(pk=item.pk).update(status=ItemStatus.RUNNING, run=run)
    return run.pk


def evaluation_stop(
    *, evaluation_id: int, code: str, reason: str, item_id: int | None = None
) -> list[int]:
    """End an evaluation early for a reason (its items left are cancelled, their runs too);
    `item_id` names an item that could not be scored for it. Return the runs to kick."""
    with transaction.atomic():
        locked = Evaluation.objects.select_for_update().filter(pk=evaluation_id).first()
        if locked is None or locked.is_finished:
            return []
        locked.status = EvaluationStatus.STOPPED
        locked.stop_code = code[:40]
        locked.stop_reason = reason[:2000]
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "stop_code", "stop_reason", "finished_at"])
        items = EvaluationItem.objects.filter(evaluation_id=evaluation_id)
        if item_id is not None:
            items.filter(pk=item_id, status=ItemStatus.RUNNING).update(
                status=ItemStatus.CANCELLED, error=f"Not scored: {reason}"[:2000]
            )
        items.filter(status=ItemStatus.PENDING).update(status=ItemStatus.CANCELLED)
        running = list(
            items.filter(status=ItemStatus.RUNNING).values_list("pk", "run_id", named=True)
        )
        evaluation_evict_failed(evaluation_id=evaluation_id)
    kicks: list[int] = []
    for run in Run.objects.filter(pk__in=[r.run_id for r in running]):
        kicks.extend(run_cancel(run=run).kicks)
    # Runs that finished meanwhile are still scored by nobody: the evaluation has ended.
    EvaluationItem.objects.filter(pk__in=[r.pk for r in running]).update(
        status=ItemStatus.CANCELLED
    )
    return kicks


def evaluation_touch(evaluation_id: int) -> None:
    """A driver's heartbeat (so a page can tell a driven evaluation from an abandoned one)."""
    Evaluation.objects.filter(pk=evaluation_id).update(driver_seen_at=timezone.now())


def evaluation_needs_driver(evaluation: Evaluation, now: datetime | None = None) -> bool:
    if evaluation.is_finished:
        return False
    seen = evaluation.driver_seen_at or evaluation.created_at
    return seen < (now or timezone.now()) - driver_stale()


def evaluations_without_driver(now: datetime) -> list[int]:
    """Running evaluations whose driver stopped beating (or never started): their process
    died. Created ones count from their creation, so a driver has time to start."""
    return list(
        Evaluation.objects.filter(status=EvaluationStatus.RUNNING)
        .alias(seen=Coalesce("driver_seen_at", "created_at"))
        .filter(seen__lt=now - driver_stale())
        .order_by("pk")
        .values_list("pk", flat=True)[:50]
    )


def evaluations_sweep(now: datetime) -> list[int]:
    """The sweeper's periodic job: advance every evaluation that lost its driver, so an
    evaluation finishes even when no process drives it (a few items scored per pass, so a slow
    judge model never holds recovery up). Return the runs to kick."""
    kick: list[int] = []
    for evaluation_id in evaluations_without_driver(now):
        kick.extend(evaluation_advance(evaluation_id=evaluation_id, max_scored=SWEEP_SCORED))
    return kick


def evaluation_cancel(*, user, evaluation: Evaluation) -> None:
    try:
        require(user=user, workspace_id=evaluation.workspace_id, permission="run")
    except PermissionDenied as exc:
        raise NotAllowed("Your role does not allow this.") from exc
    with transaction.atomic():
        locked = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
        if locked.is_finished:
            return
        locked.status = EvaluationStatus.CANCELLED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at"])
        evaluation.items.filter(status=ItemStatus.PENDING).update(status=ItemStatus.CANCELLED)
        running = list(
            evaluation.items.filter(status=ItemStatus.RUNNING).values_list("run_id", flat=True)
        )
        evaluation_evict_failed(evaluation_id=evaluation.pk)
    for run in Run.objects.filter(pk__in=running):
        run_cancel(run=run, user=user)
    evaluation.items.filter(status=ItemStatus.RUNNING).update(status=ItemStatus.CANCELLED)


def evaluation_summary(evaluation: Evaluation) -> dict[str, Any]:
    """Counts, pass rate, cost and latency of an evaluation: one aggregate query."""
    totals = evaluation.items.aggregate(
        done=Count("pk", filter=Q(scored_at__isnull=False)),
        passed=Count("pk", filter=Q(status=ItemStatus.PASSED)),
        failed=Count("pk", filter=Q(status=ItemStatus.FAILED)),
        running=Count("pk", filter=Q(status=ItemStatus.RUNNING)),
        cost=Sum("cost"),
        latency=Avg("latency_ms"),
        score=Avg("score"),
    )
    total = evaluation.item_count or 0
    done = totals["done"]
    totals["total"] = total
    totals["percent"] = int(done * 100 / total) if total else 0
    totals["pass_rate"] = (totals["passed"] / done) if done else None
    totals["cost"] = totals["cost"] or 0
    return totals
