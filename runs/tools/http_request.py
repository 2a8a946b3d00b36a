"""The `http_request` tool: call a public web API from a flow."""

from __future__ import annotations

import json
from typing import Any

from .addresses import is_public_address, is_public_or_loopback
from .base import Tool, ToolContext, ToolError
from .fetch import MAX_RESPONSE_BYTES, FetchedResponse, fetch

MAX_TIMEOUT = 30.0
DEFAULT_TIMEOUT = 10.0
MAX_REQUEST_BYTES = 1024 * 1024
# Response headers worth showing to a flow; never Set-Cookie or anything session-like.
SAFE_RESPONSE_HEADERS = (
    "content-type",
    "content-length",
    "content-language",
    "date",
    "last-modified",
    "etag",
    "cache-control",
    "expires",
    "retry-after",
    "location",
)

BINARY_TYPES = (
    "image/",
    "audio/",
    "video/",
    "font/",
    "application/octet-stream",
    "application/pdf",
    "application/zip",
    "application/gzip",
)

PARAMETERS = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2048,
            "description": (
                "The http or https URL to call. Private and local addresses are refused."
            ),
        },
        "method": {"type": "string", "enum": ["GET", "POST"], "default": "GET"},
        "headers": {
            "type": "object",
            "description": "Request headers, e.g. Authorization or Accept.",
            "additionalProperties": {"type": "string", "maxLength": 8192},
            "maxProperties": 50,
        },
        "json": {"description": "A JSON body to send (POST only)."},
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_TIMEOUT,
            "default": DEFAULT_TIMEOUT,
            "description": "Seconds to wait for the whole request, redirects included.",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


def _encode_body(arguments: dict, method: str) -> bytes | None:
    if "json" not in arguments:
        return None
    if method != "POST":
        raise ToolError("invalid_arguments", "A JSON body can only be sent with POST.")
    body = json.dumps(arguments["json"], ensure_ascii=False, allow_nan=False).encode()
    if len(body) > MAX_REQUEST_BYTES:
        raise ToolError("too_large", f"The request body is larger than {MAX_REQUEST_BYTES} bytes.")
    return body


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return "utf-8"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def describe_response(response: FetchedResponse) -> dict[str, Any]:
    """Return the result a flow sees: status, a few safe headers, and the body as JSON or text."""
    headers = {
        name: value
        for name in SAFE_RESPONSE_HEADERS
        if (value := response.header(name)) is not None
    }
    content_type = headers.get("content-type", "")
    result: dict[str, Any] = {"status": response.status, "headers": headers}
    if content_type.lower().startswith(BINARY_TYPES):
        # Images, archives and the like mean nothing as text to a flow or a model.
        result["text"] = f"[binary content, {len(response.body)} bytes, not shown]"
        return result
    try:
        text = response.body.decode(_charset(content_type), errors="replace")
    except LookupError:
        text = response.body.decode("utf-8", errors="replace")
    if "json" in content_type.lower() and text.strip():
        try:
            result["json"] = json.loads(text, parse_constant=_reject_constant)
            return result
        except (ValueError, RecursionError):
            pass  # a server that mislabels its body: show the text instead
    result["text"] = text
    return result


def http_request(arguments: dict, context: ToolContext) -> dict[str, Any]:
    """Make the request and describe the response; 4xx/5xx are results, not errors."""
    method = arguments.get("method", "GET")
    body = _encode_body(arguments, method)
    headers = dict(arguments.get("headers") or {})
    if body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    timeout = min(float(arguments.get("timeout", DEFAULT_TIMEOUT)), context.timeout, MAX_TIMEOUT)
    response = fetch(
        arguments["url"],
        method=method,
        headers=headers,
        body=body,
        timeout=timeout,
        max_bytes=MAX_RESPONSE_BYTES,
        address_allowed=is_public_or_loopback if context.allow_loopback else is_public_address,
    )
    return describe_response(response)


def _is_get(arguments: dict) -> bool:
    return arguments.get("method", "GET") == "GET"


TOOL = Tool(
    name="http_request",
    description=(
        "Call a public web API over http(s) with GET or POST and return the status, a few "
        "headers and the body (parsed when it is JSON). Responses over 1 MB are refused."
    ),
    parameters=PARAMETERS,
    func=http_request,
    idempotent=_is_get,
    result_schema={
        "type": "object",
        "properties": {
            "status": {"type": "integer", "description": "The HTTP status, e.g. 200."},
            "headers": {
                "type": "object",
                "description": "A few safe response headers, by lower-case name.",
                "additionalProperties": {"type": "string"},
            },
            "json": {"description": "The body, when the response is JSON."},
            "text": {"type": "string", "description": "The body as text, when it is not JSON."},
        },
        "required": ["status", "headers"],
        "additionalProperties": False,
    },
)
