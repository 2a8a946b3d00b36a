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
from evals.models import JudgeCall
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
        # Auto-routed steps: what their answers would have cost on the strongest allowed model,
        # and that less what they cost (cascade attempts included) and the cache saved them.
        "routed": Count("id", filter=Q(details__has_key="routing_saved_cost")),
        "strongest_cost": Coalesce(
            Sum(Cast(KT("details__routing_strongest_cost"), FloatField())), 0.0
        ),
        "routing_saved": Coalesce(Sum(Cast(KT("details__routing_saved_cost"), FloatField())), 0.0),
    }


# What an evaluation's LLM-judge calls add to a row: they are no steps, but they spent.
JUDGE_NODE = "evaluation judge"


def judge_calls(*, workspace_id: int, window: SpendWindow) -> QuerySet[JudgeCall]:
    """The LLM-judge calls of evaluations in the window (counted in budgets like steps)."""
    return JudgeCall.objects.filter(
        workspace_id=workspace_id, created_at__gte=window.start, created_at__lt=window.end
    ).order_by()


def _judge_measures() -> dict[str, Any]:
    return {
        "cost": Coalesce(Sum("cost"), Decimal(0)),
        "calls": Count("id"),
        "tokens_in": Coalesce(Sum("tokens_in"), 0),
        "tokens_out": Coalesce(Sum("tokens_out"), 0),
    }


def _blank() -> dict[str, Any]:
    return {"cache_hits": 0, "saved": 0.0, "routed": 0, "strongest_cost": 0.0, "routing_saved": 0.0}


def _merge(rows: list[dict[str, Any]], extra: list[dict[str, Any]], key: tuple[str, ...]):
    """Add the judge calls' rows to the steps' rows with the same key (new rows for others),
    biggest spend first."""
    index = {tuple(row[k] for k in key): row for row in rows}
    for more in extra:
        row = index.get(tuple(more[k] for k in key))
        if row is None:
            row = index[tuple(more[k] for k in key)] = {**_blank(), **more}
            rows.append(row)
            continue
        for measure in ("cost", "calls", "tokens_in", "tokens_out"):
            row[measure] += more[measure]
    rows.sort(key=lambda r: (-(r["cost"] or 0), *(str(r[k]) for k in key)))
    return rows


def spend_totals(
    steps: QuerySet[Step], judges: QuerySet[JudgeCall] | None = None
) -> dict[str, Any]:
    totals = steps.aggregate(**_measures())
    judged = judges.aggregate(**_judge_measures()) if judges is not None else None
    totals["judge_calls"] = judged["calls"] if judged else 0
    totals["judge_cost"] = judged["cost"] if judged else Decimal(0)
    if judged:
        totals["cost"] += judged["cost"]
        totals["tokens_in"] += judged["tokens_in"]
        totals["tokens_out"] += judged["tokens_out"]
    return totals


def _days(rows: QuerySet, measures: dict[str, Any], flow: str) -> list[dict[str, Any]]:
    tz = timezone.get_current_timezone()
    return list(
        rows.annotate(day=TruncDate("created_at", tzinfo=tz), flow_ref=F(flow))
        .values("day", "flow_ref")
        .annotate(**measures)
        .order_by("day")
    )


def spend_by_day(
    steps: QuerySet[Step], judges: QuerySet[JudgeCall] | None = None
) -> list[dict[str, Any]]:
    """Spend per day and flow, with what routing and the cache saved that day."""
    measures = {
        "cost": Sum("cost"),
        "saved": Coalesce(Sum(Cast(KT("details__cache_saved_cost"), FloatField())), 0.0),
        "routing_saved": Coalesce(Sum(Cast(KT("details__routing_saved_cost"), FloatField())), 0.0),
    }
    rows = _days(steps, measures, "run__flow_id")
    if judges is not None:
        rows += _days(judges, {"cost": Sum("cost")}, "flow_id")
    for row in rows:
        row["flow_id"] = row.pop("flow_ref")
    return sorted(rows, key=lambda r: r["day"])


def savings_by_day(rows: list[dict[str, Any]], days: list[date]) -> list[dict[str, Any]]:
    """Per day of the window: spend, and what routing and the cache saved."""
    found = {day: {"day": day, "cost": 0.0, "saved": 0.0, "routing_saved": 0.0} for day in days}
    for row in rows:
        day = found.get(row["day"])
        if day is not None:
            day["cost"] += float(row["cost"] or 0)
            day["saved"] += float(row.get("saved") or 0)
            day["routing_saved"] += float(row.get("routing_saved") or 0)
    return list(found.values())


def spend_by_flow(
    steps: QuerySet[Step], judges: QuerySet[JudgeCall] | None = None
) -> list[dict[str, Any]]:
    rows = list(
        steps.annotate(flow_id=F("run__flow_id"))
        .values("flow_id")
        .annotate(**_measures())
        .order_by("-cost", "flow_id")
    )
    if judges is None:
        return rows
    extra = list(judges.values("flow_id").annotate(**_judge_measures()))
    return _merge(rows, extra, ("flow_id",))


def spend_by_node(
    steps: QuerySet[Step], judges: QuerySet[JudgeCall] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    rows = list(
        steps.annotate(flow_id=F("run__flow_id"))
        .values("flow_id", "node_id")
        .annotate(**_measures())
        .order_by("-cost", "flow_id", "node_id")[:limit]
    )
    if judges is not None:
        extra = list(judges.values("flow_id").annotate(**_judge_measures()))
        rows = _merge(rows, [{**r, "node_id": JUDGE_NODE} for r in extra], ("flow_id", "node_id"))
    return rows[:limit]


def spend_by_model(
    steps: QuerySet[Step], judges: QuerySet[JudgeCall] | None = None
) -> list[dict[str, Any]]:
    rows = list(steps.values("model").annotate(**_measures()).order_by("-cost", "model"))
    if judges is None:
        return rows
    return _merge(rows, list(judges.values("model").annotate(**_judge_measures())), ("model",))


def spend_export_rows(steps: QuerySet[Step]) -> QuerySet:
    """One row per day, flow, node and model: what the CSV export holds."""
    tz = timezone.get_current_timezone()
    return (
        steps.annotate(day=TruncDate("created_at", tzinfo=tz), flow_name=F("run__flow__name"))
        .values("day", "run__flow_id", "flow_name", "node_id", "model")
        .annotate(**_measures())
        .order_by("day", "flow_name", "node_id", "model")
    )


def judge_export_rows(judges: QuerySet[JudgeCall]) -> QuerySet:
    """The judge calls' lines of the CSV export: per day, flow and model."""
    tz = timezone.get_current_timezone()
    return (
        judges.annotate(day=TruncDate("created_at", tzinfo=tz), flow_name=F("flow__name"))
        .values("day", "flow_id", "flow_name", "model")
        .annotate(**_judge_measures())
        .order_by("day", "flow_name", "model")
    )


def flow_names(flow_ids: set[int]) -> dict[int, str]:
    return dict(Flow.objects.filter(pk__in=flow_ids).values_list("pk", "name"))
