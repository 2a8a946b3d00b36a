"""The `json_query` tool: pick and reshape JSON data with a JMESPath expression.

A model chooses the expression, so evaluation is bounded while it runs: every node the
interpreter visits checks a deadline, and every value it builds is measured (as JSON text) before
the next stage builds on it. `{a: @, b: @}` stages double a value by sharing references; the size
meter remembers what it measured, so such a value is refused at its first stage past the limit,
long before anything would be serialised.
"""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath import functions
from jmespath.exceptions import JMESPathError
from jmespath.visitor import Options, TreeInterpreter

from runs.engine.limits import Deadline, EvaluationLimit, SizeMeter

from .base import MAX_RESULT_BYTES, Tool, ToolContext, ToolError

MAX_EXPRESSION_LENGTH = 1000
MAX_MESSAGE_LENGTH = 300
QUERY_SECONDS = 2.0
# Every value the query builds, and its result, measured as JSON text.
MAX_QUERY_BYTES = MAX_RESULT_BYTES


class _QueryTooLarge(Exception):
    pass


class _BoundedFunctions(functions.Functions):
    """The built-in functions, with the ones that grow text measured before they run."""

    def __init__(self, meter: SizeMeter) -> None:
        super().__init__()
        self._meter = meter

    @functions.signature({"types": ["string"]}, {"types": ["array-string"]})
    def _func_join(self, separator: str, array: list[str]) -> str:
        size = sum(len(item) for item in array) + max(0, len(array) - 1) * len(separator)
        if size > MAX_QUERY_BYTES:
            raise _QueryTooLarge
        return separator.join(array)

    @functions.signature({"types": []})
    def _func_to_string(self, arg: Any) -> str:
        if self._meter.size(arg) > MAX_QUERY_BYTES:
            raise _QueryTooLarge
        return str(super()._func_to_string(arg))


class _BoundedInterpreter(TreeInterpreter):
    """JMESPath's interpreter, checking the deadline and the size of each value it builds."""

    def __init__(self, deadline: Deadline) -> None:
        self._meter = SizeMeter()
        super().__init__(Options(custom_functions=_BoundedFunctions(self._meter)))
        self._deadline = deadline

    def visit(self, node: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._deadline.check()
        result = super().visit(node, *args, **kwargs)
        if isinstance(result, (list, dict)) and self._meter.size(result) > MAX_QUERY_BYTES:
            raise _QueryTooLarge
        return result


def _shortened(message: str) -> str:
    message = message.strip()
    return (
        message if len(message) <= MAX_MESSAGE_LENGTH else message[: MAX_MESSAGE_LENGTH - 1] + "…"
    )


def json_query(arguments: dict, context: ToolContext) -> dict[str, Any]:
    """Apply the expression to the data and return {"result": ...} (null when nothing matches)."""
    seconds = min(QUERY_SECONDS, context.timeout)
    try:
        compiled = jmespath.compile(arguments["expression"])
        interpreter = _BoundedInterpreter(Deadline(seconds, "it"))
        result = interpreter.visit(compiled.parsed, arguments["data"])
    except JMESPathError as exc:
        message = _shortened(str(exc)) or type(exc).__name__
        raise ToolError(
            "invalid_arguments",
            f"The JMESPath expression can't be used: {message}",
            details=[message],
        ) from None
    except RecursionError:
        raise ToolError(
            "invalid_arguments", "The data or expression is nested too deeply."
        ) from None
    except _QueryTooLarge:
        raise ToolError(
            "too_large",
            f"The query builds a value larger than {MAX_QUERY_BYTES // (1024 * 1024)} MB "
            "(as JSON), so it was stopped. Select less, or reshape in smaller steps.",
        ) from None
    except EvaluationLimit as exc:
        raise ToolError("timeout", f"The query was stopped: {exc}.") from None
    return {"result": result}


TOOL = Tool(
    name="json_query",
    description=(
        "Select or reshape JSON data with a JMESPath expression, for example "
        'items[?price < `10`].name or length(people). Returns {"result": ...}.'
    ),
    parameters={
        "type": "object",
        "properties": {
            "data": {"description": "The JSON data to query."},
            "expression": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_EXPRESSION_LENGTH,
                "description": "A JMESPath expression.",
            },
        },
        "required": ["data", "expression"],
        "additionalProperties": False,
    },
    func=json_query,
    result_schema={
        "type": "object",
        "properties": {"result": {"description": "What the expression selected (null if none)."}},
        "required": ["result"],
        "additionalProperties": False,
    },
)
