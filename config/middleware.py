"""Middleware of the project itself."""

from collections.abc import Callable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware

API_PREFIX = "/api/"

_CODES = {404: ("Not found", "not_found"), 405: ("Method not allowed", "method_not_allowed")}


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


@sync_and_async_middleware
def api_error_shape(get_response: Callable) -> Callable:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return _shaped(request, await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            return _shaped(request, get_response(request))

    return middleware
