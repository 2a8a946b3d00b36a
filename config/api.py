"""The one NinjaAPI. Each app contributes a router; every endpoint requires authentication."""

import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from builder.api import router as builder_router
from conversations.api import router as conversations_router
from evals.api import router as evals_router
from knowledge.api import router as knowledge_router
from runs.api import router as runs_router
from runs.api_models import router as models_router
from runs.api_reruns import router as reruns_router
from triggers.api import router as triggers_router
from vault.api import router as vault_router
from workspaces.api import router as workspaces_router
from workspaces.auth import API_AUTH

from .domain import DomainError
from .errors import BUSY_RETRY_AFTER_SECONDS, BUSY_STATUS, ApiError, api_error, busy_body, is_busy
from .ratelimits import rate_limited

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Switchboard API",
    version="1",
    description="Flows, versions, runs and approvals. Authenticate with `Authorization: Bearer "
    "<personal token>` (create one under Settings → API tokens at /settings/, or with "
    "`POST /api/tokens`) or a browser session.",
    auth=API_AUTH,
    urls_namespace="api",
    # Like every page, the interactive docs and the schema are for signed-in people.
    docs_decorator=login_required,
)

api.add_router("/", builder_router)
api.add_router("/", runs_router)
api.add_router("/", reruns_router)
api.add_router("/", triggers_router)
api.add_router("/", models_router)
api.add_router("/", workspaces_router)
api.add_router("/", vault_router)
# After authentication and validation: count writes and run starts per user (429 past a limit).
api.add_decorator(rate_limited)
api.add_router("/", knowledge_router)
api.add_router("/", conversations_router)
api.add_router("/", evals_router)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError):
    response = api.create_response(
        request, {"detail": exc.detail, "code": exc.code, **exc.extra}, status=exc.status
    )
    if "retry_after" in exc.extra:
        response["Retry-After"] = str(exc.extra["retry_after"])
    return response


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError):
    return _api_error(request, api_error(exc))


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError):
    errors = [
        {
            "loc": [str(part) for part in err.get("loc", [])],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors
    ]
    return api.create_response(request, {"detail": errors, "code": "invalid_request"}, status=422)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError):
    return api.create_response(
        request,
        {"detail": "Authentication required (session or Bearer token).", "code": "unauthorized"},
        status=401,
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404):
    return api.create_response(request, {"detail": "Not found", "code": "not_found"}, status=404)


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig):
    return api.create_response(
        request, {"detail": "Request body too large.", "code": "too_large"}, status=413
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError):
    code = {400: "bad_request", 403: "forbidden", 405: "method_not_allowed"}.get(
        exc.status_code, "error"
    )
    return api.create_response(request, {"detail": str(exc), "code": code}, status=exc.status_code)


def _busy(request: HttpRequest, exc: BaseException):
    """The database is saturated for a moment: say when to retry instead of failing."""
    logger.warning("Database busy on %s %s: %s", request.method, request.path, exc)
    response = api.create_response(request, busy_body(), status=BUSY_STATUS)
    response["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
    return response


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception):
    if is_busy(exc):
        return _busy(request, exc)
    logger.exception("Unhandled API error on %s %s", request.method, request.path)
    return api.create_response(
        request,
        {"detail": "Something went wrong on our side; it has been logged.", "code": "server_error"},
        status=500,
    )
