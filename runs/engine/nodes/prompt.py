from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import NodeConfig, NodeType


class PromptConfig(NodeConfig):
    model: str = Field(
        "",
        max_length=200,
        title="Model",
        description="provider/model, e.g. openai/gpt-4o-mini. Empty: the workspace default.",
    )
    system: str = Field(
        "", max_length=100_000, title="System message", json_schema_extra={"format": "template"}
    )
    prompt: str = Field(
        ...,
        min_length=1,
        max_length=100_000,
        title="User message",
        json_schema_extra={"format": "template"},
    )
    temperature: float = Field(0.7, ge=0, le=2, title="Temperature")
    max_tokens: int = Field(512, ge=1, le=65_536, title="Max tokens")
    timeout_seconds: float = Field(60, gt=0, le=900, title="Timeout (s)")
    retries: int = Field(2, ge=0, le=10, title="Retries")
    fallback_models: list[str] = Field(default_factory=list, max_length=5, title="Fallback models")
    output_format: Literal["text", "json"] = Field("text", title="Output format")
    json_schema: dict[str, Any] | None = Field(
        None, title="Output JSON schema", description="Checked when the output format is JSON."
    )
    tools: list[str] = Field(default_factory=list, max_length=20, title="Tools the model may call")
    max_tool_rounds: int = Field(5, ge=1, le=20, title="Max tool rounds")
    cache: bool = Field(False, title="Cache responses")


class PromptNode(NodeType):
    """Call a language model with templated messages. Text or JSON output; may call tools."""

    type = "prompt"
    label = "Prompt"
    category = "AI"
    Config = PromptConfig

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [("system", config.system), ("prompt", config.prompt)]
