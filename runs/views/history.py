"""Run history: every run I may see, filtered by flow, status, person and date, with a chart.

`/runs/?flow=<id>` is a flow's own history. Filters that make no sense are dropped with a
notice; a flow outside the user's workspaces is a 404, like every other foreign id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from builder.models import Flow
from runs import selectors
from runs.models import Run, RunStatus

from .charts import daily_charts
from .params import MAX_PARAM_CHARS, date_param, int_param

PAGE_SIZE = 25
CHART_DAYS = 14
MAX_CHART_DAYS = 92


@dataclass
class HistoryFilters:
    flow: Flow | None = None
    status: str = ""
    person: str = ""
    since: date | None = None
    until: date | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.flow or self.status or self.person or self.since or self.until)

    def query(self, **extra: Any) -> str:
        """The filters as a query string (for pagination and links)."""
        params = {
            "flow": self.flow.pk if self.flow else "",
            "status": self.status,
            "person": self.person,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            **extra,
        }
        return urlencode({k: v for k, v in params.items() if v not in ("", None)})


def _flows_of(user) -> QuerySet[Flow]:
    """Flows in the user's workspaces, deleted ones included (their runs stay readable)."""
    return Flow.objects.filter(workspace__memberships__user=user).select_related("workspace")


def _parse(request: HttpRequest) -> HistoryFilters:
    params = request.GET
    filters = HistoryFilters()
    raw_flow = params.get("flow", "").strip()
    if raw_flow:
        flow_id = int_param(raw_flow)
        if flow_id is None:
            filters.notices.append("Showing every flow: the flow in the address is not valid.")
        else:
            filters.flow = _flows_of(request.user).filter(pk=flow_id).first()
            if filters.flow is None:
                raise Http404("Flow not found")
    status = params.get("status", "").strip()
    if status in RunStatus.values:
        filters.status = status
    elif status:
        filters.notices.append(f"Showing every status: “{status[:40]}” is not a run status.")
    filters.person = params.get("person", "").strip()[:150]
    for name in ("since", "until"):
        raw = params.get(name, "")
        try:
            setattr(filters, name, date_param(raw))
        except ValueError:
            label = "From" if name == "since" else "To"
            filters.notices.append(
                f"Ignored the “{label}” date “{raw.strip()[:40]}”: use a date like 2025-03-14."
            )
    if filters.since and filters.until and filters.since > filters.until:
        filters.notices.append("The “From” date is after the “To” date, so no run can match.")
    return filters


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _end_of(day: date) -> datetime | None:
    """The instant after `day` ends (None past the calendar's last day: no upper bound)."""
    return _start_of(day + timedelta(days=1)) if day < date.max else None


def _runs(user, filters: HistoryFilters) -> QuerySet[Run]:
    return selectors.run_list(
        user=user,
        flow=filters.flow.pk if filters.flow else None,
        status=[filters.status] if filters.status else None,
        created_by=filters.person or None,
        since=_start_of(filters.since) if filters.since else None,
        until=_end_of(filters.until) if filters.until else None,
    ).select_related("workspace", "parent_run")


def _chart_days(filters: HistoryFilters) -> list[date]:
    """The days the chart covers: the filtered dates, else the last two weeks (92 days at most)."""
    today = timezone.localdate()
    end = min(filters.until or today, max(today, filters.since or today))
    start = filters.since or _days_before(end, CHART_DAYS - 1)
    start = max(min(start, end), _days_before(end, MAX_CHART_DAYS - 1))
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _days_before(day: date, days: int) -> date:
    return day - timedelta(days=days) if (day - date.min).days >= days else date.min


def _chart(runs: QuerySet[Run], days: list[date]) -> dict[str, Any]:
    until = _end_of(days[-1])
    in_range = runs.filter(created_at__gte=_start_of(days[0]))
    if until is not None:
        in_range = in_range.filter(created_at__lt=until)
    rows = list(
        in_range.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "flow_id")
        .annotate(runs=Count("id"), cost=Sum("cost"))
    )
    names = dict(
        Flow.objects.filter(pk__in={row["flow_id"] for row in rows}).values_list("pk", "name")
    )
    return daily_charts(rows, days=days, names=names)


def _people(user) -> list[str]:
    workspaces = selectors.workspace_ids_for(user)
    people = (
        get_user_model()
        .objects.filter(memberships__workspace_id__in=workspaces)
        .distinct()
        .order_by("username")
        .values_list("username", flat=True)
    )
    return list(people[:200])


def _flow_options(user, selected: Flow | None) -> QuerySet[Flow]:
    options = _flows_of(user).filter(Q(deleted_at__isnull=True) | Q(runs__isnull=False))
    if selected is not None:
        options = options | _flows_of(user).filter(pk=selected.pk)
    return options.distinct().order_by("workspace__name", "name")


@login_required
@require_GET
def run_history(request: HttpRequest) -> HttpResponse:
    filters = _parse(request)
    runs = _runs(request.user, filters)
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    days = _chart_days(filters)
    has_any = page.paginator.count > 0 or selectors.runs_visible_to(request.user).exists()
    workspaces = selectors.workspace_ids_for(request.user)
    context = {
        "nav": "runs",
        "filters": filters,
        "page": page,
        "chart": _chart(runs, days) if has_any else None,
        "chart_days": days,
        "has_any": has_any,
        "statuses": RunStatus.choices,
        "people": _people(request.user),
        "flows": _flow_options(request.user, filters.flow),
        "many_workspaces": len(workspaces) > 1,
        "base_query": filters.query(),
        "max_param": MAX_PARAM_CHARS,
    }
    return render(request, "runs/history.html", context)
