"""The training-free router on fixed example requests (a pure function: no database)."""

from __future__ import annotations

import pytest

from runs.engine.catalogue import CatalogueModel, build_catalogue, tier_for_price
from runs.engine.routing import NoCandidate, RouteRequest, route, score_request, tier_for_score


def model(name, tier, price_in, price_out, window=None):
    provider, _, bare = name.partition("/")
    return CatalogueModel(name, provider, bare, tier, price_in, price_out, window)


SMALL = model("p/mini", "small", 0.15, 0.6, 16_000)
SMALL_DEAR = model("p/mini-plus", "small", 0.5, 0.9, 16_000)
MEDIUM = model("p/mid", "medium", 0.4, 1.6, 1_000_000)
LARGE = model("p/big", "large", 2.5, 10.0, 128_000)
ALL = [LARGE, SMALL_DEAR, MEDIUM, SMALL]

LOOKUP = "What is the capital of France?"
HARD = (
    "Solve step by step: prove that 3x + 5 = 20 has exactly one solution, then implement a "
    "Python function that solves any linear equation and explain the trade-offs."
)


def test_a_one_line_lookup_goes_to_the_cheapest_small_model():
    decision = route(RouteRequest(text=LOOKUP), ALL)
    assert decision.chose == "p/mini" and decision.tier == "small"
    assert decision.ladder == ["p/mini", "p/mid", "p/big"]
    assert any("lookup" in reason for reason in decision.reasons)
    assert decision.candidates == [m.name for m in ALL]


def test_multi_step_maths_and_code_goes_to_the_large_model():
    decision = route(RouteRequest(text=HARD), ALL)
    assert decision.chose == "p/big" and decision.tier == "large"
    joined = " ".join(decision.reasons)
    assert "maths" in joined and "code" in joined and "reasoning" in joined
    assert decision.ladder == ["p/big"]  # nothing stronger to cascade to


def test_a_long_context_goes_to_a_model_whose_window_fits():
    # About 20,000 tokens (+2 for length: medium) plus 1,000 to answer: past the small
    # models' 16k window.
    text = "Summarise this log line. " + "lorem ipsum dolor " * 4_500
    decision = route(RouteRequest(text=text, max_tokens=1000), ALL)
    assert decision.chose == "p/mid"
    assert any("context window" in reason for reason in decision.reasons)
    # With only small and large candidates, the small ones can't hold it: large instead.
    decision = route(RouteRequest(text=text, max_tokens=1000), [SMALL, LARGE])
    assert decision.chose == "p/big"


def test_a_long_plain_prompt_that_fits_a_small_window_is_not_sent_to_large():
    text = "Translate to French: " + "good morning " * 300  # about 1,000 tokens
    assert route(RouteRequest(text=text), ALL).tier in ("small", "medium")


def test_nothing_fits_is_a_clear_error():
    text = "x" * 800_000  # 200k tokens
    with pytest.raises(NoCandidate) as caught:
        route(RouteRequest(text=text), [SMALL, LARGE])
    assert caught.value.code == "context_too_long"


def test_json_schema_and_tools_raise_the_tier():
    schema = {
        "type": "object",
        "properties": {
            f"f{i}": {"type": "object", "properties": {"a": {}, "b": {}}} for i in range(6)
        },
    }
    plain = route(RouteRequest(text="Fill in the form."), ALL)
    shaped = route(
        RouteRequest(text="Fill in the form.", json_schema=schema, json_output=True, tools=3),
        ALL,
    )
    assert plain.tier == "small" and shaped.tier == "large"
    assert any("JSON schema with 18 fields" in r for r in shaped.reasons)


def test_max_tier_caps_the_choice_and_the_ladder():
    decision = route(RouteRequest(text=HARD), ALL, max_tier="medium")
    assert decision.chose == "p/mid" and decision.ladder == ["p/mid"]
    with pytest.raises(NoCandidate):
        route(RouteRequest(text=LOOKUP), [LARGE], max_tier="small")


def test_below_the_confidence_floor_takes_the_strongest_allowed_model():
    # Four reasoning words (+2): a score of 2, right on the small/medium boundary.
    request = RouteRequest(
        text="Compare the two plan options, explain why one is better and justify it."
    )
    assert score_request(request)[0] == 2
    assert tier_for_score(2) == ("medium", 0.0)
    assert route(request, ALL).chose == "p/mid"  # no floor: the guess stands
    floored = route(request, ALL, confidence_floor=0.5)
    assert floored.chose == "p/big"
    assert any("below the floor" in reason for reason in floored.reasons)
    # A confident guess keeps its tier whatever the floor.
    assert route(RouteRequest(text=LOOKUP), ALL, confidence_floor=0.9).chose == "p/mini"
    capped = route(request, ALL, max_tier="medium", confidence_floor=1.0)
    assert capped.chose == "p/mid"


def test_tier_defaults_by_price_and_catalogue_order():
    assert tier_for_price(0.6) == "small" and tier_for_price(1.6) == "medium"
    assert tier_for_price(10) == "large" and tier_for_price(2, {"small": 3}) == "small"
    catalogue = build_catalogue(
        [
            ("a", {"models": {"big": {"input": 3, "output": 15}, "tiny": {"output": 0.1}}}),
            ("b", {"models": {"pinned": {"input": 0, "output": 0, "tier": "large"}}}),
            ("a", {"models": {"shadowed": {}}}),  # a second "a" never overrides the first
        ]
    )
    assert [(m.name, m.tier) for m in catalogue] == [
        ("a/tiny", "small"),
        ("b/pinned", "large"),
        ("a/big", "large"),
    ]


def test_measuring_the_same_request_again_gives_the_same_measures_unshared():
    from runs.engine.routing import measure_request

    request = RouteRequest(text="Calculate step by step: 3 * x + 7 = 19. Justify the plan.")
    first = measure_request(request)
    first[1].append("changed by a caller")
    first[3]["score"] = -99.0
    again = measure_request(request)
    assert "changed by a caller" not in again[1] and again[3]["score"] == again[0]
    other = RouteRequest(text="What is the capital of France?")
    assert measure_request(other)[0] != again[0]
    assert measure_request(request)[:3] == again[:3]
