from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from .base import NodeConfig, NodeResult, NodeType, Port
from .checks import check_json_schema

DEFAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"question": {"type": "string", "title": "Question"}},
    "required": ["question"],
}


class InputConfig(NodeConfig):
    schema_: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_SCHEMA),
        alias="schema",
        title="Input schema",
        description="JSON schema of the run inputs (an object); it drives the run form.",
    )
    sample: dict[str, Any] = Field(
        default_factory=dict, title="Sample inputs", description="Default inputs for test runs."
    )

    model_config = NodeConfig.model_config | {"populate_by_name": True}

    @field_validator("schema_")
    @classmethod
    def _object_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_json_schema(value)
        if value.get("type") != "object":
            raise ValueError('the input schema must have "type": "object"')
        return value

    def field_names(self) -> list[str]:
        return list((self.schema_.get("properties") or {}).keys())


class InputNode(NodeType):
    """The run's inputs. Define their fields as a JSON schema; every run is checked against it."""

    type = "input"
    provides_inputs = True
    label = "Input"
    category = "Flow"
    inputs = ()
    outputs = (Port("out", "Inputs"),)
    Config = InputConfig

    @classmethod
    def output_schema(cls, config, scope) -> dict[str, Any]:
        return config.schema_

    def run(self, ctx, inputs: dict[str, Any]) -> NodeResult:
        return NodeResult(output=dict(ctx.run_inputs))
