from __future__ import annotations

from typing import Any

from pydantic import Field

from ..shapes import TEXT, closed_object
from .base import NodeConfig, NodeResult, NodeType, Port


class OutputConfig(NodeConfig):
    name: str = Field(
        "result",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        title="Result name",
    )
    value: str = Field(
        "",
        max_length=20_000,
        title="Value template",
        description="Leave empty to pass the incoming value through.",
        json_schema_extra={"format": "template"},
    )


class OutputNode(NodeType):
    """The run's result. Names it, and optionally shapes it with a template."""

    type = "output"
    produces_result = True
    label = "Output"
    category = "Flow"
    inputs = (Port("in", "Value"),)
    outputs = ()
    Config = OutputConfig

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [("value", config.value)] if config.value else []

    @classmethod
    def output_schema(cls, config, scope) -> dict[str, Any]:
        value = TEXT if config.value else scope.incoming("in")
        return closed_object({config.name: value}, [config.name])

    def run(self, ctx, inputs: dict[str, Any]) -> NodeResult:
        value = ctx.render(ctx.config.value) if ctx.config.value else inputs.get("in")
        return NodeResult(output={ctx.config.name: value})
