"""Reading query strings and path ids defensively: a bad value is a notice or a 404, never a 500."""

from __future__ import annotations

from datetime import date

from django.http import Http404

from config.schemas import MAX_DB_ID

MAX_PARAM_CHARS = 200


def db_id(value: int) -> int:
    """A path id that can exist in the database, else 404."""
    if not 0 < value <= MAX_DB_ID:
        raise Http404("Not found")
    return value


def int_param(raw: str | None) -> int | None:
    """A positive database id from a query string, or None if it is not one."""
    raw = (raw or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_DB_ID else None


def date_param(raw: str | None) -> date | None:
    """An ISO date (YYYY-MM-DD), None when empty; ValueError for anything else."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if len(raw) != 10:
        raise ValueError(raw[:MAX_PARAM_CHARS])
    return date.fromisoformat(raw)
