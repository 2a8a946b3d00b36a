"""The answer to a login attempt while its username and address are locked out (django-axes).

The login page again, saying when to try again, with status 429 and `Retry-After`: the seconds
left of the cool-off, counted from the last failed attempt.
"""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_client_ip_address, get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def seconds_left(request: HttpRequest, credentials: dict[str, Any] | None) -> int:
    """Seconds until this username and address may try again (at least 1)."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return 1
    last = (
        AccessAttempt.objects.filter(
            username=get_client_username(request, credentials),
            ip_address=get_client_ip_address(request),
        )
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    if last is None:
        return max(1, math.ceil(cool_off.total_seconds()))
    return max(1, math.ceil((last + cool_off - timezone.now()).total_seconds()))


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """Render the login page with the lockout message: 429 with Retry-After."""
    if isinstance(original_response, dict) and credentials is None:
        credentials, original_response = original_response, None  # axes' two-argument call
    seconds = seconds_left(request, credentials)
    username = get_client_username(request, credentials) or ""
    response = render(
        request,
        "auth/login.html",
        {
            "locked_out": True,
            "wait_text": _wait_text(seconds),
            "username": username,
            "next": request.POST.get("next", request.GET.get("next", "")),
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
