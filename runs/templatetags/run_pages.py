"""Template helpers of the run pages: the navigation's approvals count, money and durations."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone

from runs.views import deadlines
from runs.views.charts import money

register = template.Library()


@register.inclusion_tag("runs/_approvals_badge.html", takes_context=True)
def approvals_badge(context: template.Context) -> dict[str, Any]:
    """The count of approvals waiting on the signed-in person, refreshed live by htmx."""
    from runs.views.inbox import approvals_waiting_on

    request = context.get("request")
    user = getattr(request, "user", None)
    count = approvals_waiting_on(user).count() if user is not None and user.is_authenticated else 0
    return {"count": count}


@register.filter
def usd(value: float | Decimal | None) -> str:
    return "—" if value is None else money(value)


@register.filter
def usd_abs(value: float | Decimal | None) -> str:
    return "—" if value is None else money(abs(float(value)))


@register.filter
def usd_delta(value: float | Decimal | None) -> str:
    """A signed cost difference: "+$0.02", "−$0.0011", or "no change"."""
    if value is None:
        return "—"
    if float(value) == 0:
        return "no change"
    text = money(value)
    return text if float(value) < 0 else f"+{text}"


@register.filter
def duration_ms(value: int | float | None) -> str:
    """Milliseconds as a person reads them: 850 ms, 1.2 s, 2 min 5 s, 1 h 3 min."""
    if value is None:
        return "—"
    ms = float(value)
    sign = "−" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{sign}{seconds:.1f} s".replace(".0 s", " s")
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{sign}{minutes} min {seconds} s" if seconds else f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours} h {minutes} min" if minutes else f"{sign}{hours} h"


@register.filter
def duration_delta(value: int | float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "no change"
    text = duration_ms(value)
    return text if value < 0 else f"+{text}"


@register.filter
def count_delta(value: int | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "no change"
    return f"+{value:,}" if value > 0 else f"−{abs(value):,}"


@register.filter
def ago(value: datetime | None) -> str:
    """ "3 min ago", "just now", or the date for anything older than a week."""
    if value is None:
        return "—"
    seconds = (timezone.now() - value).total_seconds()
    if seconds < 0:
        return _until(-seconds)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h ago"
    if seconds < 7 * 86400:
        days = round(seconds / 86400)
        return "yesterday" if days == 1 else f"{days} days ago"
    return value.strftime("%b ") + str(value.day) + value.strftime(", %Y")


def _until(seconds: float) -> str:
    if seconds < 3600:
        return f"in {max(1, round(seconds / 60))} min"
    if seconds < 86400:
        return f"in {round(seconds / 3600)} h"
    return f"in {round(seconds / 86400)} days"


@register.filter
def number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


@register.filter
def run_duration(run: Any) -> str:
    """How long a run took, or has been going for ("running 12 s")."""
    if run.started_at is None:
        return "—"
    if run.finished_at is not None:
        return duration_ms((run.finished_at - run.started_at).total_seconds() * 1000)
    if run.status == "waiting":
        return "waiting"
    return "running " + duration_ms((timezone.now() - run.started_at).total_seconds() * 1000)


@register.filter
def expiry_note(approval: Any, error_path: bool | None = None) -> str:
    """ "expires in 2 h, then fails the run" for a pending task with a timeout ("" without)."""
    return deadlines.expiry_note(approval, error_path if isinstance(error_path, bool) else None)


@register.filter
def reminder_note(approval: Any) -> str:
    """ "reminder sent 40 min ago", "reminder in 3 h" ("" without a reminder)."""
    return deadlines.reminder_note(approval)
