"""The learned router without a database: it beats the baseline on held-out labels (measured),
decides fixed examples, keeps stronger tiers at least as likely to pass, and loads stored
parameters only when every shape and value checks out."""

from __future__ import annotations

import json
import math

import pytest

from runs.engine.catalogue import CatalogueModel
from runs.engine.learned_routing import (
    Example,
    InvalidRouterParams,
    RouterParams,
    accuracy,
    expand,
    fit,
    route_learned,
)
from runs.engine.routing import FEATURES, NoCandidate, RouteRequest, measure_request, route
from tests.llmserver import embed_text

from .routing_labels import split

EMBEDDINGS = "openai/text-embedding-3-small"
CATALOGUE = [
    CatalogueModel("p/small", "p", "small", "small", 0.15, 0.6, 128_000),
    CatalogueModel("p/medium", "p", "medium", "medium", 0.4, 1.6, 128_000),
    CatalogueModel("p/large", "p", "large", "large", 2.5, 10.0, 128_000),
]
PRICE = {m.name: m.output_price for m in CATALOGUE}


@pytest.fixture(scope="module")
def fitted():
    train, held_out = split()
    return fit(train, embedding_model=EMBEDDINGS), held_out


def _policy(decide, held_out):
    """Pass rate and cost of routing every held-out request (pass: a strong enough tier)."""
    passed = cost = 0.0
    for item in held_out:
        decision = decide(item)
        passed += item.needs == "small" or decision.tier == "large"
        cost += PRICE[decision.chose]
    return passed / len(held_out), cost


def test_the_learned_router_beats_the_baseline_on_held_out_labels(fitted):
    params, held_out = fitted
    truth = [Example(i.request, "small", i.needs == "small", i.embedding) for i in held_out]
    learned, baseline = accuracy(params, truth), accuracy(None, truth)
    # Does the small model pass? The baseline is misled by keywords both ways.
    assert baseline < 0.6
    assert learned >= baseline + 0.35, (learned, baseline)
    learned_pass, learned_cost = _policy(
        lambda i: route_learned(i.request, CATALOGUE, params.probabilities(i.request, i.embedding)),
        held_out,
    )
    baseline_pass, baseline_cost = _policy(lambda i: route(i.request, CATALOGUE), held_out)
    strong_cost = PRICE["p/large"] * len(held_out)
    assert learned_pass >= baseline_pass + 0.2, (learned_pass, baseline_pass)
    assert learned_pass >= 0.9
    # Most of always-strong's pass rate for under half its cost.
    assert learned_cost < 0.5 * strong_cost, (learned_cost, strong_cost)
    assert baseline_cost < learned_cost  # the baseline is cheap because it under-routes


def test_embeddings_carry_what_the_baseline_measures_miss(fitted):
    train, held_out = split()
    plain = fit([Example(e.request, e.tier, e.passed) for e in train])
    truth = [Example(i.request, "small", i.needs == "small", i.embedding) for i in held_out]
    blind = [Example(e.request, e.tier, e.passed) for e in truth]
    assert accuracy(fitted[0], truth) >= accuracy(plain, blind) + 0.2


def _decide(params, text, **options):
    request = RouteRequest(text=text, max_tokens=300)
    return route_learned(
        request, CATALOGUE, params.probabilities(request, embed_text(text)), **options
    )


def test_decisions_on_fixed_examples(fitted):
    params, _held_out = fitted
    plain = _decide(params, "Where is my parcel? It was due on Monday.")
    hard = _decide(
        params,
        "Our enterprise contract covers the lamp, but finance opened a chargeback dispute in "
        "Chile; which clause applies and what do we owe?",
    )
    trap = _decide(params, "Calculate the shipping cost of my order to Japan.")
    assert (plain.chose, plain.router) == ("p/small", "learned")
    assert hard.chose == "p/large"
    assert trap.chose == "p/small"
    assert route(RouteRequest(text="Calculate the shipping cost of my order to Japan."),
                 CATALOGUE).tier == "medium"  # fmt: skip
    assert plain.confidence == plain.probabilities["small"] >= 0.5
    assert plain.ladder == ["p/small", "p/medium", "p/large"]
    assert "P(a small model passes) = " in plain.reasons[1]
    assert hard.probabilities["small"] < 0.5 and hard.ladder == ["p/large"]


def test_the_floor_and_the_highest_tier():
    request = RouteRequest(text="Where is my parcel? It was due on Monday.")
    odds = {"small": 0.6, "medium": 0.7, "large": 0.8}
    assert route_learned(request, CATALOGUE, odds).chose == "p/small"  # floor 0: 0.5
    assert route_learned(request, CATALOGUE, odds, confidence_floor=0.65).chose == "p/medium"
    strict = route_learned(request, CATALOGUE, odds, confidence_floor=0.9)
    assert (strict.chose, strict.confidence) == ("p/large", 0.8)
    assert strict.reasons[-1] == "no tier is likely enough to pass: the strongest allowed model"
    capped = route_learned(request, CATALOGUE, odds, confidence_floor=0.9, max_tier="medium")
    assert capped.chose == "p/medium" and "large" not in capped.probabilities
    text = request.text
    with pytest.raises(NoCandidate):
        route_learned(RouteRequest(text=text), [], {"small": 1.0})
    tiny = [CatalogueModel("p/tiny", "p", "tiny", "small", 0.1, 0.1, 50), CATALOGUE[2]]
    long_request = RouteRequest(text="word " * 400, max_tokens=300)
    chosen = route_learned(long_request, tiny, {"small": 0.99, "medium": 1, "large": 1})
    assert chosen.chose == "p/large" and "needs a context window" in chosen.reasons[1]


def test_stronger_tiers_are_never_less_likely_to_pass(fitted):
    params, held_out = fitted
    for item in held_out[:40]:
        p = params.probabilities(item.request, item.embedding)
        assert 0 <= p["small"] <= p["medium"] <= p["large"] <= 1


def test_a_label_teaches_the_tiers_it_implies():
    request = RouteRequest(text="x")
    rows = expand([Example(request, "medium", False), Example(request, "medium", True)])
    assert rows == [(0, False, 0), (0, False, 1), (1, True, 1), (1, True, 2)]


def test_measures_are_the_baselines_score_parts():
    request = RouteRequest(
        text="Solve step by step: 3 * x = 9. Prove it.",
        json_schema={"type": "object", "properties": {"a": {"type": "string"}}},
        json_output=True,
        tools=2,
    )
    score, _reasons, tokens, measures = measure_request(request)
    assert list(measures) == list(FEATURES)
    assert measures["maths"] == 1 and measures["reasoning"] == 2 and measures["tools"] == 2
    assert measures["score"] == score and measures["tokens"] == tokens
    assert measures["schema_fields"] == 1


def test_stored_params_round_trip_through_json(fitted):
    params, held_out = fitted
    stored = json.loads(json.dumps(params.to_dict()))
    loaded = RouterParams.from_dict(stored)
    item = held_out[0]
    a = params.probabilities(item.request, item.embedding)
    b = loaded.probabilities(item.request, item.embedding)
    assert all(math.isclose(a[t], b[t], abs_tol=1e-3) for t in a)
    assert loaded.dimensions == 256 and loaded.embedding_model == EMBEDDINGS


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: [], "not an object"),
        (lambda p: {**p, "version": 2}, "version 2"),
        (lambda p: {**p, "tiers": ["s", "l"]}, "tiers"),
        (lambda p: {**p, "features": FEATURES[:-1]}, "features"),
        (lambda p: {**p, "weights": p["weights"][:3]}, "weights must be a list"),
        (lambda p: {**p, "bias": [float("nan"), 0, 0]}, "finite"),
        (lambda p: {**p, "mean": ["0"] * len(FEATURES)}, "finite"),
        (lambda p: {**p, "bias": [True, 0, 0]}, "finite"),
        (lambda p: {**p, "scale": [-1.0] * len(FEATURES)}, "positive"),
        (lambda p: {**p, "embedding_model": ""}, "do not match"),
        (lambda p: {**p, "embedding_weights": [0.0] * 5000}, "do not match"),
        (lambda p: {**p, "embedding_model": "x" * 300}, "short string"),
        (lambda p: {**p, "embedding_scale": "big"}, "embedding_scale"),
    ],
)
def test_damaged_params_are_refused(fitted, damage, reason):
    with pytest.raises(InvalidRouterParams, match=reason):
        RouterParams.from_dict(damage(fitted[0].to_dict()))


def test_an_embedding_of_the_wrong_size_is_refused(fitted):
    with pytest.raises(InvalidRouterParams, match="has 3 dimensions, the router 256"):
        fitted[0].probabilities(RouteRequest(text="hi"), [0.1, 0.2, 0.3])
    with pytest.raises(InvalidRouterParams):
        fitted[0].probabilities(RouteRequest(text="hi"), None)


def test_a_router_without_embeddings_needs_none():
    train, _held_out = split()
    params = fit([Example(e.request, e.tier, e.passed) for e in train[:60]])
    assert params.dimensions == 0 and params.embedding_model == ""
    p = params.probabilities(RouteRequest(text="Where is my parcel?"))
    assert set(p) == {"small", "medium", "large"}
    with pytest.raises(ValueError):
        fit([])
