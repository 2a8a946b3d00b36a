"""The prompt node's semantic cache: answer a request from a past one that meant the same.

A hit needs two things: the node's configuration is identical (its `fingerprint`: the model, or
the auto candidates and highest tier; the rendered system message; the tools; the output format
and schema) and the request's embedding is within the node's similarity of a stored request's,
stored within its time to live, in its scope (the flow, or the workspace). The search itself is
behind `ctx.semantic` (a port), so the engine stays free of the database and the network.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .catalogue import TIERS, tier_rank
from .nodes.base import NodeResult

#: Whoever answers `ctx.semantic.lookup` returns {"hit": HIT or None, "usage": {...}} where
#: HIT = {"entry", "output", "similarity", "matched", "model", "saved_cost", "created_at"}.
SENT_BACK = "sent back by an evaluator: the cache is not asked again"


def fingerprint(
    config: Any, *, system: str, tools: list[dict[str, Any]] | None, default_model: str
) -> str:
    """Return the sha256 identifying what, besides the request, shapes a prompt node's answer."""
    model = config.model.strip() or default_model
    routed = model.lower() == "auto" or not config.model.strip()
    document = {
        "model": "auto" if model.lower() == "auto" else model,
        "candidates": sorted(config.candidates) if routed else [],
        "max_tier": config.max_tier,
        "system": system,
        "tools": tools or [],
        "output_format": config.output_format,
        "json_schema": config.json_schema,
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def probe(ctx: Any, config: Any, messages: list[dict[str, Any]], tools: Any) -> dict[str, Any]:
    """The request the cache is asked about: the rendered user message and the node's config."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    return {
        "text": messages[-1]["content"],
        "fingerprint": fingerprint(
            config, system=system, tools=tools, default_model=ctx.default_model
        ),
        "similarity": config.semantic_similarity,
        "same_figures": config.semantic_same_figures,
        "ttl_seconds": config.semantic_ttl_seconds,
        "scope": config.semantic_scope,
    }


def cached_answer(
    ctx: Any,
    config: Any,
    request: dict[str, Any],
    checks: Any,
    decided: tuple[Any, list[Any]] | None = None,
) -> NodeResult | None:
    """Return the cached answer to `request` as the step's result, or None to ask the model.

    A hit whose answer fails the node's own checks (`escalate_on`) is evicted and not used. For
    a routed prompt, `decided` is the router's (decision, candidates): a hit whose answer came
    from a tier below the decided one is refused (kept for requests routed that low).
    """
    if ctx.iteration > 0:
        ctx.details["semantic_cache"] = {"outcome": "skipped", "reason": SENT_BACK}
        return None
    hit = ctx.semantic_lookup(request)
    passed_over = ctx.details.pop("semantic_cache_other_figures", None)
    if hit is None:
        ctx.details["semantic_cache"] = {"outcome": "miss", "similarity": request["similarity"]}
        if passed_over:
            ctx.details["semantic_cache"]["other_figures"] = {
                **passed_over,
                "reason": "a past request this close has other figures: not the same request",
            }
        return None
    shown = {
        "outcome": "hit",
        "entry": hit["entry"],
        "matched": hit["matched"],
        "similarity": round(float(hit["similarity"]), 4),
        "threshold": request["similarity"],
        "model": hit.get("model", ""),
        "saved_cost": hit.get("saved_cost", 0.0),
        "stored_at": hit.get("created_at", ""),
    }
    if decided is not None:
        refused = _below_tier(hit.get("model", ""), *decided)
        shown["routed_tier"] = decided[0].tier
        if refused is not None:
            ctx.details["semantic_cache"] = {**shown, "outcome": "refused", **refused}
            return None
    if config.escalate_on:
        passed, _score, feedback = checks(config.escalate_on, hit["output"])
        if not passed:
            ctx.semantic_evict([hit["entry"]])
            ctx.details["semantic_cache"] = {**shown, "outcome": "evicted", "feedback": feedback}
            return None
    ctx.details["semantic_cache"] = shown
    ctx.usage.cache_hit = ctx.usage.llm_calls == 0
    ctx.usage.saved_cost += float(hit.get("saved_cost") or 0.0)
    if not ctx.usage.model or decided is not None:  # a routed step's rating call is not it
        ctx.usage.model = hit.get("model", "")
    return NodeResult(output=hit["output"])


def _below_tier(model: str, decision: Any, candidates: list[Any]) -> dict[str, Any] | None:
    """Why a cached answer by `model` may not answer a request routed to `decision.tier`, or
    None when it may: its model's tier ranks at or above the decided one.

    The entry records its model, not its tier: the tier is the model's among the candidates
    now. A model that is not one of them (an entry stored without a model, or one the catalogue
    no longer has) counts as the lowest candidate tier: it answers only requests routed there.
    """
    ranks = {m.name: m.rank for m in candidates}
    wanted = tier_rank(decision.tier)
    if model in ranks:
        rank, known = ranks[model], True
    else:
        rank, known = min(ranks.values(), default=0), False
    if rank >= wanted:
        return None
    tier = TIERS[rank] if 0 <= rank < len(TIERS) else str(rank)
    by = f"{model} ({tier})" if known else f"an unknown model (counted as {tier})"
    return {
        "cached_tier": tier,
        "reason": f"the cached answer is by {by}, below the {decision.tier} tier the router "
        f"chose for this request: the model was asked",
    }


def remember(ctx: Any, request: dict[str, Any], result: NodeResult, spent: float) -> None:
    """Store the model's answer to `request` for later requests that mean the same (not one
    cut off at max tokens)."""
    if ctx.details.get("truncated"):
        return
    entry = ctx.semantic_store(
        {**request, "output": result.output, "model": ctx.usage.model, "cost": spent}
    )
    if entry is not None:
        ctx.details.setdefault("semantic_cache", {})["stored"] = entry
