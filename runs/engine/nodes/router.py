from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..shapes import TEXT, closed_object
from ..templates import resolve_path
from .base import NodeConfig, NodeResult, NodeType
from .checks import check_pattern

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

    @model_validator(mode="after")
    def _pattern_compiles(self) -> Condition:
        if self.operator == "matches":
            check_pattern(self.value)
        if self.operator == "in" and not isinstance(self.value, list):
            raise ValueError('"in" needs a list of values')
        return self


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
    dynamic_outputs = True
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
    def output_schema(cls, config, scope) -> dict[str, Any]:
        route = {"type": "string", "enum": cls.output_ports(config)}
        return closed_object({"route": route, "reason": TEXT}, ["route", "reason"])

    @classmethod
    def references(cls, config) -> list[tuple[str, str]]:
        return [
            (f"routes[{i}].conditions[{j}].field", cond.field)
            for i, route in enumerate(config.routes)
            for j, cond in enumerate(route.conditions)
        ]

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        config: RouterConfig = ctx.config
        if config.mode == "llm":
            return _classify(ctx, config)
        for route in config.routes:
            matched = [_holds(cond, ctx.variables) for cond in route.conditions]
            if matched and (all(matched) if route.match == "all" else any(matched)):
                reason = f"{route.match} of {len(matched)} condition(s) held"
                return _decision(route.name, reason)
        return _decision(OTHERWISE, "no route's conditions held")


def _decision(route: str, reason: str) -> NodeResult:
    return NodeResult(
        output={"route": route, "reason": reason},
        ports=[route],
        details={"route": route, "reason": reason},
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _holds(condition: Condition, data: dict[str, Any]) -> bool:
    """Evaluate one structured condition. Data, operators and values only: nothing executes."""
    try:
        actual = resolve_path(condition.field, data)
    except KeyError:
        actual = None
    expected = condition.value
    op = condition.operator
    if op == "is_empty":
        return actual in (None, "", [], {})
    if op == "is_not_empty":
        return actual not in (None, "", [], {})
    if op in ("equals", "not_equals"):
        same = actual == expected or (
            _number(actual) is not None and _number(actual) == _number(expected)
        )
        return same if op == "equals" else not same
    if op in ("greater_than", "less_than"):
        a, b = _number(actual), _number(expected)
        if a is None or b is None:
            return False
        return a > b if op == "greater_than" else a < b
    if op in ("contains", "not_contains"):
        if isinstance(actual, str):
            found = str(expected).lower() in actual.lower()
        elif isinstance(actual, (list, dict)):
            found = expected in actual
        else:
            found = False
        return found if op == "contains" else not found
    if op == "in":
        return isinstance(expected, list) and actual in expected
    if op == "matches":
        return _matches(str(expected), actual)
    return False


def _matches(pattern: str, actual: Any) -> bool:
    import regex

    try:
        return regex.search(pattern, str(actual), timeout=0.5) is not None
    except (regex.error, TimeoutError):
        return False


CHOOSE_ROUTE = "choose_route"


def _classify(ctx: Any, config: RouterConfig) -> NodeResult:
    names = [route.name for route in config.routes] + [OTHERWISE]
    catalogue = "\n".join(
        f"- {route.name}: {route.description or route.name}" for route in config.routes
    )
    text = ctx.render(config.prompt, "prompt")
    tool = {
        "type": "function",
        "function": {
            "name": CHOOSE_ROUTE,
            "description": "Choose the route that fits the text.",
            "parameters": {
                "type": "object",
                "properties": {
                    "route": {"type": "string", "enum": names},
                    "reason": {"type": "string"},
                },
                "required": ["route", "reason"],
            },
        },
    }
    messages = [
        {
            "role": "system",
            "content": "Classify the user's text into exactly one route. Routes:\n"
            f"{catalogue}\n- {OTHERWISE}: none of the above fits.",
        },
        {"role": "user", "content": text},
    ]
    response = ctx.chat(
        model=config.model,
        messages=messages,
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": CHOOSE_ROUTE}},
        temperature=0,
        max_tokens=200,
        timeout=config.timeout_seconds,
        stream=False,
    )
    call = next((c for c in response.tool_calls if c.name == CHOOSE_ROUTE), None)
    route = call.arguments.get("route") if call else None
    reason = str(call.arguments.get("reason", "")) if call else ""
    if route not in names:
        reason = f"the model answered {route!r}, which is not a route; took {OTHERWISE}"
        route = OTHERWISE
    return _decision(str(route), reason)
