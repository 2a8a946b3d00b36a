from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from ..schemas import SchemaCheckFailed, validation_errors
from ..shapes import ANY, TEXT
from .base import NodeConfig, NodeError, NodeResult, NodeType
from .checks import check_json_schema


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

    @field_validator("json_schema")
    @classmethod
    def _schema_is_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_json_schema(value) if value is not None else None

    on_truncation: Literal["fail", "keep"] = Field(
        "fail",
        title="When the reply hits Max tokens",
        description="fail: the step fails with reason truncated; keep: keep the partial text.",
    )


REPAIR_MESSAGE = (
    "Your reply was not valid: {error}. Reply again with only a JSON document that satisfies "
    "the required schema, and nothing else."
)


def response_format(config: PromptConfig) -> dict[str, Any] | None:
    if config.output_format != "json":
        return None
    if config.json_schema:
        return {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": config.json_schema, "strict": False},
        }
    return {"type": "json_object"}


def parse_json_output(text: str, schema: dict[str, Any] | None) -> tuple[Any, str | None]:
    """Return (value, None) for valid JSON output, or (None, a readable reason).

    A schema that can't be checked (over its time, a `$ref` to outside it) fails the step.
    """
    candidate = text.strip()
    if candidate.startswith("```"):
        candidate = candidate.strip("`").removeprefix("json").strip()
    try:
        # strict=False: small models (and grammars that allow any character in a string) emit raw
        # newlines and tabs inside strings; the document means the same with them escaped.
        value = json.loads(candidate, strict=False)
    except json.JSONDecodeError as exc:
        return None, f"it is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if schema:
        try:
            problems = validation_errors(schema, value)
        except SchemaCheckFailed as exc:
            raise NodeError(
                f"The output JSON schema could not be checked: {exc}.", code="schema_check_failed"
            ) from exc
        if problems:
            where = "/".join(str(p) for p in problems[0].absolute_path) or "the document"
            return None, f"{where}: {problems[0].message}"
    return value, None


def _assistant_turn(response: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": response.content or "",
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in response.tool_calls
        ],
    }


def run_prompt(ctx: Any) -> NodeResult:
    """Run the model (and its tool calls) for a prompt node's step."""
    config: PromptConfig = ctx.config
    messages: list[dict[str, Any]] = []
    if config.system:
        messages.append({"role": "system", "content": ctx.render(config.system, "system")})
    messages.append({"role": "user", "content": ctx.render(config.prompt, "prompt")})
    call = {
        "model": config.model,
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "timeout": config.timeout_seconds,
        "retries": config.retries,
        "fallback_models": config.fallback_models,
        "response_format": response_format(config),
        "cache": config.cache,
        "keep_truncated": config.on_truncation == "keep" and config.output_format == "text",
    }
    tools = ctx.tools.specs(config.tools) if config.tools else None
    for _round in range(config.max_tool_rounds + 1):
        response = ctx.chat(messages=messages, tools=tools, **call)
        if not response.tool_calls:
            break
        if _round == config.max_tool_rounds:
            raise NodeError(
                f"The model was still calling tools after {config.max_tool_rounds} rounds.",
                code="tool_rounds_exceeded",
            )
        messages.append(_assistant_turn(response))
        for tool_call in response.tool_calls:
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": tool_call.id,
                    "content": json.dumps(_tool_result(ctx, config, tool_call), default=str),
                }
            )
    text = response.content or ""
    if config.output_format == "text":
        return NodeResult(output=text)
    value, problem = parse_json_output(text, config.json_schema)
    if problem is not None:
        # One repair round: show the model what was wrong and ask again.
        messages.append({"role": "assistant", "content": text})
        messages.append({"role": "user", "content": REPAIR_MESSAGE.format(error=problem)})
        ctx.details["json_repair"] = problem
        response = ctx.chat(messages=messages, tools=None, **call)
        value, problem = parse_json_output(response.content or "", config.json_schema)
        if problem is not None:
            raise NodeError(
                f"The model's output was not valid JSON: {problem}", code="invalid_json"
            )
    return NodeResult(output=value)


def _tool_result(ctx: Any, config: PromptConfig, tool_call: Any) -> Any:
    if tool_call.name not in config.tools:
        return {"error": f'No tool named "{tool_call.name}" is available.'}
    try:
        return ctx.call_tool(tool_call.name, tool_call.arguments)
    except NodeError as exc:
        # The model sees the tool's error and may recover; the step does not fail.
        return {"error": exc.message}


class PromptNode(NodeType):
    """Call a language model with templated messages. Text or JSON output; may call tools."""

    type = "prompt"

    @classmethod
    def tool_calls(
        cls, config: NodeConfig, arguments: dict[str, Any] | None
    ) -> list[tuple[str, dict[str, Any] | None]]:
        return [(name, None) for name in getattr(config, "tools", None) or []]

    label = "Prompt"
    category = "AI"
    Config = PromptConfig

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [("system", config.system), ("prompt", config.prompt)]

    @classmethod
    def output_schema(cls, config, scope) -> dict[str, Any]:
        if config.output_format == "text":
            return TEXT
        return config.json_schema or ANY

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        return run_prompt(ctx)
