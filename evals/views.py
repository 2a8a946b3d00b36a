"""Pages: datasets (create, upload, grow), evaluation runs with live progress, comparison."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from builder.models import Flow
from config.domain import DomainError, Invalid
from runs.views.params import db_id, int_param
from workspaces.services import membership_for, workspaces_for

from . import datasets as data
from . import forms
from .compare import baseline_for, evaluations_compare
from .dispatch import drive
from .models import Dataset, Evaluation
from .scorers import SCORER_TYPES
from .services import (
    evaluation_cancel,
    evaluation_get,
    evaluation_needs_driver,
    evaluation_start,
    evaluation_summary,
    evaluations_visible_to,
)

ITEMS_SHOWN = 200


def _error_text(exc: DomainError) -> str:
    problems = [str(e) for e in exc.extra.get("errors") or []]
    return " ".join([str(exc.detail), *problems[:5]])


def _dataset(request: HttpRequest, dataset_id: int, permission: str = "read") -> Dataset:
    try:
        return data.dataset_get(
            user=request.user, dataset_id=db_id(dataset_id), permission=permission
        )
    except DomainError as exc:
        raise Http404("Dataset not found") from exc


def _forbidden() -> HttpResponse:
    return HttpResponse("Your role does not allow this.", status=403)


@login_required
@require_http_methods(["GET", "POST"])
def dataset_list(request: HttpRequest) -> HttpResponse:
    workspaces = list(workspaces_for(request.user).order_by("name", "pk"))
    error = ""
    if request.method == "POST":
        workspace_id = int_param(request.POST.get("workspace")) or (
            workspaces[0].pk if workspaces else None
        )
        if workspace_id not in {w.pk for w in workspaces}:
            raise Http404("Workspace not found")
        try:
            dataset = data.dataset_create(
                user=request.user,
                workspace_id=workspace_id,
                name=request.POST.get("name", "")[:200],
                description=request.POST.get("description", "")[:2000],
            )
        except DomainError as exc:
            if exc.code == "forbidden":
                return _forbidden()
            error = _error_text(exc)
        else:
            return redirect("evals:dataset", dataset.pk)
    datasets = (
        data.datasets_visible_to(request.user)
        .select_related("workspace")
        .annotate(item_total=Count("items"))
        .order_by("name", "pk")
    )
    recent = evaluations_visible_to(request.user).select_related("flow", "version", "dataset")[:10]
    editable = [
        w
        for w in workspaces
        if (m := membership_for(user=request.user, workspace_id=w.pk)) and m.can("edit")
    ]
    return render(
        request,
        "evals/datasets.html",
        {
            "nav": "evals",
            "datasets": [(d, d.item_total) for d in datasets[:200]],
            "recent": [(e, evaluation_summary(e)) for e in recent],
            "workspaces": editable,
            "error": error,
        },
        status=422 if error else 200,
    )


def _dataset_context(request: HttpRequest, dataset: Dataset, **extra: Any) -> dict[str, Any]:
    membership = membership_for(user=request.user, workspace_id=dataset.workspace_id)
    flows = Flow.objects.filter(workspace_id=dataset.workspace_id, deleted_at__isnull=True)
    flows = flows.prefetch_related("versions").order_by("name")
    evaluations = dataset.evaluations.select_related("flow", "version").order_by("-created_at")[:30]
    return {
        "nav": "evals",
        "dataset": dataset,
        "items": dataset.items.order_by("pk")[:ITEMS_SHOWN],
        "item_count": dataset.items.count(),
        "can_edit": membership is not None and membership.can("edit"),
        "can_run": membership is not None and membership.can("run"),
        "flows": flows,
        "evaluations": [(e, evaluation_summary(e)) for e in evaluations],
        "scorer_types": [(k, v) for k, v in SCORER_TYPES.items() if k != "flow_evaluators"],
        "start_form": forms.START_FORM,
        "grow_form": forms.GROW_FORM,
        **extra,
    }


@login_required
@require_GET
def dataset_detail(request: HttpRequest, dataset_id: int) -> HttpResponse:
    dataset = _dataset(request, dataset_id)
    context = _dataset_context(
        request,
        dataset,
        start_form=forms.form_kept(request, "start", dataset.pk),
        grow_form=forms.form_kept(request, "grow", dataset.pk),
    )
    return render(request, "evals/dataset.html", context)


def _editing(request: HttpRequest, dataset_id: int, permission: str = "edit"):
    dataset = _dataset(request, dataset_id)
    membership = membership_for(user=request.user, workspace_id=dataset.workspace_id)
    if membership is None or not membership.can(permission):
        return dataset, _forbidden()
    return dataset, None


@login_required
@require_POST
def dataset_upload_view(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """Add an uploaded file's rows, then redirect to the upload's report (Post/Redirect/Get: a
    reload shows the report again, it does not upload again). A file refused whole is answered
    in place, with the form."""
    dataset, refused = _editing(request, dataset_id)
    if refused:
        return refused
    upload = request.FILES.get("file")
    if upload is None:
        context = _dataset_context(request, dataset, upload_error="Choose a CSV or JSONL file.")
        return render(request, "evals/dataset.html", context, status=422)
    try:
        content = upload.read(data.MAX_UPLOAD_BYTES + 1)
        report = data.dataset_upload(
            user=request.user, dataset=dataset, filename=upload.name, content=content
        )
    except DomainError as exc:
        error = f"{upload.name} was not added: {_error_text(exc)}"
        context = _dataset_context(request, dataset, upload_error=error)
        return render(request, "evals/dataset.html", context, status=422)
    return redirect("evals:upload_report", dataset.pk, report.upload_id)


@login_required
@require_GET
def dataset_upload_report(request: HttpRequest, dataset_id: int, upload_id: int) -> HttpResponse:
    """The dataset page with the report of one of the viewer's own uploads to it."""
    dataset = _dataset(request, dataset_id)
    try:
        upload = data.dataset_upload_get(
            user=request.user, dataset=dataset, upload_id=db_id(upload_id)
        )
    except DomainError as exc:
        raise Http404("Upload not found") from exc
    return render(request, "evals/dataset.html", _dataset_context(request, dataset, upload=upload))


@login_required
@require_POST
def dataset_grow_view(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """Add items from decided approvals or past runs, then redirect to the dataset page, which
    says what was added (Post/Redirect/Get: reloading it adds nothing and says it once). A
    refused form comes back filled in, with the reason."""
    dataset, refused = _editing(request, dataset_id)
    if refused:
        return refused
    try:
        notice = _grow(request, dataset)
    except DomainError as exc:
        forms.form_keep(request, "grow", dataset.pk)
        messages.error(request, f"No items were added: {_error_text(exc)}", extra_tags="grow-error")
    else:
        messages.success(request, notice, extra_tags="dataset-notice")
    return redirect("evals:dataset", dataset.pk)


def _grow(request: HttpRequest, dataset: Dataset) -> str:
    """Grow the dataset as the form asks; the notice that says what was added."""
    raw_flow = request.POST.get("flow", "").strip()
    flow_id = int_param(raw_flow)
    if raw_flow and flow_id is None:
        raise Invalid("That flow is not in this dataset's workspace.", code="flow_not_found")
    source = request.POST.get("source", "approvals")
    if source == "approvals":
        added = data.dataset_grow_from_approvals(
            user=request.user, dataset=dataset, flow_id=flow_id
        )
        return f"Added {_items(added)} from decided approvals."
    if source != "runs":
        raise Invalid("Choose decided approvals or successful past runs.", code="invalid_source")
    report = data.dataset_grow_from_runs(
        user=request.user,
        dataset=dataset,
        flow_id=flow_id,
        limit=forms.grow_limit(request.POST.get("limit")),
    )
    flow = report.flow_name
    if report.added:
        return f"Added {_items(report.added)} from past runs of {flow}."
    if not report.found:
        return f"Added 0 items: {flow} has no successful runs yet."
    if report.found == 1:
        return f"Added 0 items: the latest successful run of {flow} is already in the dataset."
    return (
        f"Added 0 items: the latest {report.found:,} successful runs of {flow} are already "
        "in the dataset."
    )


def _items(count: int) -> str:
    return f"{count:,} item{'' if count == 1 else 's'}"


@login_required
@require_POST
def evaluation_start_view(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """Start an evaluation and redirect to it. A refused start redirects to the dataset page
    with the reason and the form as it was sent (Post/Redirect/Get either way)."""
    dataset, refused = _editing(request, dataset_id, "run")
    if refused:
        return refused
    flow = Flow.objects.filter(
        pk=int_param(request.POST.get("flow")) or 0, workspace_id=dataset.workspace_id
    ).first()
    if flow is None:
        return _start_refused(request, dataset, "Choose a flow to evaluate.")
    raw_version = request.POST.get("version", "draft")
    try:
        evaluation = evaluation_start(
            user=request.user,
            flow=flow,
            dataset=dataset,
            version=None if raw_version == "draft" else int_param(raw_version) or -1,
            use_draft=raw_version == "draft",
            scorers=forms.scorers_from(request.POST),
            concurrency=int_param(request.POST.get("concurrency")) or 4,
        )
    except DomainError as exc:
        return _start_refused(request, dataset, _error_text(exc))
    drive(evaluation.pk)
    return redirect("evals:evaluation", evaluation.pk)


def _start_refused(request: HttpRequest, dataset: Dataset, reason: str) -> HttpResponse:
    forms.form_keep(request, "start", dataset.pk)
    messages.error(request, f"The evaluation did not start: {reason}", extra_tags="start-error")
    return redirect("evals:dataset", dataset.pk)


def _evaluation(request: HttpRequest, evaluation_id: int) -> Evaluation:
    try:
        return evaluation_get(user=request.user, evaluation_id=db_id(evaluation_id))
    except DomainError as exc:
        raise Http404("Evaluation not found") from exc


def _evaluation_context(request: HttpRequest, evaluation: Evaluation) -> dict[str, Any]:
    if evaluation_needs_driver(evaluation):
        drive(evaluation.pk)  # its driver's process is gone: take over (progress is in the DB)
    baseline = baseline_for(evaluation)
    return {
        "nav": "evals",
        "evaluation": evaluation,
        "summary": evaluation_summary(evaluation),
        "items": evaluation.items.select_related("dataset_item", "run").order_by("position")[:500],
        "baseline": baseline,
    }


@login_required
@require_GET
def evaluation_detail(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = _evaluation(request, evaluation_id)
    return render(request, "evals/evaluation.html", _evaluation_context(request, evaluation))


@login_required
@require_GET
def evaluation_progress(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = _evaluation(request, evaluation_id)
    context = _evaluation_context(request, evaluation)
    return render(request, "evals/_evaluation_results.html", context)


@login_required
@require_POST
def evaluation_cancel_view(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = _evaluation(request, evaluation_id)
    try:
        evaluation_cancel(user=request.user, evaluation=evaluation)
    except DomainError:
        return _forbidden()
    return redirect("evals:evaluation", evaluation.pk)


@login_required
@require_GET
def evaluation_compare(request: HttpRequest) -> HttpResponse:
    left_id, right_id = int_param(request.GET.get("left")), int_param(request.GET.get("right"))
    if left_id is None or right_id is None:
        raise Http404("Choose two evaluations")
    left, right = _evaluation(request, left_id), _evaluation(request, right_id)
    comparison = evaluations_compare(left, right)
    return render(
        request,
        "evals/compare.html",
        {
            "nav": "evals",
            "c": comparison,
            "same_dataset": left.dataset_id == right.dataset_id,
            "pass_delta": (
                None
                if comparison.left_summary["pass_rate"] is None
                or comparison.right_summary["pass_rate"] is None
                else round(
                    (comparison.right_summary["pass_rate"] - comparison.left_summary["pass_rate"])
                    * 100,
                    1,
                )
            ),
            "cost_delta": _cost_change(comparison.left_summary, comparison.right_summary),
            "swap_url": f"{reverse('evals:compare')}?left={right.pk}&right={left.pk}",
        },
    )


def _cost_change(left: dict[str, Any], right: dict[str, Any]) -> float | None:
    """The right side's cost against the left's, in percent (−66.4: a 66.4% cut)."""
    before, after = float(left["cost"] or 0), float(right["cost"] or 0)
    if not before:
        return None
    return round((after - before) / before * 100, 1)
