"""The cost page: where the money goes (per day, flow, node, model), cache savings, budgets,
and a CSV export. Every figure is aggregated in the database."""

from __future__ import annotations

import csv
import heapq
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from builder.models import Flow
from config.domain import DomainError
from runs.views.charts import spend_chart
from runs.views.params import int_param
from workspaces.models import Workspace
from workspaces.services import membership_for, workspaces_for

from . import selectors
from .models import Period
from .services import budget_delete, budget_save, budget_states


def _workspace(request: HttpRequest, raw: str | None) -> Workspace | None:
    """The workspace asked for (a foreign one is a 404), else the user's first."""
    mine = workspaces_for(request.user).order_by("name", "pk")
    if raw:
        workspace_id = int_param(raw)
        found = mine.filter(pk=workspace_id).first() if workspace_id else None
        if found is None:
            raise Http404("Workspace not found")
        return found
    return mine.first()


def _page_url(workspace: Workspace, period: str) -> str:
    return f"{reverse('costs:page')}?workspace={workspace.pk}&period={period}"


def _named(rows: list[dict[str, Any]], names: dict[int, str]) -> list[dict[str, Any]]:
    for row in rows:
        row["flow_name"] = names.get(row.get("flow_id"), f"Flow {row.get('flow_id')}")
    return rows


@login_required
@require_GET
def cost_page(request: HttpRequest) -> HttpResponse:
    workspace = _workspace(request, request.GET.get("workspace"))
    if workspace is None:
        return render(request, "costs/costs.html", {"nav": "costs", "workspace": None})
    window = selectors.spend_window(request.GET.get("period", ""))
    steps = selectors.model_steps(workspace_id=workspace.pk, window=window)
    judges = selectors.judge_calls(workspace_id=workspace.pk, window=window)
    totals = selectors.spend_totals(steps, judges)
    by_day = selectors.spend_by_day(steps, judges)
    by_flow = selectors.spend_by_flow(steps, judges)
    by_node = selectors.spend_by_node(steps, judges)
    by_model = selectors.spend_by_model(steps, judges)
    spent = totals["calls"] or totals["judge_calls"]
    names = selectors.flow_names({row["flow_id"] for row in by_flow})
    membership = membership_for(user=request.user, workspace_id=workspace.pk)
    budgets = budget_states(workspace_id=workspace.pk, flow_id=None)
    context = {
        "nav": "costs",
        "workspace": workspace,
        "workspaces": list(workspaces_for(request.user).order_by("name", "pk")),
        "window": window,
        "periods": [(key, label) for key, (label, _) in selectors.PERIODS.items()]
        + [(selectors.PERIOD_MONTH, "This month")],
        "totals": totals,
        "chart": spend_chart(by_day, days=window.days, names=names) if spent else None,
        "savings": [
            day
            for day in selectors.savings_by_day(by_day, window.days)
            if day["cost"] or day["saved"] or day["routing_saved"]
        ],
        "by_flow": _named(by_flow, names),
        "by_node": _named(by_node, names),
        "by_model": by_model,
        "budgets": budgets,
        "alerting": [b for b in budgets if b.alerting or b.exhausted],
        "can_manage": membership is not None and membership.can("manage"),
        "flows": Flow.objects.filter(workspace=workspace, deleted_at__isnull=True).order_by("name"),
        "budget_periods": Period.choices,
        "export_url": f"{reverse('costs:export')}?workspace={workspace.pk}&period={window.key}",
    }
    return render(request, "costs/costs.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _money(value: Any) -> str:
    return f"{Decimal(str(value or 0)):.6f}"


@login_required
@require_GET
def cost_export(request: HttpRequest) -> HttpResponse:
    """The window's spend as CSV: one line per day, flow, node and model."""
    workspace = _workspace(request, request.GET.get("workspace"))
    if workspace is None:
        raise Http404("No workspace")
    window = selectors.spend_window(request.GET.get("period", ""))
    rows = selectors.spend_export_rows(
        selectors.model_steps(workspace_id=workspace.pk, window=window)
    )
    judged = selectors.judge_export_rows(
        selectors.judge_calls(workspace_id=workspace.pk, window=window)
    )
    writer = csv.writer(_Echo())
    header = ["day", "flow_id", "flow", "node", "model", "calls", "tokens_in", "tokens_out"]
    header += ["cost_usd", "cache_hits", "cache_saved_usd"]
    header += ["routed_calls", "strongest_model_usd", "routing_saved_usd"]

    def judge_lines():
        for row in judged.iterator(chunk_size=500):
            yield {
                **row,
                "run__flow_id": row["flow_id"],
                "node_id": selectors.JUDGE_NODE,
                "cache_hits": 0,
                "saved": 0,
                "routed": 0,
                "strongest_cost": 0,
                "routing_saved": 0,
            }

    def lines():
        yield writer.writerow(header)
        merged = heapq.merge(
            rows.iterator(chunk_size=500), judge_lines(), key=lambda row: row["day"]
        )
        for row in merged:
            yield writer.writerow(
                [
                    row["day"].isoformat(),
                    row["run__flow_id"],
                    _safe_cell(row["flow_name"]),
                    _safe_cell(row["node_id"]),
                    _safe_cell(row["model"]),
                    row["calls"],
                    row["tokens_in"],
                    row["tokens_out"],
                    _money(row["cost"]),
                    row["cache_hits"],
                    _money(row["saved"]),
                    row["routed"],
                    _money(row["strongest_cost"]),
                    _money(row["routing_saved"]),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"switchboard-costs-{workspace.slug}-{window.days[0]}-{window.days[-1]}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _safe_cell(value: str) -> str:
    """Keep a spreadsheet from reading a name as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@login_required
@require_POST
def budget_save_view(request: HttpRequest) -> HttpResponse:
    workspace = _workspace(request, request.POST.get("workspace"))
    if workspace is None:
        raise Http404("No workspace")
    period = request.POST.get("return_period", "")
    raw_flow = request.POST.get("flow", "").strip()
    flow_id = int_param(raw_flow) if raw_flow else None
    if raw_flow and flow_id is None:
        raise Http404("Flow not found")
    try:
        budget = budget_save(
            user=request.user,
            workspace_id=workspace.pk,
            flow_id=flow_id,
            period=request.POST.get("period", ""),
            limit=request.POST.get("limit", "")[:40],
            alert_percent=request.POST.get("alert_percent", "")[:10],
        )
    except DomainError as exc:
        if exc.code == "forbidden":
            return HttpResponse(str(exc.detail), status=403)
        if exc.code == "not_found":
            raise Http404(str(exc.detail)) from None
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, f"Saved: {budget}.")
    return redirect(_page_url(workspace, period) + "#budgets")


@login_required
@require_POST
def budget_delete_view(request: HttpRequest, budget_id: int) -> HttpResponse:
    workspace = _workspace(request, request.POST.get("workspace"))
    if workspace is None:
        raise Http404("No workspace")
    try:
        budget_delete(user=request.user, workspace_id=workspace.pk, budget_id=budget_id)
    except DomainError as exc:
        if exc.code == "forbidden":
            return HttpResponse(str(exc.detail), status=403)
        raise Http404(str(exc.detail)) from None
    messages.success(request, "Budget removed.")
    return redirect(_page_url(workspace, request.POST.get("return_period", "")) + "#budgets")
