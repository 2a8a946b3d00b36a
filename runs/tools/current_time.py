"""The `current_time` tool: today's date and time in a given time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from .base import Tool, ToolContext, ToolError

# Fixed English names: strftime("%A") would follow the server's locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _now() -> datetime:
    now = timezone.now()
    return now if timezone.is_aware(now) else datetime.now(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ToolError(
            "invalid_arguments",
            f"“{name[:64]}” is not a known time zone; use an IANA name like Europe/Paris or UTC.",
        ) from None


def current_time(arguments: dict, context: ToolContext) -> dict[str, str]:
    """Return the current moment in the time zone, as ISO text and its parts."""
    name = arguments.get("timezone") or "UTC"
    now = _now().astimezone(_zone(name))
    return {
        "iso": now.isoformat(timespec="seconds"),
        "date": now.date().isoformat(),
        "time": now.strftime("%H:%M:%S"),
        "weekday": WEEKDAYS[now.weekday()],
        "timezone": name,
        "utc_offset": _offset(now),
    }


def _offset(moment: datetime) -> str:
    minutes = round((moment.utcoffset() or timedelta()).total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


TOOL = Tool(
    name="current_time",
    description="Get the current date, time and weekday in a time zone (IANA name, default UTC).",
    parameters={
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "default": "UTC",
                "description": "An IANA time zone such as Europe/Paris or America/New_York.",
            }
        },
        "additionalProperties": False,
    },
    func=current_time,
    result_schema={
        "type": "object",
        "properties": {
            "iso": {"type": "string", "description": "e.g. 2026-03-01T09:30:00+01:00"},
            "date": {"type": "string", "description": "e.g. 2026-03-01"},
            "time": {"type": "string", "description": "e.g. 09:30:00"},
            "weekday": {"type": "string", "description": "e.g. Sunday"},
            "timezone": {"type": "string"},
            "utc_offset": {"type": "string", "description": "e.g. +01:00"},
        },
        "required": ["iso", "date", "time", "weekday", "timezone", "utc_offset"],
        "additionalProperties": False,
    },
)
