"""The automatic router's own cost: microseconds per decision over 10,000 generated prompts.

    .venv/bin/python -m bench.routing [--prompts 10000] [--seed 7]

Pure CPU (no database, no model): the router is a function of the rendered request and the
catalogue. The issue's bound is 5 ms per call; this prints the mean, p50, p95 and p99.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from runs.engine.catalogue import CatalogueModel
from runs.engine.routing import RouteRequest, route

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    requests = prompts(args.prompts, args.seed)
    for request in requests[:200]:  # warm the regexes
        route(request, CATALOGUE)
    timings: list[float] = []
    tiers: dict[str, int] = {}
    for request in requests:
        started = time.perf_counter()
        decision = route(request, CATALOGUE)
        timings.append((time.perf_counter() - started) * 1_000_000)
        tiers[decision.tier] = tiers.get(decision.tier, 0) + 1
    ordered = sorted(timings)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    mean_chars = statistics.mean(len(r.text) for r in requests)
    print(f"router decisions: {len(requests):,} prompts (mean {mean_chars:,.0f} characters)")
    print(
        f"per call: mean {statistics.mean(timings):7.1f} µs  p50 {pct(0.5):7.1f} µs  "
        f"p95 {pct(0.95):7.1f} µs  p99 {pct(0.99):7.1f} µs  (bound: 5,000 µs)"
    )
    print("tiers chosen: " + ", ".join(f"{t} {n:,}" for t, n in sorted(tiers.items())))


if __name__ == "__main__":
    main()
