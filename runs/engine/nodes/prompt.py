from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, Literal

from pydantic import Field, field_validator

from .. import semantic
from ..learned_routing import route_learned
from ..routing import NoCandidate, RouteRequest, cascade_ladder, count_tokens, route
from ..schemas import SchemaCheckFailed, validation_errors
from ..shapes import ANY, TEXT
from .base import FailureConfig, NodeConfig, NodeError, NodeResult, NodeType, Port
from .checks import check_json_schema
from .evaluator import Rule, check_rules


class PromptConfig(FailureConfig):
    model: str = Field(
        "",
        max_length=200,
        title="Model",
        description=(
            "provider/model, e.g. openai/gpt-4o-mini; auto: chosen per request by tier and "
            "price (see Candidate models). Empty: the workspace default."
        ),
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
    semantic_cache: bool = Field(
        False,
        title="Semantic cache",
        description="Answer from a past request that meant the same (same configuration, "
        "similar user message), at no model cost.",
    )
    semantic_similarity: float = Field(
        0.95,
        ge=0.5,
        le=1,
        title="Semantic cache: similarity",
        description="How close (cosine, 0.5–1) a past request must be to count as the same.",
    )
    semantic_ttl_seconds: int = Field(
        86_400, ge=60, le=90 * 86_400, title="Semantic cache: keep answers for (s)"
    )
    semantic_scope: Literal["flow", "workspace"] = Field(
        "flow",
        title="Semantic cache: shared with",
        description="flow: this flow's runs only; workspace: every flow of the workspace "
        "whose node is configured the same way.",
    )
    candidates: list[str] = Field(
        default_factory=list,
        max_length=20,
        title="Candidate models (auto)",
        description="With model auto: the models the router may pick. Empty: every model.",
    )
    max_tier: Literal["", "small", "medium", "large"] = Field(
        "", title="Highest tier (auto)", description="The strongest tier auto may pick."
    )
    confidence_floor: float = Field(
        0.0,
        ge=0,
        le=1,
        title="Confidence floor (auto)",
        description="Below this confidence the router takes the strongest allowed model.",
    )
    learned_router: bool = Field(
        True,
        title="Learned router (auto)",
        description="When the workspace has a trained router, it picks the tier from past "
        "labelled runs; off, or with none trained: the rules-based baseline.",
    )
    self_assessment: bool = Field(
        False,
        title="Ask the small model first (auto)",
        description="Before the rules-based router decides, the cheapest candidate rates from "
        "0 to 10 how surely it can answer (one short call); a low rating sends the request up.",
    )
    cascade: bool = Field(
        True,
        title="Escalate on failure (auto)",
        description="Retry on the next tier when the answer fails its schema or evaluator.",
    )
    cascade_from: Literal["routed", "cheapest"] = Field(
        "routed",
        title="Cascade starts at (auto)",
        description="routed: the model the router picks; cheapest: the cheapest candidate, "
        "whatever the router thinks (the cascade then climbs the tiers on failure).",
    )
    escalate_on: list[Rule] = Field(
        default_factory=list,
        max_length=20,
        title="Escalate unless (auto)",
        description="Checks on the answer (as an evaluator's rules); one failing sends the "
        "same request to the next tier. At the top tier the answer is kept.",
    )

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


AUTO = "auto"
#: Failures of a cheap model's answer that a stronger tier may not make (cascade on these).
ESCALATE_CODES = frozenset({"invalid_json", "malformed_tool_call", "truncated", "refusal"})


def is_routed(config: Any) -> bool:
    """True when the router picks the model: `auto`, or a list of candidates.

    `config` is a prompt's or an agent's (they share the model fields)."""
    return config.model.strip().lower() == AUTO or (
        bool(config.candidates) and not config.model.strip()
    )


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
    if not config.semantic_cache:
        return _run_model(ctx, config, messages, call, tools)
    request = semantic.probe(ctx, config, messages, tools)
    cached = semantic.cached_answer(ctx, config, request, check_rules)
    if cached is not None:
        return cached
    spent = ctx.usage.cost
    result = _run_model(ctx, config, messages, call, tools)
    semantic.remember(ctx, request, result, ctx.usage.cost - spent)
    return result


def _run_model(
    ctx: Any,
    config: PromptConfig,
    messages: list[dict[str, Any]],
    call: dict[str, Any],
    tools: list[dict[str, Any]] | None,
) -> NodeResult:
    if not is_routed(config):
        return _answer(ctx, config, list(messages), call, tools)
    return _run_routed(ctx, config, messages, call, tools)


def _run_routed(
    ctx: Any,
    config: PromptConfig,
    messages: list[dict[str, Any]],
    call: dict[str, Any],
    tools: list[dict[str, Any]] | None,
) -> NodeResult:
    """Route the request to a model, then cascade up the tiers while its answer fails."""
    decision, catalogue = _decide(ctx, config, messages)
    strongest = next((m for m in catalogue if m.name == decision.ladder[-1]), None)
    routing = decision.to_dict()
    ladder = decision.ladder if config.cascade else decision.ladder[:1]
    # An evaluator that sent this step back (a retry loop) asks for the next tier each pass.
    start = min(ctx.iteration, len(ladder) - 1) if config.cascade else 0
    if start:
        routing["reasons"].append(
            f"sent back {ctx.iteration} time(s) by an evaluator: {len(ladder[:start])} tier(s) up"
        )
    routing["attempts"] = []
    ctx.details["routing"] = routing
    for index in range(start, len(ladder)):
        model = ladder[index]
        routing["chose"] = model
        routing["tier"] = decision.tiers.get(model, routing["tier"])
        spent = ctx.usage.cost
        tokens = (ctx.usage.tokens_in, ctx.usage.tokens_out)
        attempt = {"model": model, "tier": routing["tier"]}
        routing["attempts"].append(attempt)
        try:
            result = _answer(ctx, config, list(messages), {**call, "model": model}, tools)
        except NodeError as exc:
            attempt.update(_spend(ctx, spent, tokens), outcome=exc.code)
            if exc.code in ESCALATE_CODES and index + 1 < len(ladder):
                routing["reasons"].append(f"{model} failed ({exc.code}): the next tier")
                continue
            raise
        attempt.update(_spend(ctx, spent, tokens))
        _counterfactual(routing, strongest, attempt)
        passed, _score, feedback = check_rules(config.escalate_on, result.output)
        if passed or not config.escalate_on:
            attempt["outcome"] = "ok"
            return result
        attempt["outcome"] = "checks_failed"
        attempt["feedback"] = feedback
        if index + 1 < len(ladder):
            routing["reasons"].append(f"{model}'s answer failed its checks ({feedback})")
            continue
        routing["reasons"].append(f"the top tier's answer failed its checks too; kept ({feedback})")
        return result
    raise AssertionError("unreachable: the ladder has at least one model")


def _counterfactual(routing: dict[str, Any], strongest: Any, kept: dict[str, Any]) -> None:
    """Record what the answer kept would have cost on the strongest model the node allows (the
    model an always-strongest node would call): its tokens at that model's catalogue price."""
    if strongest is None:
        return
    routing["strongest"] = strongest.name
    routing["strongest_cost"] = round(
        (kept["tokens_in"] * strongest.input_price + kept["tokens_out"] * strongest.output_price)
        / 1_000_000,
        8,
    )


def _spend(ctx: Any, cost: float, tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "cost": round(ctx.usage.cost - cost, 8),
        "tokens_in": ctx.usage.tokens_in - tokens[0],
        "tokens_out": ctx.usage.tokens_out - tokens[1],
    }


def _candidates(ctx: Any, config: Any) -> list[Any]:
    """The catalogue models the router may pick for this node."""
    catalogue = ctx.catalogue()
    if config.candidates:
        by_name = {m.name: m for m in catalogue}
        unknown = [name for name in config.candidates if name not in by_name]
        if unknown:
            raise NodeError(
                f"Candidate model(s) not in the workspace's catalogue: {', '.join(unknown)}.",
                code="unknown_candidate",
            )
        catalogue = [by_name[name] for name in dict.fromkeys(config.candidates)]
    if not catalogue:
        raise NodeError(
            "The model is auto, but no model is configured in this workspace to choose from.",
            code="no_route",
        )
    return catalogue


def _decide(ctx: Any, config: Any, messages: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
    """Pick the model: the learned router when the workspace has one, else the baseline."""
    catalogue = _candidates(ctx, config)
    text = "\n\n".join(str(m["content"]) for m in messages)
    request = RouteRequest(
        text=text,
        tokens=count_tokens(text),  # once: the learned router and the decision both read it
        max_tokens=config.max_tokens,
        json_schema=config.json_schema,
        json_output=config.output_format == "json",
        tools=len(config.tools),
    )
    scores = ctx.route_scores(request) if getattr(config, "learned_router", False) else None
    try:
        if scores and scores.get("probabilities"):
            learned = route_learned(
                request,
                catalogue,
                scores["probabilities"],
                max_tier=config.max_tier or None,
                confidence_floor=config.confidence_floor,
                about=str(scores.get("about") or ""),
            )
            return _cascade_start(config, learned, catalogue, request), catalogue
        rating, problem = _self_rating(ctx, config, catalogue, text)
        decision = route(
            request,
            catalogue,
            max_tier=config.max_tier or None,
            confidence_floor=config.confidence_floor,
            self_rating=rating,
        )
    except NoCandidate as exc:
        raise NodeError(exc.message, code=exc.code) from exc
    if problem:
        decision.reasons.append(problem)
    if scores and scores.get("unavailable"):
        decision.reasons.append(f"the learned router was unavailable ({scores['unavailable']})")
    return _cascade_start(config, decision, catalogue, request), catalogue


def _cascade_start(config: Any, decision: Any, catalogue: list[Any], request: Any) -> Any:
    if config.cascade and getattr(config, "cascade_from", "") == "cheapest":
        needed = len(request.text) // 4 + config.max_tokens
        return _from_cheapest(decision, catalogue, needed)
    return decision


SELF_ASSESSMENT = (
    "Before anyone answers the request below, rate from 0 to 10 how confident you are that you "
    "can answer it correctly and completely (0: not at all, 10: certain). Reply with the number "
    "only."
)
_RATING = re.compile(r"\b(10|[0-9])\b")


def _self_rating(
    ctx: Any, config: PromptConfig, catalogue: list[Any], text: str
) -> tuple[int | None, str | None]:
    """Ask the cheapest candidate to rate its confidence (recorded like every model call)."""
    if not getattr(config, "self_assessment", False):
        return None, None
    small = min(catalogue, key=lambda m: (m.rank, m.input_price + m.output_price, m.name))
    try:
        reply = ctx.chat(
            model=small.name,
            messages=[
                {"role": "system", "content": SELF_ASSESSMENT},
                {"role": "user", "content": text},
            ],
            max_tokens=8,
            temperature=0,
            timeout=config.timeout_seconds,
            retries=0,
            stream=False,
            keep_truncated=True,  # "Confidence: 8…" cut short still says 8
        )
    except NodeError as exc:
        return None, f"the self-assessment failed ({exc.code}): not counted"
    found = _RATING.search(reply.content or "")
    if found is None:
        return None, f"the self-assessment was not a number (“{(reply.content or '')[:20]}”)"
    return int(found.group(1)), None


def _from_cheapest(decision: Any, catalogue: list[Any], needed: int) -> Any:
    """Start the cascade at the cheapest allowed model instead of the routed one."""
    allowed = [m for m in catalogue if m.name in set(decision.candidates)]
    fitting = [m for m in allowed if not m.context_window or m.context_window >= needed]
    start = min(fitting or allowed, key=lambda m: (m.rank, m.output_price, m.input_price))
    if start.name == decision.chose:
        return decision
    ladder = cascade_ladder(fitting or allowed, start, needed)
    reason = f"cascade from the cheapest model (the router chose {decision.chose})"
    return replace(
        decision,
        chose=start.name,
        tier=start.tier,
        reasons=[*decision.reasons, reason],
        ladder=[m.name for m in ladder],
        tiers={m.name: m.tier for m in ladder},
    )


def _answer(
    ctx: Any,
    config: PromptConfig,
    messages: list[dict[str, Any]],
    call: dict[str, Any],
    tools: list[dict[str, Any]] | None,
) -> NodeResult:
    """Ask one model (with its fallbacks): tool rounds, then the JSON check with one repair."""
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
