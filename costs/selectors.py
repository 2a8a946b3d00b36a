"""Reads for the cost page: spend per day, flow, node and model, aggregated in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, FloatField, Q, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone

from builder.models import Flow
from runs.models import Step

PERIODS = {"7d": ("Last 7 days", 7), "30d": ("Last 30 days", 30), "90d": ("Last 90 days", 90)}
PERIOD_MONTH = "month"
DEFAULT_PERIOD = "30d"


@dataclass
class SpendWindow:
    """The days a cost page covers."""

    key: str
    label: str
    days: list[date] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.days[0], time.min, tzinfo=timezone.get_current_timezone())

    @property
    def end(self) -> datetime:
        after = self.days[-1] + timedelta(days=1)
        return datetime.combine(after, time.min, tzinfo=timezone.get_current_timezone())


def spend_window(key: str, today: date | None = None) -> SpendWindow:
    today = today or timezone.localdate()
    if key == PERIOD_MONTH:
        start = today.replace(day=1)
        label = "This month"
    else:
        key = key if key in PERIODS else DEFAULT_PERIOD
        label, count = PERIODS[key]
        start = today - timedelta(days=count - 1)
    days = [start + timedelta(days=i) for i in range((today - start).days + 1)]
    return SpendWindow(key, label, days)


def model_steps(*, workspace_id: int, window: SpendWindow) -> QuerySet[Step]:
    """Steps that called a model in the window (copied steps of a re-run spent nothing)."""
    return (
        Step.objects.filter(
            run__workspace_id=workspace_id,
            created_at__gte=window.start,
            created_at__lt=window.end,
            reused=False,
        )
        .exclude(model="")
        .order_by()
    )


def _measures() -> dict[str, Any]:
    return {
        "cost": Coalesce(Sum("cost"), Decimal(0)),
        "calls": Count("id"),
        "tokens_in": Coalesce(Sum("tokens_in"), 0),
        "tokens_out": Coalesce(Sum("tokens_out"), 0),
        "cache_hits": Count("id", filter=Q(cache_hit=True)),
        "saved": Coalesce(Sum(Cast(KT("details__cache_saved_cost"), FloatField())), 0.0),
    }


def spend_totals(steps: QuerySet[Step]) -> dict[str, Any]:
    return steps.aggregate(**_measures())


def spend_by_day(steps: QuerySet[Step]) -> list[dict[str, Any]]:
    tz = timezone.get_current_timezone()
    return list(
        steps.annotate(day=TruncDate("created_at", tzinfo=tz), flow_id=F("run__flow_id"))
        .values("day", "flow_id")
        .annotate(cost=Sum("cost"))
        .order_by("day")
    )


def spend_by_flow(steps: QuerySet[Step]) -> list[dict[str, Any]]:
    return list(
        steps.annotate(flow_id=F("run__flow_id"))
        .values("flow_id")
        .annotate(**_measures())
        .order_by("-cost", "flow_id")
    )


def spend_by_node(steps: QuerySet[Step], limit: int = 50) -> list[dict[str, Any]]:
    return list(
        steps.annotate(flow_id=F("run__flow_id"))
        .values("flow_id", "node_id")
        .annotate(**_measures())
        .order_by("-cost", "flow_id", "node_id")[:limit]
    )


def spend_by_model(steps: QuerySet[Step]) -> list[dict[str, Any]]:
    return list(steps.values("model").annotate(**_measures()).order_by("-cost", "model"))


def spend_export_rows(steps: QuerySet[Step]) -> QuerySet:
    """One row per day, flow, node and model: what the CSV export holds."""
    tz = timezone.get_current_timezone()
    return (
        steps.annotate(day=TruncDate("created_at", tzinfo=tz), flow_name=F("run__flow__name"))
        .values("day", "run__flow_id", "flow_name", "node_id", "model")
        .annotate(**_measures())
        .order_by("day", "flow_name", "node_id", "model")
    )


def flow_names(flow_ids: set[int]) -> dict[int, str]:
    return dict(Flow.objects.filter(pk__in=flow_ids).values_list("pk", "name"))
