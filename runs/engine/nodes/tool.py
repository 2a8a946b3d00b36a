from __future__ import annotations

from typing import Any

from pydantic import Field

from ..shapes import ANY, ERROR_OUTPUT, union
from .base import NodeConfig, NodeError, NodeResult, NodeType, Port


class ToolConfig(NodeConfig):
    tool: str = Field(..., min_length=1, max_length=100, title="Tool")
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        title="Arguments",
        description="Argument values; strings may use templates like {{ inputs.city }}, and "
        "credentials like {{ secrets.weather_api }} (never stored with the step).",
    )


def _string_leaves(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _string_leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _string_leaves(v, f"{path}[{i}]")]
    return []


def _typed_leaves(value: Any, schema: Any, path: str = "arguments") -> list[tuple[str, str, Any]]:
    """Return (field, template, schema it must fit) for each text inside the arguments."""
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, str):
        return [(path, value, schema)]
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return [
            leaf
            for key, item in value.items()
            for leaf in _typed_leaves(item, properties.get(key, extra), f"{path}.{key}")
        ]
    if isinstance(value, list):
        items = schema.get("items")
        return [
            leaf
            for i, item in enumerate(value)
            for leaf in _typed_leaves(item, items, f"{path}[{i}]")
        ]
    return []


class ToolNode(NodeType):
    """Call a registered tool with templated arguments. Errors go out of the error port."""

    type = "tool"
    uses_secrets = True

    @classmethod
    def tool_calls(
        cls, config: NodeConfig, arguments: dict[str, Any] | None
    ) -> list[tuple[str, dict[str, Any] | None]]:
        # A step lost in flight never recorded its rendered arguments: judge the configured
        # ones (an unrendered template in, say, an HTTP method is not "GET": not idempotent).
        configured = getattr(config, "arguments", None) or {}
        return [(getattr(config, "tool", ""), arguments or configured)]

    label = "Tool"
    category = "Actions"
    outputs = (Port("out", "Result"), Port("error", "Error", required=False))
    Config = ToolConfig

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return _string_leaves(config.arguments, "arguments")

    @classmethod
    def output_schema(cls, config, scope) -> dict[str, Any]:
        tool = scope.tool(config.tool)
        # Taking the error port, the output is the error instead of the result.
        return union([tool.result or ANY if tool else ANY, ERROR_OUTPUT])

    @classmethod
    def typed_templates(cls, config, scope) -> list[tuple[str, str, dict[str, Any]]]:
        tool = scope.tool(config.tool)
        if tool is None:
            return []
        return [
            (field, text, expected)
            for field, text, expected in _typed_leaves(config.arguments, tool.parameters)
            if expected
        ]

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        arguments = _render_arguments(ctx, ctx.config.arguments)
        ctx.rendered["arguments"] = arguments
        try:
            result = ctx.call_tool(ctx.config.tool, arguments)
        except NodeError as exc:
            raise NodeError(exc.message, code=exc.code, port="error") from exc
        return NodeResult(output=result, ports=["out"])


def _render_arguments(ctx: Any, value: Any) -> Any:
    if isinstance(value, str):
        return ctx.render_value(value)
    if isinstance(value, dict):
        return {key: _render_arguments(ctx, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_arguments(ctx, item) for item in value]
    return value
