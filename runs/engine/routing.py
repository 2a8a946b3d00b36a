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
  "analyse", "trade-off", "plan" …)
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
the small model's self-assessment (opt-in   +3 / +1 / 0 / -1
  per node): 0-3 / 4-6 / 7 / 8-10 out of 10
==========================================  ======

Keywords are whole words (or phrases) of the first 6,000 and last 3,000 characters.

Score < 2 → small, < 4 → medium, else large. Confidence is how far the score sits from the
nearest tier boundary (1 point away or more: 1.0; on the boundary: 0.0); below the node's
confidence floor the router does not trust its guess and takes the strongest allowed model.

A tier without a candidate moves up (then down) to the nearest tier that has one; a model whose
context window can't hold the estimated prompt plus max tokens is passed over.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalogue import TIERS, CatalogueModel, tier_rank


def _token_encoding() -> Any:
    try:  # pragma: no cover - depends on the environment
        import tiktoken

        return tiktoken.get_encoding("cl100k_base")
    except Exception:
        return None


_ENCODING = _token_encoding()

SMALL_BELOW = 2.0
MEDIUM_BELOW = 4.0
CHARS_PER_TOKEN = 4

# Keyword features are looked up in the words of the text (one pass, a set), phrases and symbols
# by substring search: linear in the prompt, a few hundred microseconds for a long one.
REASONING_WORDS = frozenset(
    [
        "reason",
        "reasoning",
        "prove",
        "proof",
        "derive",
        "derivation",
        "analyse",
        "analyze",
        "analysis",
        "compare",
        "tradeoff",
        "tradeoffs",
        "trade-off",
        "trade-offs",
        "justify",
        "plan",
        "strategy",
        "evaluate",
        "critique",
        "implication",
        "implications",
    ]
)
REASONING_PHRASES = (
    "step by step",
    "step-by-step",
    "explain why",
    "why does",
    "pros and cons",
    "root cause",
    "think carefully",
)
MATHS_WORDS = frozenset(
    [
        "calculate",
        "compute",
        "solve",
        "equation",
        "integral",
        "derivative",
        "probability",
        "percentage",
        "theorem",
        "matrix",
        "algebra",
        "statistics",
        "statistical",
        "optimise",
        "optimize",
    ]
)
CODE_WORDS = frozenset(
    [
        "function",
        "implement",
        "refactor",
        "debug",
        "sql",
        "regex",
        "compile",
        "algorithm",
        "python",
        "javascript",
        "typescript",
        "stacktrace",
    ]
)
CODE_PHRASES = ("```", "stack trace", "=>", "();", "#include")
LOOKUP_WORDS = frozenset(
    [
        "define",
        "translate",
        "classify",
        "categorise",
        "categorize",
        "extract",
        "label",
        "tag",
        "sentiment",
        "spell",
        "rephrase",
    ]
)
LOOKUP_PHRASES = (
    "what is",
    "who is",
    "when is",
    "when was",
    "where is",
    "yes or no",
    "true or false",
    "which one",
    "which of",
    "capital of",
)
_PUNCTUATION = ".,;:!?()[]{}<>\"'`*_/\\|"
_EQUATION = re.compile(r"\d\s*[-+*/^=]\s*\d|\\frac|\$\$")
_DEF = re.compile(r"(?:def|class|fn|func) \w+\(")
_DEF_WORDS = ("def ", "class ", "fn ", "func ")
_STEPS = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*•])\s+\S")
#: Keyword features read at most this much of a prompt: its start and its end, where the
#: instructions are (the middle of a long prompt is usually the material they are about).
SCAN_HEAD = 6_000
SCAN_TAIL = 3_000


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
    router: str = "baseline"  # or "learned"
    probabilities: dict[str, float] | None = None  # learned: P(the answer passes) per tier

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "chose": self.chose,
            "tier": self.tier,
            "score": self.score,
            "confidence": self.confidence,
            "reasons": list(self.reasons),
            "candidates": list(self.candidates),
            "ladder": list(self.ladder),
            "router": self.router,
        }
        if self.probabilities is not None:
            data["probabilities"] = dict(self.probabilities)
            data["probability"] = self.probabilities.get(self.tier)
        return data


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
    score, reasons, tokens, _features = measure_request(request)
    return score, reasons, tokens


#: The request's measures the score is made of, in this order (the learned router's features).
FEATURES = (
    "tokens",
    "reasoning",
    "maths",
    "code",
    "steps",
    "schema_fields",
    "schema_depth",
    "tools",
    "lookup",
    "score",
)


_last_measured = threading.local()


def measure_request(request: RouteRequest) -> tuple[float, list[str], int, dict[str, float]]:
    """Return the score, its reasons, the prompt's tokens and the measures (`FEATURES`).

    The learned router measures a request twice (its features, then its decision): the last
    request measured on this thread is kept, and the same object is not measured again."""
    last = getattr(_last_measured, "value", None)
    if last is None or last[0] is not request:
        last = (request, _measure(request))
        _last_measured.value = last
    score, reasons, tokens, features = last[1]
    return score, list(reasons), tokens, dict(features)


def _measure(request: RouteRequest) -> tuple[float, list[str], int, dict[str, float]]:
    text = request.text
    features = dict.fromkeys(FEATURES, 0.0)
    tokens = request.tokens if request.tokens is not None else count_tokens(text)
    features["tokens"] = float(tokens)
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
    scanned = text if len(text) <= SCAN_HEAD + SCAN_TAIL else text[:SCAN_HEAD] + text[-SCAN_TAIL:]
    lowered = scanned.lower()
    # Whole words: split on whitespace (fast, in C), punctuation trimmed from each end.
    words = {w.strip(_PUNCTUATION) for w in set(lowered.split())}
    reasoning = sorted((words & REASONING_WORDS) | {p for p in REASONING_PHRASES if p in lowered})
    features["reasoning"] = float(len(reasoning))
    if reasoning:
        points = 2 if len(reasoning) >= 3 else 1
        score += points
        reasons.append(f"asks for reasoning ({', '.join(reasoning[:3])}): +{points}")
    maths = sorted(words & MATHS_WORDS)
    equation = None if maths else _EQUATION.search(scanned)
    if maths or equation:
        features["maths"] = 1.0
        score += 2
        shown = maths[0] if maths else (equation.group(0) if equation else "")
        reasons.append(f"maths (“{shown}”): +2")
    code = sorted(words & CODE_WORDS) or [p for p in CODE_PHRASES if p in lowered]
    if not code and {"select", "from"} <= words and ("where" in words or "join" in words):
        code = ["select … from"]
    if not code and any(w in lowered for w in _DEF_WORDS) and (m := _DEF.search(lowered)):
        code = [m.group(0)]
    found = code[0] if code else None
    if found:
        features["code"] = 1.0
        score += 2
        reasons.append(f"code (“{found.strip()[:30]}”): +2")
    steps = len(_STEPS.findall(scanned)) + max(0, scanned.count("?") - 1)
    features["steps"] = float(steps)
    if steps >= 3:
        score += 1
        reasons.append(f"{steps} steps or questions: +1")
    if request.json_output and request.json_schema:
        fields, depth = _schema_fields(request.json_schema)
        features["schema_fields"], features["schema_depth"] = float(fields), float(depth)
        points = min(2, fields // 8) + (1 if depth >= 2 else 0)
        if points:
            score += points
            reasons.append(f"JSON schema with {fields} fields, depth {depth}: +{points}")
    features["tools"] = float(request.tools)
    if request.tools:
        points = 2 if request.tools >= 3 else 1
        score += points
        reasons.append(f"{request.tools} tool(s) to call: +{points}")
    lookup = sorted(words & LOOKUP_WORDS) or [p for p in LOOKUP_PHRASES if p in lowered]
    features["lookup"] = 1.0 if lookup else 0.0
    if tokens <= 200 and score == 0 and lookup:
        score -= 1
        reasons.append(f"a short lookup (“{lookup[0]}”): -1")
    features["score"] = score
    return score, reasons, tokens, features


def self_rating_points(rating: int) -> float:
    """Points a small model's 0-10 self-assessment adds: unsure (0-3) +3, middling (4-6) +1,
    sure (8-10) -1."""
    if rating <= 3:
        return 3.0
    if rating <= 6:
        return 1.0
    return -1.0 if rating >= 8 else 0.0


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
    self_rating: int | None = None,
) -> Decision:
    """Choose the model for one request among `candidates` (see the module's scoring).

    `self_rating` is the small model's own 0-10 confidence that it can answer, when asked."""
    allowed = [m for m in candidates if max_tier is None or m.rank <= tier_rank(max_tier)]
    if not allowed:
        raise NoCandidate("No candidate model is at or below the highest tier allowed.")
    score, reasons, tokens = score_request(request)
    if self_rating is not None:
        points = self_rating_points(self_rating)
        score += points
        reasons.append(f"the small model rates its confidence {self_rating}/10: {points:+g}")
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
