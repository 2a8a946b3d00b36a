"""Middleware of the project itself."""

import logging
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware

from .errors import BUSY_RETRY_AFTER_SECONDS, BUSY_STATUS, busy_body, is_busy

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"

_CODES = {404: ("Not found", "not_found"), 405: ("Method not allowed", "method_not_allowed")}

# Self-contained on purpose: rendering the site's templates needs the user, and so the database
# that is too busy to answer.
BUSY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Busy for a moment · Switchboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;
color:#1f2330}}h1{{font-size:1.4rem}}a{{color:#3b5bdb}}</style></head>
<body><h1>Switchboard is busy for a moment</h1>
<p>Too many things are being saved at once: {retry}</p></body></html>
"""


def _shaped(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Answer routing errors under /api/ in the API's error shape instead of an HTML page."""
    if (
        response.status_code in _CODES
        and request.path.startswith(API_PREFIX)
        and not response.get("Content-Type", "").startswith("application/json")
    ):
        detail, code = _CODES[response.status_code]
        shaped = JsonResponse({"detail": detail, "code": code}, status=response.status_code)
        if response.has_header("Allow"):
            shaped["Allow"] = response["Allow"]
        return shaped
    return response


def _busy_page(request: HttpRequest) -> str:
    seconds = BUSY_RETRY_AFTER_SECONDS
    if request.method in ("GET", "HEAD"):
        refresh = f'<meta http-equiv="refresh" content="{seconds}">'
        retry = f'this page tries again in {seconds} s, or <a href="">try now</a>.'
    else:
        # Reloading would send the form again unasked; the person decides.
        refresh, retry = "", "go back and send it again in a moment."
    return BUSY_PAGE.format(refresh=refresh, retry=retry)


def busy_response(request: HttpRequest) -> HttpResponse:
    """429 in the API's error shape under /api/, a friendly 503 page elsewhere; both say when to
    retry."""
    if request.path.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse(busy_body(), status=BUSY_STATUS)
    else:
        response = HttpResponse(_busy_page(request), status=503)
    response["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
    return response


def _busy_or_none(request: HttpRequest, exception: Exception) -> HttpResponse | None:
    """A view's exception that means a saturated database becomes "retry shortly", not a 500."""
    if not is_busy(exception):
        return None
    logger.warning("Database busy on %s %s: %s", request.method, request.path, exception)
    return busy_response(request)


@sync_and_async_middleware
def api_error_shape(get_response: Callable) -> Callable:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return _shaped(request, await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            return _shaped(request, get_response(request))

    middleware.process_exception = _busy_or_none  # type: ignore[attr-defined]
    return middleware


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 handler: an error raised outside a view (another middleware saving a session, a
    signal) that means a saturated database still answers "retry shortly"."""
    import sys

    from django.views.defaults import server_error as default_server_error

    exception = sys.exc_info()[1]
    if exception is not None and is_busy(exception):
        logger.warning("Database busy outside a view on %s %s", request.method, request.path)
        return busy_response(request)
    return default_server_error(request)
