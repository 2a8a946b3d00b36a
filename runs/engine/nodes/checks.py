"""Checks node configs share: a pattern that compiles, a JSON schema that is valid."""

from __future__ import annotations

from typing import Any

MAX_PATTERN_CHARS = 500


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
    """Return the schema if it is a valid JSON schema object; raise ValueError otherwise."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise ValueError("a JSON schema must be an object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON schema: {exc.message}") from exc
    except RecursionError as exc:
        raise ValueError("the JSON schema is nested too deeply") from exc
    return schema
