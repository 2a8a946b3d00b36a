"""The evaluation API's request and response schemas, and how models are shaped into them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from config.schemas import CleanIn, Id, Name, Offset, StrictIn

from . import datasets as data
from .compare import ItemDiff
from .models import Dataset, DatasetItem, Evaluation, EvaluationItem
from .services import MAX_CONCURRENCY, evaluation_summary

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


def dataset_out(dataset: Dataset) -> dict[str, Any]:
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


def item_out(item: DatasetItem) -> dict[str, Any]:
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


def summary_out(evaluation: Evaluation) -> dict[str, Any]:
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


def evaluation_out(evaluation: Evaluation) -> dict[str, Any]:
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
        "summary": summary_out(evaluation),
        "url": f"/evals/evaluations/{evaluation.pk}/",
    }


def result_out(item: EvaluationItem) -> dict[str, Any]:
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


def side_out(item: EvaluationItem | None) -> dict[str, Any] | None:
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


def diff_out(diff: ItemDiff) -> dict[str, Any]:
    item = diff.left or diff.right
    return {
        "position": diff.position,
        "dataset_item": item.dataset_item_id if item else 0,
        "change": diff.change,
        "inputs": diff.inputs if isinstance(diff.inputs, dict) else {},
        "expected": diff.expected,
        "left": side_out(diff.left),
        "right": side_out(diff.right),
    }


def page_out(rows, filters, shape) -> dict[str, Any]:
    return {
        "count": rows.count(),
        "limit": filters.limit,
        "offset": filters.offset,
        "items": [shape(row) for row in rows[filters.offset : filters.offset + filters.limit]],
    }
