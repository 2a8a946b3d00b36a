"""A routed prompt's semantic cache without a database: a hit is served only when the cached
answer's model ranks at or above the tier the router chose for the new request, and the router
is asked once per step (the decision that weighed the hit is the one the model call uses)."""

from __future__ import annotations

from typing import Any

import pytest

from runs.engine.catalogue import CatalogueModel
from runs.engine.context import NodeContext
from runs.engine.nodes.prompt import PromptConfig, run_prompt

from .fakes import FakeLlm, FakeResponse

SMALL = CatalogueModel("p/mini", "p", "mini", "small", 0.15, 0.6, None)
LARGE = CatalogueModel("p/big", "p", "big", "large", 2.5, 10.0, None)
#: P(pass) per tier that the learned router reads: an easy request goes small, a hard one large.
EASY = {"small": 0.95, "medium": 0.97, "large": 0.99}
HARD = {"small": 0.2, "medium": 0.4, "large": 0.95}


class RoutedLlm(FakeLlm):
    """A fake provider with a catalogue and a learned router whose scores the test sets."""

    def __init__(self, probabilities: dict[str, float]):
        super().__init__(lambda messages, kw: FakeResponse(content="fresh", model=kw["model"]))
        self.probabilities = probabilities
        self.scored = 0

    def catalogue(self) -> list[CatalogueModel]:
        return [SMALL, LARGE]

    def route_scores(self, request: Any) -> dict[str, Any]:
        self.scored += 1
        return {"probabilities": self.probabilities, "about": "fake"}


class OneEntry:
    """A semantic cache holding one answer, by `model` (or none: an entry stored without one)."""

    def __init__(self, model: str):
        self.model = model
        self.stored: list[dict[str, Any]] = []

    def lookup(self, **request: Any) -> dict[str, Any]:
        hit = {
            "entry": 7,
            "output": "cached",
            "similarity": 0.995,
            "matched": "the past request",
            "model": self.model,
            "saved_cost": 0.002,
            "created_at": "2026-12-02T00:00:00+00:00",
        }
        return {"hit": hit, "usage": {}}

    def store(self, **request: Any) -> dict[str, Any]:
        self.stored.append(request)
        return {"entry": 8}

    def evict(self, entries: list[int]) -> None:
        raise AssertionError("a refused hit is kept, not evicted")


def step(llm: RoutedLlm, cache: OneEntry, **config: Any) -> tuple[NodeContext, Any]:
    settings = {
        "model": "auto",
        "prompt": "{{ inputs.question }}",
        "semantic_cache": True,
        "learned_router": True,
        **config,
    }
    ctx = NodeContext(
        node_id="ask",
        node_type="prompt",
        config=PromptConfig(**settings),
        iteration=0,
        run_inputs={"question": "q"},
        variables={"inputs": {"question": "Is this plan sound?"}},
        llm=llm,
        tools=None,
        semantic=cache,
    )
    return ctx, run_prompt(ctx)


@pytest.mark.parametrize(
    ("cached_by", "scores", "served"),
    [
        ("p/mini", HARD, False),  # a cheap answer to a request the router deems hard
        ("p/mini", EASY, True),
        ("p/big", HARD, True),
        ("p/big", EASY, True),
        ("", EASY, True),  # an entry without a model counts as the lowest candidate tier
        ("", HARD, False),
    ],
)
def test_a_hit_is_served_only_from_the_routed_tier_or_above(cached_by, scores, served):
    llm, cache = RoutedLlm(scores), OneEntry(cached_by)
    ctx, result = step(llm, cache)
    assert llm.scored == 1  # the router is asked once, hit or not
    shown = ctx.details["semantic_cache"]
    assert shown["routed_tier"] == ("large" if scores is HARD else "small")
    if served:
        assert result.output == "cached" and llm.calls == [] and not cache.stored
        assert shown["outcome"] == "hit" and ctx.usage.cache_hit
        assert "routing" not in ctx.details  # no model was called
        return
    assert result.output == "fresh"
    assert [call["model"] for call in llm.calls] == ["p/big"]
    assert shown["outcome"] == "refused" and shown["cached_tier"] == "small"
    assert "below the large tier" in shown["reason"]
    assert shown["stored"] == 8 and cache.stored[0]["model"] == "p/big"
    # The model call used the decision that refused the hit: its reasons are the router's once.
    routing = ctx.details["routing"]
    assert routing["chose"] == "p/big" and routing["router"] == "learned"
    assert sum("learned router" in reason for reason in routing["reasons"]) == 1


def test_an_unrouted_prompt_serves_any_hit_without_asking_the_router():
    llm, cache = RoutedLlm(HARD), OneEntry("p/mini")
    ctx, result = step(llm, cache, model="p/big")
    assert result.output == "cached" and llm.scored == 0 and llm.calls == []
    assert ctx.details["semantic_cache"]["outcome"] == "hit"
    assert "routed_tier" not in ctx.details["semantic_cache"]


def test_a_miss_routes_once_and_stores_the_answer_by_its_model():
    class Empty(OneEntry):
        def lookup(self, **request: Any) -> dict[str, Any]:
            return {"hit": None, "usage": {}}

    llm, cache = RoutedLlm(EASY), Empty("")
    _ctx, result = step(llm, cache)
    assert result.output == "fresh" and llm.scored == 1
    assert [call["model"] for call in llm.calls] == ["p/mini"]
    assert cache.stored[0]["model"] == "p/mini"
