"""What the inbox says about a task's deadline and reminder, in words: "expires in 2 h, then
fails the run", "reminder sent 40 min ago"."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from runs.models import Approval, ApprovalKind, ApprovalStatus

APPROVAL_THEN = {
    "approved": "then it is approved automatically",
    "rejected": "then it is rejected automatically",
}


def _relative(value: datetime, now: datetime) -> str:
    """ "in 2 h", "in 5 min", "in 3 days", or "40 min ago" for a past time."""
    seconds = (value - now).total_seconds()
    if -45 < seconds < 0:
        return "just now"
    span = _span(abs(seconds))
    return f"{span} ago" if seconds < 0 else f"in {span}"


def _span(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours = round(seconds / 3600)
    if hours < 24:
        return f"{hours} h"
    return _days(seconds)


def _days(seconds: float) -> str:
    days = round(seconds / 86400)
    return "1 day" if days == 1 else f"{days} days"


def _fallback_then(approval: Approval, error_path: bool | None) -> str:
    if approval.timeout_action == "branch":
        return "fails the step as timed out, down its Error path"
    if error_path is None:
        return "fails the step"
    return "fails the step, down its Error path" if error_path else "fails the run"


def expiry_note(
    approval: Approval, error_path: bool | None = None, now: datetime | None = None
) -> str:
    """When a pending task or approval expires and what happens then ("" when it never does).

    `error_path`: whether the failed step's Error port is connected (None: not known here)."""
    if approval.status != ApprovalStatus.PENDING or approval.due_at is None:
        return ""
    now = now or timezone.now()
    when = _relative(approval.due_at, now)
    if approval.kind == ApprovalKind.FALLBACK:
        then = _fallback_then(approval, error_path)
        if approval.due_at <= now:
            return f"expired {when}: {then} at the next check"
        return f"expires {when}, then {then}"
    then = APPROVAL_THEN.get(approval.timeout_action, "then it times out")
    if approval.due_at <= now:
        return f"expired {when}: {then.removeprefix('then ')} at the next check"
    return f"due {when}, {then}"


def reminder_note(approval: Approval, now: datetime | None = None) -> str:
    """Whether the assignees were reminded, or when they will be ("" without a reminder)."""
    now = now or timezone.now()
    if approval.reminded_at is not None:
        return f"reminder sent {_relative(approval.reminded_at, now)}"
    if approval.status != ApprovalStatus.PENDING or approval.remind_at is None:
        return ""
    if approval.remind_at <= now:
        return "reminder being sent"
    return f"reminder {_relative(approval.remind_at, now)}"
