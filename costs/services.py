"""Spend: record what steps cost, check budgets before a model call, and manage budgets.

The spend a budget counts is the recorded cost of steps. `spend_record` adds a step's cost to
its flow's row of the day (one upsert, in the transaction that records the step, and only for a
step that called a model). `SpendGuard` wraps a step's model port: before each call it reads the
budgets that apply with their spend so far (one query) and refuses a call whose worst case would
take a budget past its limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.domain import Invalid, NotAllowed, NotFound
from workspaces.services import PermissionDenied, require

from .models import Period, SpendBudget, SpendDay

ZERO = Decimal(0)
MONEY = DecimalField(max_digits=14, decimal_places=6)
# A reply's tokens are unknown before the call; its prompt is about four characters a token.
CHARS_PER_TOKEN = 4


def spend_record(
    *, workspace_id: int, flow_id: int, cost: Decimal, saved: Decimal, calls: int, day: date
) -> None:
    """Add a step's cost (and what the cache saved it) to its flow's spend of the day."""
    table = connection.ops.quote_name(SpendDay._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (workspace_id, flow_id, day, cost, saved, calls) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (flow_id, day) DO UPDATE SET "
            f"cost = {table}.cost + excluded.cost, saved = {table}.saved + excluded.saved, "
            f"calls = {table}.calls + excluded.calls",
            [workspace_id, flow_id, day, str(cost), str(saved), calls],
        )


def period_start(period: str, today: date) -> date:
    return today if period == Period.DAY else today.replace(day=1)


def budgets_with_spend(*, workspace_id: int, flow_id: int | None, today: date | None = None):
    """The budgets that apply to a flow (or every budget of the workspace, for None), each
    annotated with `spent` in its current period: one query."""
    today = today or timezone.localdate()
    month = today.replace(day=1)
    spend = (
        SpendDay.objects.filter(
            workspace_id=OuterRef("workspace_id"),
            # A workspace budget (no flow) counts every flow.
            flow_id=Coalesce(OuterRef("flow_id"), F("flow_id")),
        )
        .order_by()
        .values("workspace_id")
    )
    in_day = spend.filter(day=today).annotate(total=Sum("cost")).values("total")
    in_month = spend.filter(day__gte=month).annotate(total=Sum("cost")).values("total")
    budgets = SpendBudget.objects.filter(workspace_id=workspace_id)
    if flow_id is not None:
        budgets = budgets.filter(Q(flow__isnull=True) | Q(flow_id=flow_id))
    return budgets.annotate(
        spent_day=Coalesce(Subquery(in_day, output_field=MONEY), Value(ZERO), output_field=MONEY),
        spent_month=Coalesce(
            Subquery(in_month, output_field=MONEY), Value(ZERO), output_field=MONEY
        ),
    ).order_by("flow_id", "period")


@dataclass
class BudgetState:
    """A budget and what its period has spent so far."""

    budget: SpendBudget
    spent: Decimal

    @property
    def limit(self) -> Decimal:
        return self.budget.limit

    @property
    def percent(self) -> float:
        return float(self.spent / self.limit * 100) if self.limit else 0.0

    @property
    def alerting(self) -> bool:
        pct = self.budget.alert_percent
        return pct is not None and self.spent >= self.limit * pct / 100

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.limit

    @property
    def name(self) -> str:
        period = "daily" if self.budget.period == Period.DAY else "monthly"
        scope = "workspace's" if self.budget.flow_id is None else "flow's"
        return f"The {scope} {period} budget"


def budget_states(*, workspace_id: int, flow_id: int | None) -> list[BudgetState]:
    if not _has_budgets(workspace_id):
        return []
    return [
        BudgetState(b, b.spent_day if b.period == Period.DAY else b.spent_month)
        for b in budgets_with_spend(workspace_id=workspace_id, flow_id=flow_id)
    ]


def _has_budgets(workspace_id: int) -> bool:
    """One indexed probe before every model call. Most workspaces have no budget, and building
    the spend query (two subqueries per budget) costs more than a model step's other work
    (bench/versus_langgraph.py, prompt chain)."""
    table = connection.ops.quote_name(SpendBudget._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE workspace_id = %s LIMIT 1", [workspace_id])  # noqa: S608
        return cursor.fetchone() is not None


class BudgetExceeded(Exception):
    """A model call refused because it could take a spend budget past its limit."""

    code = "budget_exceeded"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _money(value: Decimal | float) -> str:
    amount = float(value)
    return f"${amount:,.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.4f}"


def call_estimate(kwargs: dict[str, Any], default_model: str) -> Decimal:
    """The most a call can cost: its prompt (estimated from its length) and a full reply."""
    from runs.llm.providers import configured_providers, resolve
    from runs.llm.response import LlmError

    try:
        target = resolve(kwargs.get("model") or default_model, configured_providers())
    except LlmError:
        return ZERO  # the call itself will fail with the reason
    if target.price is None:
        return ZERO
    sent = sum(len(str(m.get("content") or "")) for m in kwargs.get("messages") or [])
    if kwargs.get("tools"):
        sent += len(json.dumps(kwargs["tools"], default=str))
    tokens_in = sent // CHARS_PER_TOKEN + 1
    return Decimal(str(round(target.cost(tokens_in, int(kwargs.get("max_tokens") or 512)), 6)))


class SpendGuard:
    """A step's model port that checks the spend budgets before every call it passes on.

    `alerts` collects, per budget over its alert level, what the step's run should be told.
    """

    def __init__(self, llm: Any, *, workspace_id: int, flow_id: int, default_model: str) -> None:
        self.llm = llm
        self.workspace_id = workspace_id
        self.flow_id = flow_id
        self.default_model = default_model
        self.spent_here = ZERO  # this step's calls so far: not recorded yet
        self.alerts: dict[int, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        # Everything else a model port offers (its catalogue, …) is the wrapped port's.
        if name == "llm":
            raise AttributeError(name)
        return getattr(self.llm, name)

    def chat(self, **kwargs: Any) -> Any:
        states = budget_states(workspace_id=self.workspace_id, flow_id=self.flow_id)
        if states:
            estimate = call_estimate(kwargs, self.default_model)
            for state in states:
                state.spent += self.spent_here
                if state.spent + estimate > state.limit:
                    raise BudgetExceeded(self._refusal(state, estimate))
        response = self.llm.chat(**kwargs)
        cost = Decimal(str(round(float(response.cost or 0), 6)))
        self.spent_here += cost
        for state in states:
            state.spent += cost
            if state.alerting:
                self.alerts[state.budget.pk] = _alert(state)
        return response

    @staticmethod
    def _refusal(state: BudgetState, estimate: Decimal) -> str:
        when = "today" if state.budget.period == Period.DAY else "this month"
        text = (
            f"{state.name} of {_money(state.limit)} is used up: {_money(state.spent)} spent {when}"
        )
        if state.spent < state.limit:
            text += f", and this model call could cost up to {_money(estimate)}"
        return text + ". Raise the budget on the Costs page or wait for the next period."


def _alert(state: BudgetState) -> dict[str, Any]:
    return {
        "budget_id": state.budget.pk,
        "scope": "flow" if state.budget.flow_id else "workspace",
        "period": state.budget.period,
        "limit": float(state.limit),
        "spent": float(state.spent),
        "percent": round(state.percent, 1),
        "alert_percent": state.budget.alert_percent,
        "message": f"{state.name} is at {state.percent:.0f}% "
        f"({_money(state.spent)} of {_money(state.limit)}).",
    }


# ---- managing budgets --------------------------------------------------------------------------


def _require_manage(user, workspace_id: int) -> None:
    try:
        require(user=user, workspace_id=workspace_id, permission="manage")
    except PermissionDenied as exc:
        raise NotAllowed("Only the workspace's owners can change its budgets.") from exc


def budget_save(
    *,
    user,
    workspace_id: int,
    flow_id: int | None,
    period: str,
    limit: Any,
    alert_percent: Any = 80,
) -> SpendBudget:
    """Create or replace the budget of a workspace (or one of its flows) for a period."""
    from builder.models import Flow

    _require_manage(user, workspace_id)
    if period not in Period.values:
        raise Invalid("Choose a period: day or month.", code="invalid_budget")
    try:
        amount = Decimal(str(limit).strip().lstrip("$"))
    except (ArithmeticError, ValueError):
        raise Invalid("The limit must be an amount in dollars, like 25 or 2.50.") from None
    if not amount.is_finite() or amount <= 0 or amount > 10**7:
        raise Invalid("The limit must be more than $0 and at most $10,000,000.")
    amount = amount.quantize(Decimal("0.0001"))
    if amount <= 0:
        raise Invalid("The limit must be at least $0.0001.")
    alert = None
    if alert_percent not in (None, ""):
        try:
            alert = int(str(alert_percent).strip().rstrip("%"))
        except ValueError:
            raise Invalid("The alert level must be a whole percentage from 1 to 100.") from None
        if not 1 <= alert <= 100:
            raise Invalid("The alert level must be a whole percentage from 1 to 100.")
    if flow_id is not None and not Flow.objects.filter(pk=flow_id, workspace_id=workspace_id):
        raise NotFound("Flow not found")
    try:
        with transaction.atomic():
            budget, _ = SpendBudget.objects.update_or_create(
                workspace_id=workspace_id,
                flow_id=flow_id,
                period=period,
                defaults={"limit": amount, "alert_percent": alert},
                create_defaults={
                    "limit": amount,
                    "alert_percent": alert,
                    "created_by": user,
                },
            )
    except IntegrityError:
        raise Invalid("That budget was just changed by someone else; try again.") from None
    return budget


def budget_delete(*, user, workspace_id: int, budget_id: int) -> None:
    _require_manage(user, workspace_id)
    deleted, _ = SpendBudget.objects.filter(pk=budget_id, workspace_id=workspace_id).delete()
    if not deleted:
        raise NotFound("Budget not found")


def today_local(now: datetime | None = None) -> date:
    return timezone.localdate(now) if now is not None else timezone.localdate()
