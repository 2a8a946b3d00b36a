"""The evaluation API: datasets and their items, evaluation runs (start, progress, per-item
results, cancel) and the comparison of two evaluations. Roles as on the pages: reading needs a
membership, changing a dataset the editor role, starting or cancelling an evaluation the run
permission; a foreign id is a 404."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.db.models import Count
from django.http import HttpRequest
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile

from builder.services import flow_get
from config.domain import Invalid, NotFound, TooLarge
from config.ratelimits import starts_runs
from config.schemas import CleanIn, Id, Name, Offset, StrictIn
from runs.models import Run, RunStatus
from workspaces.services import workspaces_for

from . import datasets as data
from .compare import ItemDiff, evaluations_compare
from .dispatch import drive
from .models import Dataset, DatasetItem, Evaluation, EvaluationItem, ItemStatus, Label
from .services import (
    MAX_CONCURRENCY,
    evaluation_cancel,
    evaluation_get,
    evaluation_needs_driver,
    evaluation_start,
    evaluation_summary,
    evaluations_visible_to,
)

router = Router(tags=["evaluations"])

MAX_PAGE = 200
# Scorer settings are data checked by `scorers_clean`; this only bounds their size.
Scorer = dict[str, Any]


# ---- schemas -----------------------------------------------------------------------------------


class DatasetIn(StrictIn):
    workspace: Id
    name: Name
    description: str = Field("", max_length=2_000)


class DatasetOut(Schema):
    id: int
    workspace: int
    name: str
    description: str
    items: int
    created_by: str | None
    created_at: datetime


class DatasetFilter(CleanIn):
    workspace: Id | None = None
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: Offset = 0


class DatasetPageOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[DatasetOut]


class ItemIn(StrictIn):
    inputs: dict[str, Any] = Field(..., max_length=200, description="The run inputs")
    expected: Any = Field(None, description="The output expected (any JSON)")
    tags: list[str] = Field(default_factory=list, max_length=data.MAX_TAGS)
    label: Literal["", "positive", "negative"] = ""


class ItemOut(Schema):
    id: int
    inputs: dict[str, Any]
    expected: Any
    tags: list[str]
    label: str
    source: str
    source_run: int | None
    created_at: datetime


class ItemPage(CleanIn):
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: Offset = 0


class ItemPageOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[ItemOut]


class RowProblemOut(Schema):
    row: int
    message: str
    text: str


class UploadOut(Schema):
    added: int
    problems: list[RowProblemOut]


class FromRunsIn(StrictIn):
    runs: list[Id] = Field(
        default_factory=list, max_length=1_000, description="Succeeded runs of the workspace"
    )
    flow: Id | None = Field(None, description="Or: the latest succeeded runs of this flow")
    limit: int = Field(20, ge=1, le=1_000, description="With flow: how many runs")


class FromApprovalsIn(StrictIn):
    flow: Id | None = Field(None, description="Only approvals of this flow's runs")


class AddedOut(Schema):
    added: int


class EvaluationIn(StrictIn):
    flow: Id
    dataset: Id
    version: Id | None = Field(None, description="A version number of the flow")
    use_draft: bool = Field(False, description="Evaluate the current draft (snapshotted)")
    scorers: list[Scorer] = Field(
        default_factory=list,
        max_length=8,
        description='e.g. [{"type": "contains"}]; empty: the flow\'s own evaluator nodes',
    )
    concurrency: int = Field(4, ge=1, le=MAX_CONCURRENCY)


class SummaryOut(Schema):
    total: int
    done: int
    percent: int
    passed: int
    failed: int
    running: int
    pass_rate: float | None
    cost: float
    latency_ms: float | None
    score: float | None


class EvaluationOut(Schema):
    id: int
    workspace: int
    flow: int
    flow_name: str
    version: int
    version_number: int | None
    dataset: int
    dataset_name: str
    status: str
    stop_code: str
    stop_reason: str
    scorers: list[dict[str, Any]]
    concurrency: int
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    summary: SummaryOut
    url: str


class EvaluationFilter(CleanIn):
    workspace: Id | None = None
    flow: Id | None = None
    dataset: Id | None = None
    limit: int = Field(25, ge=1, le=MAX_PAGE)
    offset: Offset = 0


class EvaluationPageOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[EvaluationOut]


class ResultFilter(CleanIn):
    status: Literal["pending", "running", "passed", "failed", "cancelled"] | None = None
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: Offset = 0


class ResultOut(Schema):
    id: int
    position: int
    dataset_item: int
    inputs: dict[str, Any]
    expected: Any
    status: str
    passed: bool | None
    score: float | None
    scores: list[dict[str, Any]]
    output: Any
    error: str
    cost: float
    latency_ms: int | None
    run: int | None


class ResultPageOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[ResultOut]


class CompareFilter(CleanIn):
    left: Id
    right: Id
    limit: int = Field(100, ge=1, le=500, description="Item diffs returned, regressions first")


class SideOut(Schema):
    status: str
    passed: bool | None
    score: float | None
    output: Any
    cost: float
    latency_ms: int | None
    run: int | None


class DiffOut(Schema):
    position: int
    dataset_item: int
    change: Literal["regression", "fixed", "changed", "missing", "same"]
    inputs: dict[str, Any]
    expected: Any
    left: SideOut | None
    right: SideOut | None


class CompareOut(Schema):
    left: EvaluationOut
    right: EvaluationOut
    same_dataset: bool
    pass_rate_delta: float | None
    cost_delta: float
    latency_delta_ms: float | None
    counts: dict[str, int]
    items: list[DiffOut]


# ---- shaping -----------------------------------------------------------------------------------


def _dataset(dataset: Dataset) -> dict[str, Any]:
    count = getattr(dataset, "item_total", None)
    return {
        "id": dataset.pk,
        "workspace": dataset.workspace_id,
        "name": dataset.name,
        "description": dataset.description,
        "items": count if count is not None else dataset.items.count(),
        "created_by": dataset.created_by.get_username() if dataset.created_by else None,
        "created_at": dataset.created_at,
    }


def _item(item: DatasetItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "inputs": item.inputs if isinstance(item.inputs, dict) else {},
        "expected": item.expected,
        "tags": list(item.tags or []),
        "label": item.label,
        "source": item.source,
        "source_run": item.source_run_id,
        "created_at": item.created_at,
    }


def _summary(evaluation: Evaluation) -> dict[str, Any]:
    totals = evaluation_summary(evaluation)
    return {
        "total": totals["total"],
        "done": totals["done"],
        "percent": totals["percent"],
        "passed": totals["passed"],
        "failed": totals["failed"],
        "running": totals["running"],
        "pass_rate": totals["pass_rate"],
        "cost": float(totals["cost"] or 0),
        "latency_ms": totals["latency"],
        "score": totals["score"],
    }


def _evaluation(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "id": evaluation.pk,
        "workspace": evaluation.workspace_id,
        "flow": evaluation.flow_id,
        "flow_name": evaluation.flow.name,
        "version": evaluation.version_id,
        "version_number": evaluation.version.number,
        "dataset": evaluation.dataset_id,
        "dataset_name": evaluation.dataset.name,
        "status": evaluation.status,
        "stop_code": evaluation.stop_code,
        "stop_reason": evaluation.stop_reason,
        "scorers": list(evaluation.scorers or []),
        "concurrency": evaluation.concurrency,
        "created_by": evaluation.created_by.get_username() if evaluation.created_by else None,
        "created_at": evaluation.created_at,
        "finished_at": evaluation.finished_at,
        "summary": _summary(evaluation),
        "url": f"/evals/evaluations/{evaluation.pk}/",
    }


def _result(item: EvaluationItem) -> dict[str, Any]:
    example = item.dataset_item
    return {
        "id": item.pk,
        "position": item.position,
        "dataset_item": item.dataset_item_id,
        "inputs": example.inputs if isinstance(example.inputs, dict) else {},
        "expected": example.expected,
        "status": item.status,
        "passed": item.passed,
        "score": item.score,
        "scores": list(item.scores or []),
        "output": item.output,
        "error": item.error,
        "cost": float(item.cost),
        "latency_ms": item.latency_ms,
        "run": item.run_id,
    }


def _side(item: EvaluationItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {
        "status": item.status,
        "passed": item.passed,
        "score": item.score,
        "output": item.output,
        "cost": float(item.cost),
        "latency_ms": item.latency_ms,
        "run": item.run_id,
    }


def _diff(diff: ItemDiff) -> dict[str, Any]:
    item = diff.left or diff.right
    return {
        "position": diff.position,
        "dataset_item": item.dataset_item_id if item else 0,
        "change": diff.change,
        "inputs": diff.inputs if isinstance(diff.inputs, dict) else {},
        "expected": diff.expected,
        "left": _side(diff.left),
        "right": _side(diff.right),
    }


def _page(rows, filters, shape) -> dict[str, Any]:
    return {
        "count": rows.count(),
        "limit": filters.limit,
        "offset": filters.offset,
        "items": [shape(row) for row in rows[filters.offset : filters.offset + filters.limit]],
    }


# ---- datasets ----------------------------------------------------------------------------------


@router.get("/datasets", response=DatasetPageOut)
def dataset_list(request: HttpRequest, filters: Query[DatasetFilter]):
    rows = data.datasets_visible_to(request.user).select_related("created_by")
    if filters.workspace is not None:
        rows = rows.filter(workspace_id=filters.workspace)
    rows = rows.annotate(item_total=Count("items")).order_by("name", "pk")
    return _page(rows, filters, _dataset)


@router.post("/datasets", response={201: DatasetOut})
def dataset_create(request: HttpRequest, payload: DatasetIn):
    if not workspaces_for(request.user).filter(pk=payload.workspace).exists():
        raise NotFound("Workspace not found")
    dataset = data.dataset_create(
        user=request.user,
        workspace_id=payload.workspace,
        name=payload.name,
        description=payload.description,
    )
    return Status(201, _dataset(dataset))


@router.get("/datasets/{int:dataset_id}", response=DatasetOut)
def dataset_detail(request: HttpRequest, dataset_id: Id):
    return _dataset(data.dataset_get(user=request.user, dataset_id=dataset_id))


@router.delete("/datasets/{int:dataset_id}", response={204: None})
def dataset_delete(request: HttpRequest, dataset_id: Id):
    dataset = data.dataset_get(user=request.user, dataset_id=dataset_id, permission="edit")
    data.dataset_delete(user=request.user, dataset=dataset)
    return Status(204, None)


@router.get("/datasets/{int:dataset_id}/items", response=ItemPageOut)
def item_list(request: HttpRequest, dataset_id: Id, filters: Query[ItemPage]):
    dataset = data.dataset_get(user=request.user, dataset_id=dataset_id)
    return _page(dataset.items.order_by("pk"), filters, _item)


@router.post("/datasets/{int:dataset_id}/items", response={201: ItemOut})
def item_add(request: HttpRequest, dataset_id: Id, payload: ItemIn):
    dataset = data.dataset_get(user=request.user, dataset_id=dataset_id, permission="edit")
    item = data.dataset_add_item(
        user=request.user,
        dataset=dataset,
        inputs=payload.inputs,
        expected=payload.expected,
        tags=payload.tags,
        label=payload.label or Label.NONE,
    )
    return Status(201, _item(item))


@router.post("/datasets/{int:dataset_id}/upload", response={201: UploadOut})
def dataset_upload(request: HttpRequest, dataset_id: Id, file: File[UploadedFile]):
    """Add the rows of a CSV or JSONL file (multipart form field `file`). Valid rows are added;
    each bad row is reported with its number and reason."""
    dataset = data.dataset_get(user=request.user, dataset_id=dataset_id, permission="edit")
    if file.size is not None and file.size > data.MAX_UPLOAD_BYTES:
        raise TooLarge(f"The file is larger than {data.MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    report = data.dataset_upload(
        user=request.user,
        dataset=dataset,
        filename=file.name or "",
        content=file.read(data.MAX_UPLOAD_BYTES + 1),
    )
    problems = [{"row": p.row, "message": p.message, "text": p.text} for p in report.problems]
    return Status(201, {"added": report.added, "problems": problems})


@router.post("/datasets/{int:dataset_id}/items/from-runs", response={201: AddedOut})
def items_from_runs(request: HttpRequest, dataset_id: Id, payload: FromRunsIn):
    """Add past succeeded runs as items: their inputs, and their result as the expected output.
    Name the runs, or a flow whose latest succeeded runs to take."""
    dataset = data.dataset_get(user=request.user, dataset_id=dataset_id, permission="edit")
    run_ids = list(payload.runs)
    if payload.flow is not None:
        flow = flow_get(user=request.user, flow_id=payload.flow)
        if flow.workspace_id != dataset.workspace_id:
            raise NotFound("Flow not found")
        run_ids += list(
            Run.objects.filter(flow=flow, status=RunStatus.SUCCEEDED)
            .order_by("-created_at", "-pk")
            .values_list("pk", flat=True)[: payload.limit]
        )
    if not run_ids:
        raise Invalid("Name the runs to add (runs), or a flow (flow).", code="no_runs")
    added = data.dataset_add_runs(user=request.user, dataset=dataset, run_ids=run_ids)
    return Status(201, {"added": added})


@router.post("/datasets/{int:dataset_id}/items/from-approvals", response={201: AddedOut})
def items_from_approvals(request: HttpRequest, dataset_id: Id, payload: FromApprovalsIn):
    """Turn decided approvals into items: approved outputs positive, edited payloads the
    corrected expected output, rejected outputs negative examples."""
    dataset = data.dataset_get(user=request.user, dataset_id=dataset_id, permission="edit")
    added = data.dataset_grow_from_approvals(
        user=request.user, dataset=dataset, flow_id=payload.flow
    )
    return Status(201, {"added": added})


# ---- evaluations -------------------------------------------------------------------------------


def _evaluations_of(request: HttpRequest):
    return evaluations_visible_to(request.user).select_related(
        "flow", "version", "dataset", "created_by"
    )


@router.get("/evaluations", response=EvaluationPageOut)
def evaluation_list(request: HttpRequest, filters: Query[EvaluationFilter]):
    rows = _evaluations_of(request)
    for name in ("workspace", "flow", "dataset"):
        value = getattr(filters, name)
        if value is not None:
            rows = rows.filter(**{f"{name}_id": value})
    return _page(rows.order_by("-created_at", "-pk"), filters, _evaluation)


@router.post("/evaluations", response={202: EvaluationOut})
@starts_runs
def evaluation_create(request: HttpRequest, payload: EvaluationIn):
    """Start an evaluation of a flow version (or the draft, or else the published version) over
    every item of a dataset; it runs in the background. Follow it at /evaluations/{id}."""
    flow = flow_get(user=request.user, flow_id=payload.flow, permission="run")
    dataset = data.dataset_get(user=request.user, dataset_id=payload.dataset)
    if payload.use_draft and payload.version is not None:
        raise Invalid("Evaluate either a version or the draft, not both.", code="invalid_version")
    evaluation = evaluation_start(
        user=request.user,
        flow=flow,
        dataset=dataset,
        version=payload.version,
        use_draft=payload.use_draft,
        scorers=payload.scorers,
        concurrency=payload.concurrency,
    )
    drive(evaluation.pk)
    evaluation = evaluation_get(user=request.user, evaluation_id=evaluation.pk)
    return Status(202, _evaluation(evaluation))


@router.get("/evaluations/compare", response=CompareOut)
def evaluation_compare(request: HttpRequest, filters: Query[CompareFilter]):
    """Two evaluations side by side: pass rate, cost and latency, and the items whose verdict
    changed, regressions first (`right` against `left`, the baseline)."""
    left = evaluation_get(user=request.user, evaluation_id=filters.left)
    right = evaluation_get(user=request.user, evaluation_id=filters.right)
    comparison = evaluations_compare(left, right)
    a, b = comparison.left_summary, comparison.right_summary
    pass_delta = (
        None
        if a["pass_rate"] is None or b["pass_rate"] is None
        else round(b["pass_rate"] - a["pass_rate"], 6)
    )
    latency_delta = (
        None if a["latency"] is None or b["latency"] is None else b["latency"] - a["latency"]
    )
    return {
        "left": _evaluation(left),
        "right": _evaluation(right),
        "same_dataset": left.dataset_id == right.dataset_id,
        "pass_rate_delta": pass_delta,
        "cost_delta": float((b["cost"] or 0) - (a["cost"] or 0)),
        "latency_delta_ms": latency_delta,
        "counts": comparison.counts,
        "items": [_diff(d) for d in comparison.items[: filters.limit]],
    }


@router.get("/evaluations/{int:evaluation_id}", response=EvaluationOut)
def evaluation_detail(request: HttpRequest, evaluation_id: Id):
    """Status and progress. An evaluation whose driver's process died is driven again."""
    evaluation = evaluation_get(user=request.user, evaluation_id=evaluation_id)
    if evaluation_needs_driver(evaluation):
        drive(evaluation.pk)
        evaluation = evaluation_get(user=request.user, evaluation_id=evaluation_id)
    return _evaluation(evaluation)


@router.get("/evaluations/{int:evaluation_id}/items", response=ResultPageOut)
def evaluation_items(request: HttpRequest, evaluation_id: Id, filters: Query[ResultFilter]):
    """Per-item results in dataset order: output, verdict, score, cost, latency, the run."""
    evaluation = evaluation_get(user=request.user, evaluation_id=evaluation_id)
    rows = evaluation.items.select_related("dataset_item").order_by("position")
    if filters.status is not None:
        rows = rows.filter(status=ItemStatus(filters.status))
    return _page(rows, filters, _result)


@router.post("/evaluations/{int:evaluation_id}/cancel", response=EvaluationOut)
def evaluation_cancel_api(request: HttpRequest, evaluation_id: Id):
    """Cancel: no item starts any more, the runs in flight are cancelled. Idempotent."""
    evaluation = evaluation_get(user=request.user, evaluation_id=evaluation_id)
    evaluation_cancel(user=request.user, evaluation=evaluation)
    return _evaluation(evaluation_get(user=request.user, evaluation_id=evaluation_id))
