"""Checks node configs share: a pattern that compiles, a JSON schema the app can validate with."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

from ..schemas import MAX_PATTERN_CHARS, RemoteRef, SchemaInvalid, check_schema

# The pydantic error type of a JSON schema `$ref` that points outside the schema; graph
# validation reports it under its own code.
REMOTE_REF_ERROR = "json_schema_remote_ref"


def check_pattern(pattern: Any) -> str:
    """Return the pattern if it compiles; raise ValueError with the reason otherwise."""
    import regex

    if not isinstance(pattern, str):
        raise ValueError("a pattern must be text")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"a pattern may be at most {MAX_PATTERN_CHARS} characters")
    try:
        regex.compile(pattern)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"invalid pattern: {exc}") from exc
    return pattern


def check_json_schema(schema: Any) -> dict[str, Any]:
    """Return the schema if the app can validate with it; raise ValueError otherwise.

    A `$ref` to outside the schema (a URL, a file) raises the REMOTE_REF_ERROR pydantic error.
    """
    try:
        return check_schema(schema)
    except RemoteRef as exc:
        raise PydanticCustomError(REMOTE_REF_ERROR, "{reason}", {"reason": str(exc)}) from exc
    except SchemaInvalid as exc:
        raise ValueError(str(exc)) from exc
