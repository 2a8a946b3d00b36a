"""The one error shape every API endpoint answers with: {"detail": ..., "code": ...}."""

from typing import Any

from .domain import Conflict, DomainError, Invalid, NotAllowed, NotFound, TooLarge

DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    NotAllowed: 403,
    Invalid: 422,
    TooLarge: 413,
    Conflict: 409,
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


def http_status(exc: DomainError) -> int:
    """The HTTP status a domain error answers with (the one mapping, used by every edge)."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 422


def api_error(exc: DomainError) -> ApiError:
    """The API's view of a domain error."""
    return ApiError(http_status(exc), exc.code, exc.detail, **exc.extra)
