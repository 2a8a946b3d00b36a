"""Routing a prompt to a model (`auto`) and cascading up the tiers while its answer fails."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ...learned_routing import route_learned
from ...routing import NoCandidate, RouteRequest, cascade_ladder, count_tokens, route
from ..base import NodeError, NodeResult
from ..evaluator import check_rules
from .answer import _answer
from .config import PromptConfig

AUTO = "auto"
#: Failures of a cheap model's answer that a stronger tier may not make (cascade on these).
ESCALATE_CODES = frozenset({"invalid_json", "malformed_tool_call", "truncated", "refusal"})


def is_routed(config: Any) -> bool:
    """True when the router picks the model: `auto`, or a list of candidates.

    `config` is a prompt's or an agent's (they share the model fields)."""
    return config.model.strip().lower() == AUTO or (
        bool(config.candidates) and not config.model.strip()
    )


def _run_routed(
    ctx: Any,
    config: PromptConfig,
    messages: list[dict[str, Any]],
    call: dict[str, Any],
    tools: list[dict[str, Any]] | None,
    decided: tuple[Any, list[Any]] | None = None,
) -> NodeResult:
    """Route the request to a model, then cascade up the tiers while its answer fails.

    `decided` is `_decide`'s answer when the step already made it (to weigh a semantic cache
    hit): the router is asked once per step."""
    decision, catalogue = decided or _decide(ctx, config, messages)
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
        if result.wait is not None:
            attempt["outcome"] = "waiting"  # for a flow tool's child: resumed on this model
            return result
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
