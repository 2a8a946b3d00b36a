"""Turn SDK exceptions into `LlmError`s with stable codes and messages fit for a person."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import openai

from .guard import blocked_cause
from .providers import Target
from .response import LlmError

RETRY_AFTER_CAP = 60.0
_KEY_PATTERNS = re.compile(r"(sk-[A-Za-z0-9_*\-]{6,}|Bearer\s+\S+|api[_-]?key[=:]\s*\S+)", re.I)


def scrub(value: str, secrets: Iterable[str] = ()) -> str:
    """Remove API keys (the real ones and anything shaped like one) from `value`."""
    for secret in secrets:
        if secret:
            value = value.replace(secret, "[redacted]")
    return _KEY_PATTERNS.sub("[redacted]", value)


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Read Retry-After (seconds or an HTTP date) or retry-after-ms; capped at 60 s."""
    if not headers:
        return None
    seconds: float | None = None
    millis = headers.get("retry-after-ms")
    value = headers.get("retry-after")
    try:
        if millis is not None:
            seconds = float(millis) / 1000
    except ValueError:
        seconds = None
    if seconds is None and value:
        try:
            seconds = float(value)
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds is None:
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _provider_detail(exc: openai.APIStatusError, secrets: Iterable[str]) -> str:
    body: Any = exc.body
    detail = ""
    if isinstance(body, dict):
        error = body.get("error", body)
        detail = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    elif isinstance(body, str):
        detail = body
    detail = " ".join(scrub(detail, secrets).split())
    return detail[:300]


def _body_code(exc: openai.APIStatusError) -> str:
    body: Any = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("code") or error.get("type") or "")
    return str(exc.code or "")


def from_status(exc: openai.APIStatusError, target: Target, secrets: Iterable[str]) -> LlmError:
    """Classify an HTTP error response."""
    status = exc.status_code
    retry_after = parse_retry_after(exc.response.headers)
    detail = _provider_detail(exc, secrets)
    body_code = _body_code(exc)
    if status in (401, 403):
        code = "auth_error"
        if target.config.get("guarded"):
            where = "its key under Settings → Model providers"
        else:
            variable = target.config.get("api_key_env") or "its API key setting"
            where = f"the {variable} environment variable"
        message = f"{target.provider} refused the credentials (HTTP {status}). Check {where}."
    elif status == 404 or "model_not_found" in body_code:
        code = "unknown_model"
        message = f"{target.provider} does not offer the model “{target.model}” (HTTP {status})."
    elif status == 429:
        code = "rate_limited"
        message = f"{target} is limiting how often it can be called (HTTP 429)."
    elif status == 408:
        code = "timeout"
        message = f"{target} gave up waiting for the request (HTTP 408)."
    elif status == 409 or status >= 500:
        code = "server_error"
        message = f"{target} had a server problem (HTTP {status})."
    else:
        code = "bad_request"
        message = f"{target} rejected the request (HTTP {status})."
    if detail and code in ("bad_request", "unknown_model", "server_error", "rate_limited"):
        message += f" It said: {detail}"
    return LlmError(code, message, status=status, retry_after=retry_after)


def classify(
    exc: Exception, target: Target, *, base_url: str, timeout: float, secrets: Iterable[str]
) -> LlmError:
    """Return the LlmError for an exception raised by one HTTP attempt."""
    if isinstance(exc, LlmError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        return from_status(exc, target, secrets)
    if isinstance(exc, openai.APITimeoutError):
        return LlmError("timeout", f"{target} did not answer within {timeout:g} seconds.")
    if isinstance(exc, openai.APIConnectionError) and (refusal := blocked_cause(exc)):
        return LlmError("blocked_address", f"{target.provider}: {refusal.message}")
    if isinstance(exc, openai.APIConnectionError):
        host = re.sub(r"^\w+://", "", base_url).split("/")[0]
        return LlmError("connection_error", f"Could not reach {target.provider} at {host}.")
    if isinstance(exc, openai.APIResponseValidationError | openai.APIError):
        return LlmError("server_error", f"{target} sent an answer that could not be read.")
    return LlmError("server_error", f"Calling {target} failed unexpectedly ({type(exc).__name__}).")


def stream_cut(target: Target, partial: str) -> LlmError:
    """Return the error for a stream that ended before the model finished."""
    return LlmError(
        "stream_cut",
        f"The connection to {target} dropped in the middle of the answer.",
        partial=partial or None,
    )
