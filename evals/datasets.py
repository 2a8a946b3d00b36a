"""Datasets: create, upload CSV/JSONL (every row checked, valid rows kept, each bad row reported),
add items from past runs, and grow from decided approvals."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from builder.models import Flow
from config.domain import Conflict, Invalid, NotAllowed, NotFound, TooLarge
from runs.engine.limits import text_size
from runs.models import Approval, ApprovalStatus, Run, RunStatus
from workspaces.services import PermissionDenied, require, workspaces_for

from .models import Dataset, DatasetItem, DatasetUpload, ItemSource, Label

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_ROW_CHARS = 100_000
MAX_TAGS = 20
RESERVED = ("expected", "tags", "label")
# An upload's report keeps this many refused rows (each row's text cut to REPORT_TEXT_CHARS),
# and each uploader keeps the reports of their latest REPORTS_KEPT uploads to a dataset.
REPORT_PROBLEMS = 50
REPORT_TEXT_CHARS = 200
REPORTS_KEPT = 20
# Growing from past runs takes a flow's latest succeeded runs: at most this many at a time.
GROW_RUNS_MAX = 1000


def _require(user, workspace_id: int, permission: str) -> None:
    try:
        require(user=user, workspace_id=workspace_id, permission=permission)
    except PermissionDenied as exc:
        raise NotAllowed("Your role does not allow this.") from exc


def datasets_visible_to(user) -> QuerySet[Dataset]:
    return Dataset.objects.filter(workspace__in=workspaces_for(user))


def dataset_get(*, user, dataset_id: int, permission: str = "read") -> Dataset:
    dataset = datasets_visible_to(user).filter(pk=dataset_id).select_related("workspace").first()
    if dataset is None:
        raise NotFound("Dataset not found")
    _require(user, dataset.workspace_id, permission)
    return dataset


def dataset_create(*, user, workspace_id: int, name: str, description: str = "") -> Dataset:
    _require(user, workspace_id, "edit")
    name = (name or "").strip()
    if not name:
        raise Invalid("Give the dataset a name.", code="invalid_dataset")
    if len(name) > 120:
        raise Invalid("The name is longer than 120 characters.", code="invalid_dataset")
    return Dataset.objects.create(
        workspace_id=workspace_id,
        name=name,
        description=(description or "").strip()[:2_000],
        created_by=user,
    )


def dataset_delete(*, user, dataset: Dataset) -> None:
    """Delete a dataset and its items. One that evaluations used is kept: their results point
    at its items."""
    _require(user, dataset.workspace_id, "edit")
    used = dataset.evaluations.count()
    if used:
        raise Conflict(
            f"The dataset has {used} evaluation(s); it is kept so their results stay readable.",
            code="dataset_in_use",
        )
    dataset.delete()


def dataset_add_item(
    *,
    user,
    dataset: Dataset,
    inputs: Any,
    expected: Any = None,
    tags: Any = None,
    label: Any = "",
) -> DatasetItem:
    """Add one example by hand (checked as an uploaded row is)."""
    _require(user, dataset.workspace_id, "edit")
    if dataset.items.count() >= MAX_ROWS * 10:
        raise TooLarge(f"A dataset holds at most {MAX_ROWS * 10:,} items.")
    record = {"inputs": inputs, "expected": expected, "tags": tags, "label": label}
    try:
        item = _item(record, flat_values_json=False)
    except ValueError as exc:
        raise Invalid(f"The item is not valid: {exc}.", code="invalid_item") from None
    item.dataset = dataset
    item.source = ItemSource.MANUAL
    item.save()
    return item


@dataclass
class RowProblem:
    row: int
    message: str
    text: str = ""


@dataclass
class UploadReport:
    added: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    upload_id: int | None = None  # the DatasetUpload that records it


def _tags(raw: Any) -> list[str]:
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        raw = [t for part in raw.replace(";", ",").split(",") if (t := part.strip())]
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise ValueError("tags must be a list of words (or a comma-separated text)")
    if len(raw) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return [t.strip()[:40] for t in raw if t.strip()]


def _label(raw: Any) -> str:
    value = str(raw or "").strip().lower()
    if value not in Label.values:
        raise ValueError("label must be positive, negative or empty")
    return value


def _maybe_json(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "[") or stripped in ("true", "false", "null"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def _item(record: dict[str, Any], *, flat_values_json: bool) -> DatasetItem:
    """Build an item from one row; ValueError says what is wrong with it."""
    if "inputs" in record:
        inputs = record["inputs"]
        if isinstance(inputs, str):
            try:
                inputs = json.loads(inputs)
            except json.JSONDecodeError as exc:
                raise ValueError(f"the inputs column is not JSON ({exc.msg})") from None
        extra = set(record) - {"inputs", *RESERVED}
        if extra:
            raise ValueError(f"unknown column(s) next to inputs: {', '.join(sorted(extra))}")
    else:
        inputs = {}
        for key, value in record.items():
            if key in RESERVED:
                continue
            if not key:
                raise ValueError("a column has no name")
            if flat_values_json and value == "":
                continue  # an empty CSV cell is an input left out
            inputs[key] = (
                _maybe_json(value) if flat_values_json and isinstance(value, str) else value
            )
    if not isinstance(inputs, dict):
        raise ValueError("inputs must be a JSON object")
    if not inputs:
        raise ValueError("the row has no inputs")
    expected = record.get("expected")
    if isinstance(expected, str) and flat_values_json:
        expected = _maybe_json(expected) if expected.strip() else None
    if text_size(inputs, MAX_ROW_CHARS) + text_size(expected, MAX_ROW_CHARS) > MAX_ROW_CHARS:
        raise ValueError(f"the row is longer than {MAX_ROW_CHARS:,} characters")
    return DatasetItem(
        inputs=inputs,
        expected=expected,
        tags=_tags(record.get("tags")),
        label=_label(record.get("label")),
        source=ItemSource.UPLOAD,
    )


def _rows_csv(text: str):
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise Invalid("The CSV file has no header row.", code="invalid_upload")
    for number, row in enumerate(reader, start=2):
        if None in row:
            yield number, None, "the row has more cells than the header", ""
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        yield number, {k.strip(): (v or "") for k, v in row.items()}, None, ""


def _rows_jsonl(text: str):
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"not JSON ({exc.msg} at column {exc.colno})", line[:500]
            continue
        if not isinstance(record, dict):
            yield number, None, "each line must be a JSON object", line[:500]
            continue
        yield number, record, None, ""


def dataset_upload(*, user, dataset: Dataset, filename: str, content: bytes) -> UploadReport:
    """Add the rows of a CSV or JSONL file. Valid rows are added; each bad row is reported with
    its number and the reason, so it can be fixed and uploaded again."""
    _require(user, dataset.workspace_id, "edit")
    if len(content) > MAX_UPLOAD_BYTES:
        raise TooLarge(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The file is not UTF-8 text.", code="invalid_upload") from None
    name = (filename or "").lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        rows, flat_json = _rows_jsonl(text), False
    elif name.endswith((".csv", ".txt")) or not name:
        rows, flat_json = _rows_csv(text), True
    else:
        raise Invalid("Upload a .csv or a .jsonl file.", code="invalid_upload")
    report, items = UploadReport(), []
    for number, record, problem, raw in rows:
        if len(items) + len(report.problems) >= MAX_ROWS:
            raise TooLarge(f"The file has more than {MAX_ROWS:,} rows; split it.")
        if problem is not None:
            report.problems.append(RowProblem(number, problem, raw))
            continue
        try:
            item = _item(record, flat_values_json=flat_json)
        except ValueError as exc:
            report.problems.append(RowProblem(number, str(exc), json.dumps(record)[:500]))
            continue
        item.dataset = dataset
        items.append(item)
    if not items and not report.problems:
        raise Invalid("The file has no rows.", code="invalid_upload")
    report.added = len(items)
    with transaction.atomic():
        DatasetItem.objects.bulk_create(items, batch_size=500)
        report.upload_id = _upload_record(user, dataset, filename, report).pk
    return report


def _upload_record(user, dataset: Dataset, filename: str, report: UploadReport) -> DatasetUpload:
    upload = DatasetUpload.objects.create(
        dataset=dataset,
        uploaded_by=user,
        filename=(filename or "")[:200],
        added=report.added,
        problem_count=len(report.problems),
        problems=[
            {"row": p.row, "message": p.message[:500], "text": p.text[:REPORT_TEXT_CHARS]}
            for p in report.problems[:REPORT_PROBLEMS]
        ],
    )
    mine = DatasetUpload.objects.filter(dataset=dataset, uploaded_by=user)
    stale = mine.order_by("-created_at", "-pk").values_list("pk", flat=True)[REPORTS_KEPT:]
    DatasetUpload.objects.filter(pk__in=list(stale)).delete()
    return upload


def dataset_upload_get(*, user, dataset: Dataset, upload_id: int) -> DatasetUpload:
    """The report of one of `user`'s uploads to `dataset` (another person's is not found)."""
    upload = dataset.uploads.filter(pk=upload_id, uploaded_by=user).first()
    if upload is None:
        raise NotFound("Upload not found")
    return upload


def _final_output(run: Run) -> Any:
    result = run.result
    if isinstance(result, dict) and len(result) == 1:
        return next(iter(result.values()))
    return result


def _locked(dataset: Dataset) -> None:
    """Hold the dataset's row until the transaction ends, so two grows of it (a form posted
    twice at once) take turns: the second sees what the first added and adds none of it again.
    SQLite needs no row lock: its write transactions already take turns (IMMEDIATE)."""
    Dataset.objects.select_for_update().filter(pk=dataset.pk).values_list("pk").first()


def _workspace_flow(dataset: Dataset, flow_id: int) -> Flow:
    flow = Flow.objects.filter(
        pk=flow_id, workspace_id=dataset.workspace_id, deleted_at__isnull=True
    ).first()
    if flow is None:
        raise NotFound("That flow is not in this dataset's workspace.", code="flow_not_found")
    return flow


def dataset_add_runs(*, user, dataset: Dataset, run_ids: list[int]) -> int:
    """Add past runs of the workspace as items: their inputs, and their result as expected. A
    run already in the dataset is not added again, also when two calls race."""
    _require(user, dataset.workspace_id, "edit")
    with transaction.atomic():
        _locked(dataset)
        runs = Run.objects.filter(
            pk__in=run_ids[:GROW_RUNS_MAX],
            workspace_id=dataset.workspace_id,
            status=RunStatus.SUCCEEDED,
        ).order_by("pk")
        existing = set(
            dataset.items.filter(source_run__in=runs, source_approval__isnull=True).values_list(
                "source_run_id", flat=True
            )
        )
        items = [
            DatasetItem(
                dataset=dataset,
                inputs=run.inputs,
                expected=_final_output(run),
                source=ItemSource.RUN,
                source_run=run,
            )
            for run in runs
            if run.pk not in existing
        ]
        DatasetItem.objects.bulk_create(items)
    return len(items)


@dataclass
class GrowReport:
    added: int
    found: int  # the runs (or approvals) considered, those already in the dataset included
    flow_name: str = ""


def dataset_grow_from_runs(
    *, user, dataset: Dataset, flow_id: int | None, limit: int
) -> GrowReport:
    """Add the latest `limit` succeeded runs of a flow of the dataset's workspace (those not in
    the dataset yet): posting the same form twice adds nothing the second time."""
    _require(user, dataset.workspace_id, "edit")
    if flow_id is None:
        raise Invalid("Choose the flow whose past runs to add.", code="flow_required")
    if not 1 <= limit <= GROW_RUNS_MAX:
        raise Invalid(
            f"Latest runs must be a whole number from 1 to {GROW_RUNS_MAX:,}.", code="invalid_limit"
        )
    flow = _workspace_flow(dataset, flow_id)
    run_ids = list(
        Run.objects.filter(flow=flow, workspace_id=dataset.workspace_id, status=RunStatus.SUCCEEDED)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)[:limit]
    )
    added = dataset_add_runs(user=user, dataset=dataset, run_ids=run_ids) if run_ids else 0
    return GrowReport(added=added, found=len(run_ids), flow_name=flow.name)


def dataset_grow_from_approvals(*, user, dataset: Dataset, flow_id: int | None = None) -> int:
    """Turn decided approvals into items: approved outputs are positive examples, edited
    payloads the corrected expected output, rejected outputs negative examples. An approval
    already in the dataset is not added again."""
    _require(user, dataset.workspace_id, "edit")
    if flow_id is not None:
        _workspace_flow(dataset, flow_id)
    with transaction.atomic():
        _locked(dataset)
        approvals = (
            Approval.objects.filter(
                workspace_id=dataset.workspace_id,
                status__in=[ApprovalStatus.APPROVED, ApprovalStatus.REJECTED],
            )
            .exclude(
                pk__in=dataset.items.filter(source_approval__isnull=False).values("source_approval")
            )
            .select_related("run")
            .prefetch_related("decisions")
            .order_by("pk")
        )
        if flow_id is not None:
            approvals = approvals.filter(run__flow_id=flow_id)
        items = [_approval_item(dataset, approval) for approval in approvals[:2000]]
        DatasetItem.objects.bulk_create(items, ignore_conflicts=True)
    return len(items)


def _approval_item(dataset: Dataset, approval: Approval) -> DatasetItem:
    edited = [d.edited_payload for d in approval.decisions.all() if d.edited_payload is not None]
    approved = approval.status == ApprovalStatus.APPROVED
    return DatasetItem(
        dataset=dataset,
        inputs=approval.run.inputs,
        expected=edited[-1] if (approved and edited) else approval.payload,
        label=Label.POSITIVE if approved else Label.NEGATIVE,
        tags=["approval", "edited"] if (approved and edited) else ["approval"],
        source=ItemSource.APPROVAL,
        source_run=approval.run,
        source_approval=approval,
    )
