"""Domain errors: what services raise when an operation cannot be done.

They say what went wrong in the product's words (a stable `code`, a readable `detail`, and any
extra fields a client can act on) and nothing about HTTP. The edges map them to responses in one
place: `config.errors.http_status` (used by the API's exception handler and the pages).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    default_code = "invalid"

    def __init__(self, detail: Any, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.extra = extra


class NotFound(DomainError):
    """The object does not exist, or is not visible to this user (a foreign id)."""

    default_code = "not_found"


class Unauthenticated(DomainError):
    """The request does not prove who sent it: an unknown, expired or revoked API token, a
    missing or wrong webhook signature."""

    default_code = "unauthorized"


class NotAllowed(DomainError):
    """The user can see the object but their role does not allow the operation."""

    default_code = "forbidden"


class Invalid(DomainError):
    """The request itself is wrong: bad input, unknown option, a graph with problems."""

    default_code = "invalid"


class TooLarge(DomainError):
    """An input is over its size limit."""

    default_code = "too_large"


class Conflict(DomainError):
    """The object's state does not allow the operation now (stale revision, already decided)."""

    default_code = "conflict"


class RunConflict(Conflict):
    """A run's state does not allow the operation (finished, not finished, not parked)."""


class RateLimited(DomainError):
    """Too many requests of one kind from one user in a window; `retry_after` says when."""

    default_code = "rate_limited"
