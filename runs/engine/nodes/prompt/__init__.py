"""The prompt node: call a language model with templated messages (text or JSON; tools)."""

from __future__ import annotations

from typing import Any

from ... import semantic
from ...shapes import ANY, TEXT
from .. import flow_tools
from ..base import NodeConfig, NodeResult, NodeType, Port
from ..evaluator import check_rules
from .answer import (
    REPAIR_MESSAGE,
    _answer,
    _assistant_turn,
    _tool_result,
    parse_json_output,
    response_format,
)
from .config import PromptConfig
from .routing import (
    AUTO,
    ESCALATE_CODES,
    _candidates,
    _decide,
    _run_routed,
    is_routed,
)

__all__ = [
    "AUTO",
    "ESCALATE_CODES",
    "REPAIR_MESSAGE",
    "PromptConfig",
    "PromptNode",
    "_answer",
    "_assistant_turn",
    "_candidates",
    "_decide",
    "_tool_result",
    "is_routed",
    "parse_json_output",
    "response_format",
    "run_prompt",
]


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
    if ctx.resume:
        # Back from a flow tool's child run: the loop's saved state has the conversation.
        return _answer(ctx, config, [], {}, None)
    tools = ctx.tools.specs(config.tools) if config.tools else None
    if config.flow_tools:
        tools = (tools or []) + flow_tools.specs(ctx, config.flow_tools)
    if not config.semantic_cache:
        return _run_model(ctx, config, messages, call, tools)
    request = semantic.probe(ctx, config, messages, tools)
    # A routed prompt decides first: a hit is served only from a tier at or above the decided one.
    decided = _decide(ctx, config, messages) if is_routed(config) else None
    cached = semantic.cached_answer(ctx, config, request, check_rules, decided)
    if cached is not None:
        return cached
    spent = ctx.usage.cost
    result = _run_model(ctx, config, messages, call, tools, decided)
    if result.wait is None:  # a step waiting for a flow tool has no answer to keep yet
        semantic.remember(ctx, request, result, ctx.usage.cost - spent)
    return result


def _run_model(
    ctx: Any,
    config: PromptConfig,
    messages: list[dict[str, Any]],
    call: dict[str, Any],
    tools: list[dict[str, Any]] | None,
    decided: tuple[Any, list[Any]] | None = None,
) -> NodeResult:
    if not is_routed(config):
        return _answer(ctx, config, list(messages), call, tools)
    return _run_routed(ctx, config, messages, call, tools, decided)


class PromptNode(NodeType):
    """Call a language model with templated messages. Text or JSON output; may call tools."""

    type = "prompt"

    @classmethod
    def tool_calls(
        cls, config: NodeConfig, arguments: dict[str, Any] | None
    ) -> list[tuple[str, dict[str, Any] | None]]:
        return [(name, None) for name in getattr(config, "tools", None) or []]

    @classmethod
    def called_flows(cls, config: NodeConfig) -> list[tuple[str, int, int | None]]:
        return [("flow_tools", t.flow, t.pinned) for t in getattr(config, "flow_tools", [])]

    @classmethod
    def design_problems(cls, config, tool_names) -> list[tuple[str, str, str]]:
        return flow_tools.name_problems(config.flow_tools, tool_names, list(config.tools))

    label = "Prompt"
    category = "AI"
    Config = PromptConfig
    error_port = Port("error", "Error", required=False)
    retry_model_field = "model"

    @classmethod
    def typed_output_schema(cls, config) -> dict[str, Any] | None:
        if config.output_format == "text":
            return {"type": "string"}
        return config.json_schema or {}

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [("system", config.system), ("prompt", config.prompt)]

    @classmethod
    def output_schema(cls, config, scope) -> dict[str, Any]:
        own = TEXT if config.output_format == "text" else config.json_schema or ANY
        return cls.with_error_shape(config, own)

    @classmethod
    def answers_from_cache(cls, config) -> bool:
        return bool(config.semantic_cache)

    @classmethod
    def routing(cls, config) -> dict[str, Any] | None:
        if not is_routed(config):
            return None
        return {"candidates": list(config.candidates), "max_tier": config.max_tier}

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        return run_prompt(ctx)
