"""The one error shape every API endpoint answers with: {"detail": ..., "code": ...}."""

from typing import Any


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
