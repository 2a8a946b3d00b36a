"""The `json_query` tool: pick and reshape JSON data with a JMESPath expression."""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from .base import Tool, ToolContext, ToolError

MAX_EXPRESSION_LENGTH = 1000
MAX_MESSAGE_LENGTH = 300


def json_query(arguments: dict, context: ToolContext) -> dict[str, Any]:
    """Apply the expression to the data and return {"result": ...} (null when nothing matches)."""
    try:
        compiled = jmespath.compile(arguments["expression"])
        result = compiled.search(arguments["data"])
    except JMESPathError as exc:
        message = str(exc).strip() or type(exc).__name__
        if len(message) > MAX_MESSAGE_LENGTH:
            message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
        raise ToolError(
            "invalid_arguments",
            f"The JMESPath expression can't be used: {message}",
            details=[message],
        ) from None
    except RecursionError:
        raise ToolError(
            "invalid_arguments", "The data or expression is nested too deeply."
        ) from None
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
)
