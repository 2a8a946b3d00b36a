from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .base import NodeConfig, NodeType

OTHERWISE = "otherwise"
ROUTE_NAME = r"^[a-z][a-z0-9_]{0,39}$"

Operator = Literal[
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "greater_than",
    "less_than",
    "is_empty",
    "is_not_empty",
    "matches",
    "in",
]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        ...,
        min_length=1,
        max_length=300,
        title="Field",
        description="A data path, e.g. nodes.pantry.output.missing or inputs.topic",
    )
    operator: Operator = Field("equals", title="Operator")
    value: Any = Field(None, title="Value")


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=ROUTE_NAME, title="Route name (the output port)")
    description: str = Field("", max_length=2_000, title="When to take it")
    match: Literal["all", "any"] = Field("all", title="Match")
    conditions: list[Condition] = Field(default_factory=list, max_length=50)


class RouterConfig(NodeConfig):
    mode: Literal["rules", "llm"] = Field("rules", title="Mode")
    routes: list[Route] = Field(..., min_length=1, max_length=20, title="Routes")
    model: str = Field("", max_length=200, title="Model (LLM mode)")
    prompt: str = Field(
        "",
        max_length=50_000,
        title="Text to classify (LLM mode)",
        json_schema_extra={"format": "template"},
    )
    timeout_seconds: float = Field(60, gt=0, le=900, title="Timeout (s)")

    @model_validator(mode="after")
    def _routes_are_distinct(self) -> RouterConfig:
        names = [route.name for route in self.routes]
        if len(set(names)) != len(names):
            raise ValueError("route names must be unique")
        if OTHERWISE in names:
            raise ValueError('"otherwise" is added automatically; do not name a route that')
        if self.mode == "llm" and not self.prompt:
            raise ValueError("LLM mode needs the text to classify (prompt)")
        return self


class RouterNode(NodeType):
    """Send the flow down one branch: by rules on the data, or by a model choosing a route."""

    type = "router"
    label = "Router"
    category = "Logic"
    outputs = ()
    Config = RouterConfig

    @classmethod
    def output_ports(cls, config) -> list[str]:
        if config is None:
            return [OTHERWISE]
        return [route.name for route in config.routes] + [OTHERWISE]

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [("prompt", config.prompt)] if config.prompt else []

    @classmethod
    def references(cls, config) -> list[tuple[str, str]]:
        return [
            (f"routes[{i}].conditions[{j}].field", cond.field)
            for i, route in enumerate(config.routes)
            for j, cond in enumerate(route.conditions)
        ]
