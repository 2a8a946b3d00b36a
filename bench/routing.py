"""The automatic routers' own cost: microseconds per decision over 10,000 generated prompts,
and the learned router's quality on the fixed held-out labelled set.

    .venv/bin/python -m bench.routing [--prompts 10000] [--seed 7]

Pure CPU (no database, no model): the baseline is a function of the rendered request and the
catalogue; the learned router (fitted here on the 240 labels of tests/runs/engine/routing_labels)
adds its features and one dot product per tier over the request's embedding, given to it (the
embedding itself is a model call, cached by text; the local model's time is printed apart when it
is installed). The issue's bound is 5 ms per call; this prints the mean, p50, p95 and p99.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time

from runs.engine.catalogue import CatalogueModel
from runs.engine.learned_routing import Example, accuracy, fit, route_learned
from runs.engine.routing import RouteRequest, count_tokens, route
from tests.llmserver import embed_text
from tests.runs.engine.routing_labels import split

CATALOGUE = [
    CatalogueModel("openai/gpt-4o-mini", "openai", "gpt-4o-mini", "small", 0.15, 0.6, 128_000),
    CatalogueModel("local/smollm2", "local", "smollm2", "small", 0.0, 0.0, 8_192),
    CatalogueModel("openai/gpt-4.1-mini", "openai", "gpt-4.1-mini", "medium", 0.4, 1.6, 1_047_576),
    CatalogueModel("openai/gpt-4o", "openai", "gpt-4o", "large", 2.5, 10.0, 128_000),
]
LOOKUPS = [
    "What is the capital of {x}?",
    "Translate '{x}' to French.",
    "Classify the sentiment of this review: {x}",
    "Extract the order number from: {x}",
]
HARD = [
    "Solve step by step: {n} * x + 7 = {m}. Prove the answer and explain why it is unique.",
    "Implement a Python function that parses {x} and debug this stack trace:\n```\n{x}\n```",
    "Compare the trade-offs of {x} and {x}; plan a migration and justify each step.",
    "1. Calculate the probability of {n} heads\n2. Derive the formula\n3. Write the SQL query",
]
WORDS = [
    "refund",
    "order",
    "delivery",
    "account",
    "invoice",
    "password",
    "shipping",
    "warranty",
    "billing",
    "parcel",
]


def prompts(count: int, seed: int) -> list[RouteRequest]:
    rng = random.Random(seed)
    requests = []
    for i in range(count):
        x = " ".join(rng.choices(WORDS, k=rng.randint(1, 12)))
        kind = i % 4
        if kind == 0:
            text = rng.choice(LOOKUPS).format(x=x)
        elif kind == 1:
            text = rng.choice(HARD).format(x=x, n=rng.randint(2, 99), m=rng.randint(100, 999))
        elif kind == 2:  # a long support thread
            text = "Summarise this conversation:\n" + " ".join(rng.choices(WORDS, k=3_000))
        else:
            text = f"Customer writes: {x}. Draft a polite reply in two sentences."
        schema = (
            {"type": "object", "properties": {w: {"type": "string"} for w in WORDS}}
            if i % 5 == 0
            else None
        )
        requests.append(
            RouteRequest(text=text, json_schema=schema, json_output=schema is not None, tools=i % 3)
        )
    return requests


def _timed(decide, requests: list[RouteRequest]) -> tuple[list[float], dict[str, int]]:
    for request in requests[:200]:  # warm the regexes
        decide(request)
    timings: list[float] = []
    tiers: dict[str, int] = {}
    for request in requests:
        started = time.perf_counter()
        decision = decide(request)
        timings.append((time.perf_counter() - started) * 1_000_000)
        tiers[decision.tier] = tiers.get(decision.tier, 0) + 1
    return timings, tiers


def _print(name: str, timings: list[float], tiers: dict[str, int]) -> None:
    ordered = sorted(timings)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    print(
        f"{name:9s} per call: mean {statistics.mean(timings):7.1f} µs  p50 {pct(0.5):7.1f} µs  "
        f"p95 {pct(0.95):7.1f} µs  p99 {pct(0.99):7.1f} µs  (bound: 5,000 µs)"
    )
    print(" " * 10 + "tiers chosen: " + ", ".join(f"{t} {n:,}" for t, n in sorted(tiers.items())))


def _learned(params, request: RouteRequest, vector):
    """As the prompt node does it: count the tokens once, score the tiers, decide."""
    counted = dataclasses.replace(request, tokens=count_tokens(request.text))
    return route_learned(counted, CATALOGUE, params.probabilities(counted, vector))


def _quality(params) -> None:
    _train, held_out = split()
    truth = [Example(i.request, "small", i.needs == "small", i.embedding) for i in held_out]
    price = {m.name: m.output_price for m in CATALOGUE}
    print(
        f"held-out labels ({len(held_out)}): does the small tier pass? accuracy learned "
        f"{accuracy(params, truth):.1%}, baseline {accuracy(None, truth):.1%}"
    )
    for name, decide in (
        ("baseline", lambda i: route(i.request, CATALOGUE)),
        (
            "learned",
            lambda i: route_learned(
                i.request, CATALOGUE, params.probabilities(i.request, i.embedding)
            ),
        ),
    ):
        decisions = [(i, decide(i)) for i in held_out]
        passed = sum(i.needs == "small" or d.tier == "large" for i, d in decisions)
        cost = sum(price[d.chose] for _i, d in decisions)
        strong = price["openai/gpt-4o"] * len(held_out)
        print(
            f"  {name:8s} routing: pass rate {passed / len(held_out):.1%}, cost "
            f"{cost / strong:.1%} of always-strong"
        )


def _local_embedding(requests: list[RouteRequest]) -> None:
    from runs.llm.embeddings import embed, local_available

    if not local_available():
        print("local embedding model: not installed (the `local` extra); not timed")
        return
    embed([requests[0].text], model="local/all-minilm-l6-v2")  # load it
    timings = []
    for request in requests[:200]:
        started = time.perf_counter()
        embed([request.text], model="local/all-minilm-l6-v2")
        timings.append((time.perf_counter() - started) * 1000)
    print(
        f"local embedding (all-MiniLM-L6-v2, 1 thread), per request: mean "
        f"{statistics.mean(timings):.1f} ms, p95 {sorted(timings)[int(len(timings) * 0.95)]:.1f} "
        "ms (once per distinct text: cached)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    requests = prompts(args.prompts, args.seed)
    mean_chars = statistics.mean(len(r.text) for r in requests)
    print(f"router decisions: {len(requests):,} prompts (mean {mean_chars:,.0f} characters)")
    _print("baseline", *_timed(lambda r: route(r, CATALOGUE), requests))
    train, _held_out = split()
    started = time.perf_counter()
    params = fit(train, embedding_model="scripted")
    fitted_ms = (time.perf_counter() - started) * 1000
    vectors = {id(r): embed_text(r.text) for r in requests}
    _print(
        "learned",
        *_timed(
            lambda r: _learned(params, r, vectors[id(r)]),
            requests,
        ),
    )
    print(f"learned router fitted on {len(train)} labels in {fitted_ms:,.0f} ms")
    _quality(params)
    _local_embedding(requests)


if __name__ == "__main__":
    main()
