"""The tool registry: named, schema-checked callables that flows call.

Tool nodes call them with templated arguments and prompt nodes offer them to the model through
function calling. Names are stable slugs: saved graphs refer to them. The built-in tools are
registered here, explicitly.
"""

from . import calculator, current_time, http_request, json_query, pantry
from .base import (
    ERROR_CODES,
    Tool,
    ToolContext,
    ToolError,
    ToolRegistry,
    call_tool,
    openai_tool_specs,
    registry,
)

for _module in (http_request, json_query, calculator, current_time, pantry):
    registry.register(_module.TOOL)

__all__ = [
    "ERROR_CODES",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "call_tool",
    "openai_tool_specs",
    "registry",
]
