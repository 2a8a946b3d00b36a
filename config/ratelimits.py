"""Rate limits of the API: writes and run starts per user, counted in Django's cache.

django-ratelimit keeps one counter per user and window (an atomic `add`/`incr`, so a burst
of concurrent requests is counted exactly). With `REDIS_URL` the cache is Redis and the limit
holds across every web process; embedded, it is the process's memory. A user's session and all
of their tokens share one budget (a new token is not a way around it). Past a limit the answer
is 429 with `Retry-After` (seconds to the end of the window) and a message that says which
limit it was; the request did nothing.

    SWITCHBOARD_RATE_WRITES       "600/m"  POST/PUT/PATCH/DELETE on /api/
    SWITCHBOARD_RATE_RUN_STARTS   "60/m"   starts, re-runs, reproductions
    ("" turns a limit off; periods: s, m, h, d, e.g. "1000/h")
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from .domain import RateLimited

F = TypeVar("F", bound=Callable[..., Any])

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PERIOD_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def starts_runs(func: F) -> F:
    """Mark an API operation that starts a run: it counts against SWITCHBOARD_RATE_RUN_STARTS."""
    func._starts_runs = True  # type: ignore[attr-defined]
    return func


def not_a_write(func: F) -> F:
    """Mark a POST that changes nothing (live validation): it is not counted as a write."""
    func._not_a_write = True  # type: ignore[attr-defined]
    return func


def _user_key(group: str, request: HttpRequest) -> str:
    user = getattr(request, "auth", None) or request.user
    return f"user:{user.pk}"


def _per(rate: str) -> str:
    count, _, period = rate.partition("/")
    unit = period.lstrip("0123456789") or "s"
    number = period[: len(period) - len(unit)]
    word = PERIOD_WORDS.get(unit[:1], unit)
    return f"{count} per {number + ' ' + word + 's' if number not in ('', '1') else word}"


def check(request: HttpRequest, *, group: str, rate: str, what: str) -> None:
    """Count this request against `rate` for its user; raise RateLimited past it."""
    if not rate:
        return
    usage = get_usage(request, group=group, key=_user_key, rate=rate, increment=True)
    if usage is None or not usage["should_limit"]:
        return
    retry_after = max(1, int(usage["time_left"]))
    raise RateLimited(
        f"Too many {what}: the limit is {_per(rate)} for each user. Try again in {retry_after} s.",
        retry_after=retry_after,
        limit=rate,
    )


def rate_limited(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an API operation: writes and run starts are counted before it runs."""
    starts = getattr(func, "_starts_runs", False)
    counted = not getattr(func, "_not_a_write", False)

    @functools.wraps(func)
    def operation(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if counted and request.method in WRITE_METHODS:
            rate = getattr(settings, "SWITCHBOARD_RATE_WRITES", "")
            check(request, group="api.writes", rate=rate, what="changes")
        if starts:
            rate = getattr(settings, "SWITCHBOARD_RATE_RUN_STARTS", "")
            check(request, group="api.run_starts", rate=rate, what="run starts")
        return func(request, *args, **kwargs)

    return operation
