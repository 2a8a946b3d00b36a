"""The tool contract: what a tool is, how it fails, where it is registered and how it is called."""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

logger = logging.getLogger(__name__)

TOOL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# Arguments arrive from templates and from model output; results are stored on the step. Both are
# bounded so one bad call can't fill the database or the worker's memory.
MAX_ARGUMENTS_BYTES = 2 * 1024 * 1024
MAX_RESULT_BYTES = 8 * 1024 * 1024
MAX_ARGUMENT_ERRORS = 10
_MAX_ERROR_TEXT = 200

ERROR_CODES = frozenset(
    {
        "unknown_tool",
        "invalid_arguments",
        "blocked_address",
        "too_large",
        "timeout",
        "http_error",
        "tool_failed",
    }
)


class ToolError(Exception):
    """A tool call that failed in a way the flow can show and route on.

    `code` is stable (see ERROR_CODES); `message` is written for the person who built the flow and
    never carries secrets; `details` lists individual problems (e.g. each invalid argument).
    """

    def __init__(self, code: str, message: str, *, details: list[str] | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown tool error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details or [])

    def to_dict(self) -> dict[str, Any]:
        """Return the error as JSON data, for a step's error output or a tool-call reply."""
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            data["details"] = list(self.details)
        return data

    def __repr__(self) -> str:
        return f"ToolError({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know about the call: the workspace it runs for and its time budget.

    `allow_loopback` lets outbound requests reach loopback addresses as well as public ones
    (settings.SWITCHBOARD_ALLOW_LOOPBACK: tests and development only, never in production).
    """

    workspace_id: int | None = None
    timeout: float = 30.0
    allow_loopback: bool = False


@dataclass
class Tool:
    """A named callable with a JSON schema for its arguments and one for its result.

    `func(arguments, context)` receives arguments already validated against `parameters` and
    returns JSON-serialisable data shaped as `result_schema` says (validation checks the fields
    later nodes read from it; an empty schema means "any JSON"). `idempotent` may be a function of
    the arguments (an HTTP POST is not idempotent, a GET is); a tool that isn't idempotent is
    never re-run after a crash.
    """

    name: str
    description: str
    parameters: dict
    func: Callable[[dict, ToolContext], Any]
    idempotent: bool | Callable[[dict], bool] = True
    result_schema: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not TOOL_NAME_RE.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {TOOL_NAME_RE.pattern}")
        if not self.description.strip():
            raise ValueError(f"tool {self.name!r} needs a description")
        if self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON schema of an object")
        try:
            Draft202012Validator.check_schema(self.parameters)
        except SchemaError as exc:
            raise ValueError(
                f"tool {self.name!r}: invalid parameters schema: {exc.message}"
            ) from exc
        try:
            Draft202012Validator.check_schema(self.result_schema)
        except SchemaError as exc:
            raise ValueError(f"tool {self.name!r}: invalid result schema: {exc.message}") from exc
        self._validator = Draft202012Validator(self.parameters)

    def is_idempotent(self, arguments: dict) -> bool:
        """Say whether calling with these arguments may safely be repeated."""
        if callable(self.idempotent):
            try:
                return bool(self.idempotent(arguments))
            except Exception:
                # When in doubt, treat the call as a side effect: it will not be replayed blindly.
                logger.exception("idempotency check of tool %s failed", self.name)
                return False
        return bool(self.idempotent)

    def argument_errors(self, arguments: dict) -> list[str]:
        """Return readable messages for every way `arguments` break the schema (empty if valid)."""
        errors = sorted(self._validator.iter_errors(arguments), key=_error_sort_key)
        messages = [_describe(error) for error in errors[:MAX_ARGUMENT_ERRORS]]
        if len(errors) > MAX_ARGUMENT_ERRORS:
            messages.append(f"…and {len(errors) - MAX_ARGUMENT_ERRORS} more problems")
        return messages


def _error_sort_key(error: ValidationError) -> tuple[str, str]:
    return (".".join(str(part) for part in error.absolute_path), error.message)


def _shorten(text: str, limit: int = _MAX_ERROR_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_JSON_TYPES = {
    dict: "an object",
    list: "a list",
    str: "text",
    bool: "true/false",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _phrase(error: ValidationError) -> str:
    """Say what is wrong without echoing the (possibly huge or secret) value itself."""
    rule, limit, value = error.validator, error.validator_value, error.instance
    phrases: dict[str, Callable[[], str]] = {
        "type": lambda: f"should be {_type_names(limit)}, not {_JSON_TYPES.get(type(value), '?')}",
        "enum": lambda: "must be one of: " + ", ".join(json.dumps(v) for v in limit),
        "const": lambda: f"must be {json.dumps(limit)}",
        "minLength": lambda: "must not be empty" if limit == 1 else f"needs {limit}+ characters",
        "maxLength": lambda: f"is longer than {limit} characters",
        "minItems": lambda: f"needs at least {limit} items",
        "maxItems": lambda: f"has more than {limit} items",
        "maxProperties": lambda: f"has more than {limit} entries",
        "minimum": lambda: f"must be at least {limit}",
        "maximum": lambda: f"must be at most {limit}",
        "exclusiveMinimum": lambda: f"must be more than {limit}",
        "exclusiveMaximum": lambda: f"must be less than {limit}",
        "pattern": lambda: "is not in the expected format",
        "oneOf": lambda: "is not in any of the accepted forms",
        "anyOf": lambda: "is not in any of the accepted forms",
    }
    if rule == "required":
        return error.message.replace("property", "argument")
    if rule == "additionalProperties" and isinstance(value, dict):
        known = set(error.schema.get("properties", {}))
        unknown = ", ".join(sorted(str(k) for k in value if k not in known))
        return f"unknown argument(s): {unknown}"
    if rule in ("oneOf", "anyOf") and isinstance(error.schema.get("description"), str):
        return f"should be {error.schema['description']}"
    phrase = phrases.get(rule)
    return phrase() if phrase else error.message


def _type_names(types: str | list[str]) -> str:
    names = {
        "object": "an object",
        "array": "a list",
        "string": "text",
        "integer": "a whole number",
    }
    names |= {"number": "a number", "boolean": "true/false", "null": "null"}
    listed = [types] if isinstance(types, str) else types
    return " or ".join(names.get(t, t) for t in listed)


def _describe(error: ValidationError) -> str:
    """Phrase one schema error for a person: where it is, then what is wrong."""
    where = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    ).lstrip(".")
    message = _shorten(_phrase(error))
    return f"{where}: {message}" if where else message


class ToolRegistry:
    """Tools by name. Names are stable: saved graphs and model tool calls refer to them."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()

    def register(self, tool: Tool) -> Tool:
        """Add a tool; a second tool with the same name is refused."""
        with self._lock:
            if tool.name in self._tools:
                raise ValueError(f"a tool named {tool.name!r} is already registered")
            self._tools[tool.name] = tool
        return tool

    def unregister(self, name: str) -> None:
        """Remove a tool (for tests and plugins); unknown names are ignored."""
        with self._lock:
            self._tools.pop(name, None)

    def get(self, name: str) -> Tool:
        """Return the tool called `name`, or raise ToolError("unknown_tool")."""
        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None:
            shown = _shorten(str(name), 64)
            raise ToolError("unknown_tool", f"There is no tool called “{shown}”.")
        return tool

    def all(self) -> list[Tool]:
        """Return every tool, sorted by name."""
        return [self._tools[name] for name in self.names()]

    def names(self) -> list[str]:
        """Return every tool name, sorted."""
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools


registry = ToolRegistry()


def _coerce_arguments(arguments: Any) -> dict:
    """Accept an object, or the JSON string of one (as function calling delivers it)."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str | bytes):
        if len(arguments) > MAX_ARGUMENTS_BYTES:
            raise ToolError("too_large", "The tool's arguments are too large.")
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError) as exc:
            raise ToolError(
                "invalid_arguments",
                "The tool's arguments are not valid JSON.",
                details=[f"{exc.msg} (line {exc.lineno}, column {exc.colno})"]
                if isinstance(exc, json.JSONDecodeError)
                else [],
            ) from None
    if not isinstance(arguments, dict):
        raise ToolError(
            "invalid_arguments",
            "The tool's arguments must be an object of named values.",
            details=[f"got {type(arguments).__name__}"],
        )
    return arguments


def _to_json(value: Any, *, what: str) -> str:
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{what} is not JSON-serialisable: {exc}") from exc


def call_tool(name: str, arguments: Any, *, context: ToolContext) -> Any:
    """Validate `arguments`, run the tool `name` and return its JSON result.

    Every failure is a ToolError: unknown tool, invalid arguments (with one readable message per
    problem in `details`), the tool's own errors, and anything unexpected as "tool_failed" (the
    traceback goes to the log, not to the user). Tools honour `context.timeout` themselves.
    """
    tool = registry.get(name)
    arguments = _coerce_arguments(arguments)
    try:
        if len(_to_json(arguments, what="arguments").encode()) > MAX_ARGUMENTS_BYTES:
            raise ToolError("too_large", f"The arguments for “{name}” are too large.")
    except ValueError:
        raise ToolError(
            "invalid_arguments", f"The arguments for “{name}” are not plain JSON data."
        ) from None
    problems = tool.argument_errors(arguments)
    if problems:
        summary = "; ".join(problems[:3]) + ("; …" if len(problems) > 3 else "")
        raise ToolError(
            "invalid_arguments",
            f"The arguments for “{name}” are not valid: {summary}",
            details=problems,
        )
    try:
        result = tool.func(copy.deepcopy(arguments), context)
        encoded = _to_json(result, what=f"the result of tool {name!r}")
    except ToolError:
        raise
    except Exception:
        logger.exception("tool %s failed", name)
        raise ToolError(
            "tool_failed", f"The tool “{name}” failed unexpectedly. The error has been logged."
        ) from None
    if len(encoded.encode()) > MAX_RESULT_BYTES:
        raise ToolError("too_large", f"The result of “{name}” is too large to keep.")
    # Hand back plain JSON data (lists, not tuples; str keys) exactly as it will be stored.
    return json.loads(encoded)


def openai_tool_specs(names: list[str]) -> list[dict]:
    """Return OpenAI function-calling specs for the named tools, in order, without duplicates."""
    specs = []
    for name in dict.fromkeys(names):
        tool = registry.get(name)
        specs.append(
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": copy.deepcopy(tool.parameters),
                },
            }
        )
    return specs
