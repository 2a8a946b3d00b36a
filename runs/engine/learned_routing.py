"""The learned router: P(a tier's answer passes | the request), fitted on a workspace's labels.

A label is a request (its rendered messages), the tier of the model that answered it, and whether
the answer passed: its evaluator passed or failed, its approval was approved or edited/rejected,
its evaluation item passed or failed, or a cascade attempt failed its checks. A fail on a tier
implies a fail on every weaker tier, and a pass implies a pass on every stronger one, so each
label also teaches the tiers around it.

The model is a logistic regression (L2, fitted by Newton's method with numpy) over

- a bias per tier,
- the baseline router's measures of the request (`routing.FEATURES`, standardised: length,
  reasoning, maths, code, steps, schema size, tools, lookup, the baseline score), and
- the request's embedding (the knowledge app's embedding model), when one was available.

The fitted parameters are plain arrays (`RouterParams.to_dict`, JSON); `RouterParams.from_dict`
checks every shape and value, so a stored model is data, never code. Deciding is a dot product
per tier: tens of microseconds once the request is embedded.

`route_learned` picks the cheapest tier whose predicted pass probability reaches the threshold
(the node's confidence floor, 0.5 when it has none); when no tier does, the strongest allowed
model. Probabilities never decrease with the tier (a stronger tier is at least as likely to pass).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .catalogue import TIERS, CatalogueModel, tier_rank
from .routing import (
    FEATURES,
    Decision,
    NoCandidate,
    RouteRequest,
    _fits,
    _nearest,
    cascade_ladder,
    measure_request,
    tier_for_score,
)

VERSION = 1
DEFAULT_THRESHOLD = 0.5
MAX_DIMENSIONS = 4_096
#: Measures that grow without bound are read on a log scale.
_LOG_FEATURES = frozenset({"tokens", "steps", "schema_fields", "reasoning", "tools"})


class InvalidRouterParams(ValueError):
    """Stored router parameters that are not a model this code can use."""


@dataclass(frozen=True)
class Example:
    """One labelled request: did the answer of a model of `tier` pass?"""

    request: RouteRequest
    tier: str
    passed: bool
    embedding: Any = None  # a unit vector (numpy array or list), or None


def feature_vector(request: RouteRequest) -> np.ndarray:
    """Return the baseline's measures of a request, in `FEATURES` order (log-scaled counts)."""
    _score, _reasons, _tokens, measures = measure_request(request)
    return np.array(
        [math.log1p(measures[n]) if n in _LOG_FEATURES else measures[n] for n in FEATURES],
        dtype=np.float64,
    )


@dataclass
class RouterParams:
    """A fitted learned router: arrays only."""

    bias: list[float]  # per tier, TIERS order
    mean: list[float]  # per feature
    scale: list[float]
    weights: list[float]
    embedding_model: str = ""
    embedding_weights: list[float] = field(default_factory=list)
    embedding_scale: float = 1.0
    _arrays: tuple[np.ndarray, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def dimensions(self) -> int:
        return len(self.embedding_weights)

    def arrays(self) -> tuple[np.ndarray, ...]:
        if self._arrays is None:
            self._arrays = (
                np.asarray(self.bias, dtype=np.float64),
                np.asarray(self.mean, dtype=np.float64),
                np.asarray(self.scale, dtype=np.float64),
                np.asarray(self.weights, dtype=np.float64),
                np.asarray(self.embedding_weights, dtype=np.float64),
            )
        return self._arrays

    def probabilities(self, request: RouteRequest, embedding: Any = None) -> dict[str, float]:
        """Return P(pass) per tier for a request (non-decreasing with the tier)."""
        bias, mean, scale, weights, embedding_weights = self.arrays()
        logit = float(((feature_vector(request) - mean) / scale) @ weights)
        if self.dimensions:
            vector = _embedding(embedding, self.dimensions)
            logit += float(vector @ embedding_weights) * self.embedding_scale
        result: dict[str, float] = {}
        best = 0.0
        for tier, b in zip(TIERS, bias, strict=True):
            best = max(best, _sigmoid(logit + float(b)))
            result[tier] = round(best, 4)
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "tiers": list(TIERS),
            "features": list(FEATURES),
            "bias": _floats(self.bias),
            "mean": _floats(self.mean),
            "scale": _floats(self.scale),
            "weights": _floats(self.weights),
            "embedding_model": self.embedding_model,
            "embedding_weights": _floats(self.embedding_weights),
            "embedding_scale": float(self.embedding_scale),
        }

    @classmethod
    def from_dict(cls, data: Any) -> RouterParams:
        """Check and load stored parameters; raise InvalidRouterParams for anything else."""
        if not isinstance(data, Mapping):
            raise InvalidRouterParams("the parameters are not an object")
        if data.get("version") != VERSION:
            raise InvalidRouterParams(f"version {data.get('version')!r} is not {VERSION}")
        if list(data.get("tiers") or []) != list(TIERS):
            raise InvalidRouterParams("the tiers differ from this version's")
        if list(data.get("features") or []) != list(FEATURES):
            raise InvalidRouterParams("the features differ from this version's (retrain)")
        size = len(FEATURES)
        scale = _checked(data, "scale", size)
        if any(v <= 0 for v in scale):
            raise InvalidRouterParams("scale must be positive")
        model = data.get("embedding_model", "")
        if not isinstance(model, str) or len(model) > 200:
            raise InvalidRouterParams("embedding_model must be a short string")
        embedding_weights = _checked(data, "embedding_weights", None)
        if len(embedding_weights) > MAX_DIMENSIONS or (bool(model) != bool(embedding_weights)):
            raise InvalidRouterParams("embedding weights and model do not match")
        embedding_scale = data.get("embedding_scale", 1.0)
        if not _is_number(embedding_scale):
            raise InvalidRouterParams("embedding_scale must be a finite number")
        return cls(
            bias=_checked(data, "bias", len(TIERS)),
            mean=_checked(data, "mean", size),
            scale=scale,
            weights=_checked(data, "weights", size),
            embedding_model=model,
            embedding_weights=embedding_weights,
            embedding_scale=float(embedding_scale),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _checked(data: Mapping[str, Any], key: str, size: int | None) -> list[float]:
    values = data.get(key)
    if not isinstance(values, list) or (size is not None and len(values) != size):
        raise InvalidRouterParams(f"{key} must be a list of {size or 'some'} numbers")
    if not all(_is_number(v) for v in values):
        raise InvalidRouterParams(f"{key} must hold finite numbers only")
    return [float(v) for v in values]


def _floats(values: Sequence[float]) -> list[float]:
    return [round(float(v), 6) for v in values]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _embedding(value: Any, dimensions: int) -> np.ndarray:
    vector = np.asarray(value if value is not None else [], dtype=np.float64).ravel()
    if vector.shape != (dimensions,) or not np.all(np.isfinite(vector)):
        raise InvalidRouterParams(
            f"the request's embedding has {vector.size} dimensions, the router {dimensions}"
        )
    return vector


# ---- fitting ---------------------------------------------------------------------------------


def expand(examples: Sequence[Example]) -> list[tuple[int, bool, int]]:
    """Return (example index, passed, tier rank) rows: each label plus what it implies."""
    rows: list[tuple[int, bool, int]] = []
    for index, example in enumerate(examples):
        rank = tier_rank(example.tier)
        implied = range(0, rank + 1) if not example.passed else range(rank, len(TIERS))
        rows.extend((index, example.passed, r) for r in implied)
    return rows


def fit(
    examples: Sequence[Example],
    *,
    embedding_model: str = "",
    l2: float = 1.0,
    iterations: int = 30,
) -> RouterParams:
    """Fit the router on labelled examples (embeddings used when every example has one)."""
    if not examples:
        raise ValueError("no examples to fit")
    features = np.vstack([feature_vector(e.request) for e in examples])
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-6] = 1.0
    standard = (features - mean) / scale
    use_embeddings = bool(embedding_model) and all(e.embedding is not None for e in examples)
    embeddings = np.zeros((len(examples), 0))
    embedding_scale = 1.0
    if use_embeddings:
        embeddings = np.vstack([np.asarray(e.embedding, dtype=np.float64) for e in examples])
        # Unit vectors have tiny components: scale them to the features' unit variance.
        embedding_scale = math.sqrt(embeddings.shape[1])
    rows = expand(examples)
    index = np.array([r[0] for r in rows])
    y = np.array([1.0 if r[1] else 0.0 for r in rows])
    tiers = np.zeros((len(rows), len(TIERS)))
    tiers[np.arange(len(rows)), [r[2] for r in rows]] = 1.0
    design = np.hstack([tiers, standard[index], embeddings[index] * embedding_scale])
    penalty = np.full(design.shape[1], l2)
    penalty[: len(TIERS)] = 1e-2  # the tier biases are barely held back
    theta = _newton(design, y, penalty, iterations)
    size = len(FEATURES)
    return RouterParams(
        bias=theta[: len(TIERS)].tolist(),
        mean=mean.tolist(),
        scale=scale.tolist(),
        weights=theta[len(TIERS) : len(TIERS) + size].tolist(),
        embedding_model=embedding_model if use_embeddings else "",
        embedding_weights=theta[len(TIERS) + size :].tolist() if use_embeddings else [],
        embedding_scale=embedding_scale,
    )


def _newton(x: np.ndarray, y: np.ndarray, penalty: np.ndarray, iterations: int) -> np.ndarray:
    """L2-penalised logistic regression by Newton's method (IRLS)."""
    theta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -30, 30)))
        gradient = x.T @ (p - y) + penalty * theta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if float(np.max(np.abs(step))) < 1e-6:
            break
    return theta


def baseline_passes(request: RouteRequest, tier: str) -> bool:
    """The baseline's prediction for a label: its tier for the request is at or below `tier`."""
    score, _reasons, _tokens = measure_request(request)[:3]
    return tier_rank(tier_for_score(score)[0]) <= tier_rank(tier)


def accuracy(
    params: RouterParams | None, examples: Sequence[Example], threshold: float = 0.5
) -> float:
    """Share of examples whose pass/fail the router (or, with None, the baseline) predicts."""
    if not examples:
        return 0.0
    right = 0
    for example in examples:
        if params is None:
            predicted = baseline_passes(example.request, example.tier)
        else:
            p = params.probabilities(example.request, example.embedding)[example.tier]
            predicted = p >= threshold
        right += predicted == example.passed
    return right / len(examples)


# ---- deciding --------------------------------------------------------------------------------


def route_learned(
    request: RouteRequest,
    candidates: Sequence[CatalogueModel],
    probabilities: Mapping[str, float],
    *,
    max_tier: str | None = None,
    confidence_floor: float = 0.0,
    about: str = "",
) -> Decision:
    """Choose the cheapest tier predicted to pass; the strongest allowed when none is."""
    allowed = [m for m in candidates if max_tier is None or m.rank <= tier_rank(max_tier)]
    if not allowed:
        raise NoCandidate("No candidate model is at or below the highest tier allowed.")
    score, _baseline_reasons, tokens, _measures = measure_request(request)
    needed = tokens + request.max_tokens
    fitting = [m for m in allowed if _fits(m, needed)]
    if not fitting:
        raise NoCandidate(
            f"The prompt (about {tokens:,} tokens plus {request.max_tokens:,} to answer) does "
            "not fit the context window of any candidate model.",
            code="context_too_long",
        )
    threshold = confidence_floor or DEFAULT_THRESHOLD
    reasons = [f"learned router{f' ({about})' if about else ''}"]
    if len(fitting) < len(allowed):
        reasons.append(f"needs a context window of {needed:,} tokens")
    ranks = sorted({m.rank for m in fitting})
    chosen = None
    for rank in ranks:
        tier = TIERS[rank]
        p = float(probabilities.get(tier, 0.0))
        if p >= threshold:
            chosen = _nearest(fitting, rank)
            reasons.append(f"P(a {tier} model passes) = {p:.2f} ≥ {threshold:.2f}")
            break
        reasons.append(f"P(a {tier} model passes) = {p:.2f} < {threshold:.2f}")
    if chosen is None:
        chosen = _nearest(fitting, ranks[-1])
        reasons.append("no tier is likely enough to pass: the strongest allowed model")
    ladder = cascade_ladder(fitting, chosen, needed)
    shown = {TIERS[r]: round(float(probabilities.get(TIERS[r], 0.0)), 4) for r in ranks}
    return Decision(
        chose=chosen.name,
        tier=chosen.tier,
        score=score,
        confidence=round(float(probabilities.get(chosen.tier, 0.0)), 4),
        reasons=reasons,
        candidates=[m.name for m in allowed],
        ladder=[m.name for m in ladder],
        tiers={m.name: m.tier for m in ladder},
        router="learned",
        probabilities=shown,
    )
