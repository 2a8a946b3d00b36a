from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .base import NodeConfig, NodeType, Port


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["json_schema", "regex", "min_length", "max_length", "contains", "not_contains"]
    value: Any = Field(..., title="Value")
    message: str = Field("", max_length=500, title="Feedback when it fails")


class EvaluatorConfig(NodeConfig):
    mode: Literal["rules", "llm"] = Field("rules", title="Mode")
    target: str = Field(
        "",
        max_length=20_000,
        title="What to evaluate",
        description="A template; empty means the incoming value.",
        json_schema_extra={"format": "template"},
    )
    rules: list[Rule] = Field(default_factory=list, max_length=50, title="Rules")
    model: str = Field("", max_length=200, title="Judge model (LLM mode)")
    criteria: str = Field("", max_length=20_000, title="Criteria (LLM mode)")
    threshold: float = Field(0.7, ge=0, le=1, title="Pass threshold")
    max_attempts: int = Field(3, ge=1, le=10, title="Max attempts")
    timeout_seconds: float = Field(60, gt=0, le=900, title="Timeout (s)")

    @model_validator(mode="after")
    def _mode_has_what_it_needs(self) -> EvaluatorConfig:
        if self.mode == "rules" and not self.rules:
            raise ValueError("rules mode needs at least one rule")
        if self.mode == "llm" and not self.criteria:
            raise ValueError("LLM mode needs criteria")
        return self


class EvaluatorNode(NodeType):
    """Score an upstream output by rules or a judge model. On fail, loop back with feedback."""

    type = "evaluator"
    label = "Evaluator"
    category = "Logic"
    outputs = (Port("pass", "Pass"), Port("fail", "Fail", required=False))
    Config = EvaluatorConfig

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [("target", config.target)] if config.target else []
