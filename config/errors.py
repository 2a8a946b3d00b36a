"""The one error shape every API endpoint answers with: {"detail": ..., "code": ...}."""

import sqlite3
from typing import Any

from .domain import (
    Conflict,
    DomainError,
    Invalid,
    NotAllowed,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthenticated,
)

DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Unauthenticated: 401,
    NotAllowed: 403,
    Invalid: 422,
    TooLarge: 413,
    Conflict: 409,
    RateLimited: 429,
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: Any, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def not_found(what: str = "Not found") -> ApiError:
    return ApiError(404, "not_found", what)


def forbidden(detail: str = "Your role does not allow this.") -> ApiError:
    return ApiError(403, "forbidden", detail)


# Transient saturation of the database: SQLite's write lock held past the busy timeout, no pooled
# PostgreSQL connection free within the pool timeout, or the server out of connection slots. The
# transaction that met it rolled back; the request is answered "busy, retry shortly", never 500.
BUSY_MESSAGES = (
    "database is locked",
    "database table is locked",
    "couldn't get a connection after",
    "too many clients already",
    "remaining connection slots are reserved",
)
BUSY_STATUS = 429
BUSY_RETRY_AFTER_SECONDS = 1
BUSY_DETAIL = "The database is busy; retry in a moment."

try:
    from psycopg_pool import PoolTimeout
except ImportError:  # SQLite-only installs
    PoolTimeout = None  # type: ignore[assignment, misc]


def is_busy(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) means the database is momentarily saturated."""
    from django.db import OperationalError

    operational = (OperationalError, sqlite3.OperationalError)
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if PoolTimeout is not None and isinstance(exc, PoolTimeout):
            return True
        # Django re-raises driver errors as its own, keeping the driver's as the cause.
        if isinstance(exc, operational):
            message = str(exc).lower()
            if any(text in message for text in BUSY_MESSAGES):
                return True
        exc = exc.__cause__ or exc.__context__
    return False


def busy_body() -> dict[str, str]:
    return {"detail": BUSY_DETAIL, "code": "busy"}


def http_status(exc: DomainError) -> int:
    """The HTTP status a domain error answers with (the one mapping, used by every edge)."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 422


def api_error(exc: DomainError) -> ApiError:
    """The API's view of a domain error."""
    return ApiError(http_status(exc), exc.code, exc.detail, **exc.extra)
