"""The agent node's configuration. Model settings are the prompt node's own fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ..base import FailureConfig
from ..checks import check_json_schema
from ..evaluator import Rule
from ..flow_tools import FlowTool
from ..prompt import PromptConfig


def _prompt(name: str) -> Any:
    """The Prompt node's field `name`, reused as it is (title, bounds, help)."""
    return PromptConfig.model_fields[name]


class AgentConfig(FailureConfig):
    goal: str = Field(
        ...,
        min_length=1,
        max_length=100_000,
        title="Goal",
        description="What the agent must achieve, e.g. Find the cheapest flight to "
        "{{ inputs.city }}. The critique judges the answer against it.",
        json_schema_extra={"format": "template"},
    )
    instructions: str = Field(
        "",
        max_length=100_000,
        title="Instructions",
        description="How to work: tone, constraints, what to check first (the system message).",
        json_schema_extra={"format": "template"},
    )
    model: str = _prompt("model")
    tools: list[str] = Field(
        default_factory=list,
        max_length=20,
        title="Tools the agent may call",
        description="Built-in tools by name.",
    )
    flow_tools: list[FlowTool] = Field(
        default_factory=list,
        max_length=10,
        title="Flows the agent may call",
        description="Published flows offered as tools; a flow's inputs are the tool's "
        "arguments, and its result is the tool's answer.",
    )
    knowledge_bases: list[str] = Field(
        default_factory=list,
        max_length=10,
        title="Knowledge bases it may search",
        description="Names of knowledge bases in this workspace, offered as one search tool.",
    )
    top_k: int = Field(5, ge=1, le=50, title="Passages per search")
    max_rounds: int = Field(
        6,
        ge=1,
        le=50,
        title="Max rounds",
        description="Model turns before the agent gives up (error type max_rounds). The run's "
        "token, cost and time budgets stop it too (error type budget).",
    )
    reflection: Literal["none", "critique", "rules"] = Field(
        "none",
        title="Reflection",
        description="When the agent says it is done: none: accept the answer; critique: a "
        "reviewer model judges it against the goal; rules: checks like an evaluator's. A "
        "rejected answer goes back to the agent with the feedback.",
    )
    criteria: str = Field(
        "",
        max_length=20_000,
        title="Critique criteria",
        description="Extra criteria for the reviewer, beyond meeting the goal.",
        json_schema_extra={"format": "template"},
    )
    critique_model: str = Field(
        "",
        max_length=200,
        title="Critique model",
        description="provider/model of the reviewer. Empty: the agent's model.",
    )
    rules: list[Rule] = Field(
        default_factory=list,
        max_length=20,
        title="Checks (rules)",
        description="With reflection rules: each must pass for the answer to be accepted.",
    )
    output_format: Literal["text", "json"] = _prompt("output_format")
    json_schema: dict[str, Any] | None = _prompt("json_schema")
    temperature: float = _prompt("temperature")
    max_tokens: int = _prompt("max_tokens")
    timeout_seconds: float = _prompt("timeout_seconds")
    retries: int = _prompt("retries")
    fallback_models: list[str] = _prompt("fallback_models")
    cache: bool = _prompt("cache")
    candidates: list[str] = _prompt("candidates")
    max_tier: Literal["", "small", "medium", "large"] = _prompt("max_tier")
    confidence_floor: float = _prompt("confidence_floor")

    @field_validator("json_schema")
    @classmethod
    def _schema_is_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_json_schema(value) if value is not None else None

    @field_validator("knowledge_bases")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [name.strip() for name in value]
        if any(not name or len(name) > 120 for name in names):
            raise ValueError("each knowledge base is a name of 1 to 120 characters")
        return list(dict.fromkeys(names))
