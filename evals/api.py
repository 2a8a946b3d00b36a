"""The evaluation API: datasets and their items, evaluation runs (start, progress, per-item
results, cancel) and the comparison of two evaluations. Roles as on the pages: reading needs a
membership, changing a dataset the editor role, starting or cancelling an evaluation the run
permission; a foreign id is a 404. Schemas and shaping: `evals.api_schemas`."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest
from ninja import File, Query, Router, Status, UploadedFile

from builder.services import flow_get
from config.domain import Invalid, NotFound, TooLarge
from config.ratelimits import starts_runs
from config.schemas import Id
from runs.models import Run, RunStatus
from workspaces.services import workspaces_for

from . import datasets as data
from .api_schemas import (
    AddedOut,
    CompareFilter,
    CompareOut,
    DatasetFilter,
    DatasetIn,
    DatasetOut,
    DatasetPageOut,
    EvaluationFilter,
    EvaluationIn,
    EvaluationOut,
    EvaluationPageOut,
    FromApprovalsIn,
    FromRunsIn,
    ItemIn,
    ItemOut,
    ItemPage,
    ItemPageOut,
    ResultFilter,
    ResultPageOut,
    UploadOut,
    dataset_out,
    diff_out,
    evaluation_out,
    item_out,
    page_out,
    result_out,
)
from .compare import evaluations_compare
from .dispatch import drive
from .models import ItemStatus, Label
from .services import (
    evaluation_cancel,
    evaluation_get,
    evaluation_needs_driver,
    evaluation_start,
    evaluations_visible_to,
)

router = Router(tags=["evaluations"])


# ---- datasets ----------------------------------------------------------------------------------


@router.get("/datasets", response=DatasetPageOut)
def dataset_list(request: HttpRequest, filters: Query[DatasetFilter]):
    rows = data.datasets_visible_to(request.user).select_related("created_by")
    if filters.workspace is not None:
        rows = rows.filter(workspace_id=filters.workspace)
    rows = rows.annotate(item_total=Count("items")).order_by("name", "pk")
    return page_out(rows, filters, dataset_out)


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
    return Status(201, dataset_out(dataset))


@router.get("/datasets/{int:dataset_id}", response=DatasetOut)
def dataset_detail(request: HttpRequest, dataset_id: Id):
    return dataset_out(data.dataset_get(user=request.user, dataset_id=dataset_id))


@router.delete("/datasets/{int:dataset_id}", response={204: None})
def dataset_delete(request: HttpRequest, dataset_id: Id):
    dataset = data.dataset_get(user=request.user, dataset_id=dataset_id, permission="edit")
    data.dataset_delete(user=request.user, dataset=dataset)
    return Status(204, None)


@router.get("/datasets/{int:dataset_id}/items", response=ItemPageOut)
def item_list(request: HttpRequest, dataset_id: Id, filters: Query[ItemPage]):
    dataset = data.dataset_get(user=request.user, dataset_id=dataset_id)
    return page_out(dataset.items.order_by("pk"), filters, item_out)


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
    return Status(201, item_out(item))


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
    return page_out(rows.order_by("-created_at", "-pk"), filters, evaluation_out)


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
    return Status(202, evaluation_out(evaluation))


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
        "left": evaluation_out(left),
        "right": evaluation_out(right),
        "same_dataset": left.dataset_id == right.dataset_id,
        "pass_rate_delta": pass_delta,
        "cost_delta": float((b["cost"] or 0) - (a["cost"] or 0)),
        "latency_delta_ms": latency_delta,
        "counts": comparison.counts,
        "items": [diff_out(d) for d in comparison.items[: filters.limit]],
    }


@router.get("/evaluations/{int:evaluation_id}", response=EvaluationOut)
def evaluation_detail(request: HttpRequest, evaluation_id: Id):
    """Status and progress. An evaluation whose driver's process died is driven again."""
    evaluation = evaluation_get(user=request.user, evaluation_id=evaluation_id)
    if evaluation_needs_driver(evaluation):
        drive(evaluation.pk)
        evaluation = evaluation_get(user=request.user, evaluation_id=evaluation_id)
    return evaluation_out(evaluation)


@router.get("/evaluations/{int:evaluation_id}/items", response=ResultPageOut)
def evaluation_items(request: HttpRequest, evaluation_id: Id, filters: Query[ResultFilter]):
    """Per-item results in dataset order: output, verdict, score, cost, latency, the run."""
    evaluation = evaluation_get(user=request.user, evaluation_id=evaluation_id)
    rows = evaluation.items.select_related("dataset_item").order_by("position")
    if filters.status is not None:
        rows = rows.filter(status=ItemStatus(filters.status))
    return page_out(rows, filters, result_out)


@router.post("/evaluations/{int:evaluation_id}/cancel", response=EvaluationOut)
def evaluation_cancel_api(request: HttpRequest, evaluation_id: Id):
    """Cancel: no item starts any more, the runs in flight are cancelled. Idempotent."""
    evaluation = evaluation_get(user=request.user, evaluation_id=evaluation_id)
    evaluation_cancel(user=request.user, evaluation=evaluation)
    return evaluation_out(evaluation_get(user=request.user, evaluation_id=evaluation_id))
