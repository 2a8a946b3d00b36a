"""Spend budgets per workspace and flow, and the daily spend counters the budget check reads."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class Period(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


class SpendBudget(models.Model):
    """A limit on what a workspace (or one of its flows) may spend on models per day or month.

    Past `alert_percent` a run that spends records a `budget.alert` event; a model call that
    could take the spend past `limit` is refused and its run fails with `budget_exceeded`.
    """

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="spend_budgets"
    )
    flow = models.ForeignKey(
        "builder.Flow",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="spend_budgets",
        help_text="Empty: the whole workspace.",
    )
    period = models.CharField(max_length=8, choices=Period.choices)
    limit = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal(10**7))],
    )
    alert_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["flow_id", "period"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "period"],
                condition=models.Q(flow__isnull=True),
                name="uniq_workspace_budget_period",
            ),
            models.UniqueConstraint(fields=["flow", "period"], name="uniq_flow_budget_period"),
        ]

    def __str__(self) -> str:
        period = "daily" if self.period == Period.DAY else "monthly"
        return f"{self.scope_label} {period} budget of ${self.limit.normalize():f}"

    @property
    def scope_label(self) -> str:
        return f"Flow “{self.flow.name}”" if self.flow_id else "Workspace"


class SpendDay(models.Model):
    """What one flow spent on one day: maintained in the transaction that records each step
    with a cost, so a budget check reads a few rows instead of summing every step."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="spend_days"
    )
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="spend_days")
    day = models.DateField()
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    saved = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "day"], name="uniq_spend_flow_day")]
        indexes = [models.Index(fields=["workspace", "day"])]

    def __str__(self) -> str:
        return f"{self.flow_id} on {self.day}: ${self.cost}"
