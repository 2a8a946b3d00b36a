"""Automatic model routing: pick a prompt's model per request, without any training.

`route()` is a pure function of the rendered request and the candidate models. It scores the
request's difficulty from features of the request itself, maps the score to a tier, and picks
the cheapest candidate of that tier whose context window fits.

Scoring (points add up):

==========================================  ======
feature                                     points
==========================================  ======
prompt length: > 1,000 / 4,000 / 16,000     +1 / +2 / +3
  estimated tokens
reasoning words ("step by step", "prove",   +1 (+2 when 3 or more)
  "analyse", "trade-off", "plan", "why" …)
maths (an equation, "calculate",            +2
  "integral", "probability", LaTeX …)
code (a code fence, "def ", "function",     +2
  "implement", "debug", "SQL", "regex" …)
several numbered steps or questions (3+)    +1
JSON output schema: 1 point per 8 fields    +0..+2
  (nested ones count), +1 when nested
tools the model may call: 1 or 2 / 3+       +1 / +2
a one-line lookup ("what is", "translate",  -1
  "classify", "extract", "yes or no" …)
  in a short prompt
==========================================  ======

Score < 2 → small, < 4 → medium, else large. Confidence is how far the score sits from the
nearest tier boundary (1 point away or more: 1.0; on the boundary: 0.0); below the node's
confidence floor the router does not trust its guess and takes the strongest allowed model.

A tier without a candidate moves up (then down) to the nearest tier that has one; a model whose
context window can't hold the estimated prompt plus max tokens is passed over.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalogue import TIERS, CatalogueModel, tier_rank

try:  # pragma: no cover - depends on the environment
    import tiktoken

    _ENCODING = tiktoken.get_encoding("cl100k_base")
except Exception:
    _ENCODING = None

SMALL_BELOW = 2.0
MEDIUM_BELOW = 4.0
CHARS_PER_TOKEN = 4

_REASONING = re.compile(
    r"\b(step[- ]by[- ]step|reason(?:ing)?|prove|proof|deriv(?:e|ation)|analy[sz]e|analysis|"
    r"compare|trade-?offs?|justify|explain why|why does|plan|strategy|evaluate|critique|"
    r"pros and cons|implications?|root cause|think carefully)\b",
    re.IGNORECASE,
)
_MATHS = re.compile(
    r"(\b(calculate|compute|solve|equation|integral|derivative|probability|percentage|"
    r"theorem|matrix|algebra|statistic(?:s|al)?|optimi[sz]e)\b|\d+\s*[-+*/^=]\s*\d+|\\frac|\$\$)",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"(```|\bdef \w+\(|\bfunction\b|\bclass \w+|\bimplement\b|\brefactor\b|\bdebug\b|"
    r"\bstack ?trace\b|\bSQL\b|\bSELECT .+ FROM\b|\bregex\b|\bcompile\b|\balgorithm\b|"
    r"\bpython\b|\bjavascript\b|\btypescript\b|=>|\breturn\b.*;)",
    re.IGNORECASE,
)
_LOOKUP = re.compile(
    r"\b(what is|who is|when (?:is|was)|where is|define|translate|classify|categori[sz]e|"
    r"extract|yes or no|true or false|which (?:one|of)|capital of|label|tag|sentiment|"
    r"spell|rephrase|summari[sz]e in one)\b",
    re.IGNORECASE,
)
_STEPS = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*•])\s+\S")


@dataclass(frozen=True)
class RouteRequest:
    """What the router reads: the rendered messages and what the node asks of the model."""

    text: str  # system + user messages, rendered
    max_tokens: int = 512
    json_schema: dict[str, Any] | None = None
    json_output: bool = False
    tools: int = 0
    tokens: int | None = None  # a known count (e.g. the provider's usage); else estimated


@dataclass
class Decision:
    """The router's choice and why, as recorded on the step."""

    chose: str
    tier: str
    score: float
    confidence: float
    reasons: list[str]
    candidates: list[str]
    ladder: list[str] = field(default_factory=list)  # the cascade: chose, then stronger tiers
    tiers: dict[str, str] = field(default_factory=dict)  # each ladder model's tier

    def to_dict(self) -> dict[str, Any]:
        return {
            "chose": self.chose,
            "tier": self.tier,
            "score": self.score,
            "confidence": self.confidence,
            "reasons": list(self.reasons),
            "candidates": list(self.candidates),
            "ladder": list(self.ladder),
        }


class NoCandidate(Exception):
    """No model may serve the request (none allowed, or none with a big enough window)."""

    def __init__(self, message: str, code: str = "no_route"):
        super().__init__(message)
        self.message = message
        self.code = code


def count_tokens(text: str) -> int:
    """Count tokens with tiktoken when installed, else estimate (about 4 characters a token)."""
    if _ENCODING is not None:
        return len(_ENCODING.encode(text, disallowed_special=()))
    return max(1, len(text) // CHARS_PER_TOKEN) if text else 0


def _schema_fields(schema: Any, depth: int = 0) -> tuple[int, int]:
    """Return (number of properties, deepest nesting) of a JSON schema, bounded."""
    if not isinstance(schema, dict) or depth > 8:
        return 0, depth
    fields, deepest = 0, depth
    properties = schema.get("properties")
    children: list[Any] = list(properties.values()) if isinstance(properties, dict) else []
    fields += len(children)
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list):
            children.extend(schema[key])
    for child in children:
        count, level = _schema_fields(child, depth + 1)
        fields += count
        deepest = max(deepest, level)
    return fields, deepest


def score_request(request: RouteRequest) -> tuple[float, list[str], int]:
    """Return (difficulty score, the reasons that made it, the prompt's tokens)."""
    text = request.text
    tokens = request.tokens if request.tokens is not None else count_tokens(text)
    score = 0.0
    reasons: list[str] = []
    if tokens > 16_000:
        score += 3
        reasons.append(f"very long prompt ({tokens:,} tokens): +3")
    elif tokens > 4_000:
        score += 2
        reasons.append(f"long prompt ({tokens:,} tokens): +2")
    elif tokens > 1_000:
        score += 1
        reasons.append(f"prompt of {tokens:,} tokens: +1")
    reasoning = {m.group(0).lower() for m in _REASONING.finditer(text)}
    if reasoning:
        points = 2 if len(reasoning) >= 3 else 1
        score += points
        reasons.append(f"asks for reasoning ({', '.join(sorted(reasoning)[:3])}): +{points}")
    maths = _MATHS.search(text)
    if maths:
        score += 2
        reasons.append(f"maths (“{maths.group(0).strip()[:30]}”): +2")
    code = _CODE.search(text)
    if code:
        score += 2
        reasons.append(f"code (“{code.group(0).strip()[:30]}”): +2")
    steps = len(_STEPS.findall(text)) + max(0, text.count("?") - 1)
    if steps >= 3:
        score += 1
        reasons.append(f"{steps} steps or questions: +1")
    if request.json_output and request.json_schema:
        fields, depth = _schema_fields(request.json_schema)
        points = min(2, fields // 8) + (1 if depth >= 2 else 0)
        if points:
            score += points
            reasons.append(f"JSON schema with {fields} fields, depth {depth}: +{points}")
    if request.tools:
        points = 2 if request.tools >= 3 else 1
        score += points
        reasons.append(f"{request.tools} tool(s) to call: +{points}")
    if tokens <= 200 and score == 0 and _LOOKUP.search(text):
        score -= 1
        reasons.append(f"a short lookup (“{_LOOKUP.search(text).group(0)}”): -1")
    return score, reasons, tokens


def tier_for_score(score: float) -> tuple[str, float]:
    """Return the tier a score means and the confidence of that reading (0..1)."""
    if score < SMALL_BELOW:
        return "small", min(1.0, SMALL_BELOW - score)
    if score < MEDIUM_BELOW:
        return "medium", min(1.0, score - SMALL_BELOW, MEDIUM_BELOW - score)
    return "large", min(1.0, score - MEDIUM_BELOW + 1.0)


def _cheapest(models: Sequence[CatalogueModel]) -> CatalogueModel:
    return min(models, key=lambda m: (m.input_price + m.output_price, m.name))


def cascade_ladder(
    models: Sequence[CatalogueModel], start: CatalogueModel, needed: int
) -> list[CatalogueModel]:
    """Return `start`, then the cheapest fitting model of each stronger tier, in order."""
    ladder = [start]
    for rank in range(start.rank + 1, len(TIERS)):
        tier = [m for m in models if m.rank == rank and _fits(m, needed)]
        if tier:
            ladder.append(_cheapest(tier))
    return ladder


def _fits(model: CatalogueModel, needed: int) -> bool:
    return model.context_window is None or model.context_window >= needed


def route(
    request: RouteRequest,
    candidates: Sequence[CatalogueModel],
    *,
    max_tier: str | None = None,
    confidence_floor: float = 0.0,
) -> Decision:
    """Choose the model for one request among `candidates` (see the module's scoring)."""
    allowed = [m for m in candidates if max_tier is None or m.rank <= tier_rank(max_tier)]
    if not allowed:
        raise NoCandidate("No candidate model is at or below the highest tier allowed.")
    score, reasons, tokens = score_request(request)
    needed = tokens + request.max_tokens
    fitting = [m for m in allowed if _fits(m, needed)]
    names = [m.name for m in allowed]
    if not fitting:
        raise NoCandidate(
            f"The prompt (about {tokens:,} tokens plus {request.max_tokens:,} to answer) does "
            "not fit the context window of any candidate model.",
            code="context_too_long",
        )
    if len(fitting) < len(allowed):
        reasons.append(f"needs a context window of {needed:,} tokens")
    tier, confidence = tier_for_score(score)
    wanted = tier_rank(tier)
    if confidence < confidence_floor:
        wanted = max(m.rank for m in fitting)
        reasons.append(
            f"confidence {confidence:.2f} is below the floor {confidence_floor:.2f}: "
            "the strongest allowed model"
        )
    chosen = _nearest(fitting, wanted)
    if chosen.rank != wanted:
        reasons.append(f"no {TIERS[wanted]} candidate fits: {chosen.tier} instead")
    if not reasons:
        reasons.append("a short, plain request")
    ladder = cascade_ladder(fitting, chosen, needed)
    return Decision(
        chose=chosen.name,
        tier=chosen.tier,
        score=score,
        confidence=round(confidence, 3),
        reasons=reasons,
        candidates=names,
        ladder=[m.name for m in ladder],
        tiers={m.name: m.tier for m in ladder},
    )


def _nearest(models: Sequence[CatalogueModel], rank: int) -> CatalogueModel:
    """The cheapest model of the tier at `rank`, else of the nearest stronger, then weaker one."""
    order = [*range(rank, len(TIERS)), *range(rank - 1, -1, -1)]
    for wanted in order:
        tier = [m for m in models if m.rank == wanted]
        if tier:
            return _cheapest(tier)
    return _cheapest(models)
