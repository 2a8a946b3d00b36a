"""Cron expressions: parse, describe and step through them in a time zone (croniter)."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterError, croniter

from config.domain import Invalid

logger = logging.getLogger(__name__)

# A schedule firing more often than this would be a load test, not a schedule.
MIN_INTERVAL_SECONDS = 60


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"“{name[:64]}” is not a time zone. Pick one such as Europe/Paris or UTC.",
            code="invalid_timezone",
            field="timezone",
        ) from None


def timezones() -> list[str]:
    return sorted(available_timezones() - {"localtime"})


def check(expression: str, tz_name: str) -> None:
    """Raise Invalid with a plain reason unless `expression` is a usable 5-field cron."""
    expression = expression.strip()
    if len(expression.split()) != 5:
        raise Invalid(
            "A schedule has five fields: minute hour day-of-month month day-of-week "
            "(for example “0 9 * * 1-5” for 09:00 on weekdays).",
            code="invalid_cron",
            field="cron",
        )
    tz = zone(tz_name)
    try:
        it = croniter(expression, datetime.now(tz))
        first = it.get_next(datetime)
        second = it.get_next(datetime)
    except (CroniterError, ValueError, KeyError) as exc:
        logger.info("Refused cron %r: %s", expression[:120], exc)
        raise Invalid(
            f"“{expression[:120]}” can't be read as a schedule. Each field takes a number, a "
            "range (1-5), a list (1,15), a step (*/10) or *: minute 0–59, hour 0–23, day of "
            "month 1–31, month 1–12 or jan–dec, day of week 0–6 or sun–sat.",
            code="invalid_cron",
            field="cron",
        ) from None
    if (second - first).total_seconds() < MIN_INTERVAL_SECONDS:
        raise Invalid(
            "A schedule can fire at most once a minute.", code="invalid_cron", field="cron"
        )


def next_after(expression: str, tz_name: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the expression names (aware, in UTC)."""
    tz = zone(tz_name)
    nxt = croniter(expression.strip(), after.astimezone(tz)).get_next(datetime)
    return nxt.astimezone(ZoneInfo("UTC"))


def upcoming(expression: str, tz_name: str, after: datetime, count: int = 3) -> list[datetime]:
    tz = zone(tz_name)
    it = croniter(expression.strip(), after.astimezone(tz))
    return [it.get_next(datetime) for _ in range(count)]
