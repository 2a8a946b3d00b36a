"""A fixed, synthetic-but-realistic labelled set for the learned router: support requests whose
difficulty the baseline's keywords misjudge both ways.

Each request has a hidden truth, the weakest tier whose answer passes:

- plain requests (order status, a password reset) pass on the small tier;
- keyword traps the baseline sends up a tier for nothing ("calculate my shipping to …",
  "compare the two plans", "which SQL export …") pass on the small tier too;
- policy-heavy requests with no keyword (an enterprise contract's chargeback, a data-protection
  export across regions, a partial refund over several currencies) need the large tier, though
  the baseline calls them small.

Labels are what a workspace records: the tier that answered (a mix of small and large, as when
some nodes run the cheap model and others the strong one) and whether the answer passed, with a
little noise (a reviewer's mistake). Embeddings are the scripted server's hashed bag of words
(`tests.llmserver.embed_text`), the same vectors its /v1/embeddings returns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from runs.engine.learned_routing import Example
from runs.engine.routing import RouteRequest
from tests.llmserver import embed_text

PRODUCTS = ["parcel", "order", "invoice", "subscription", "headset", "router", "voucher", "lamp"]
PLACES = ["Spain", "Norway", "Canada", "Japan", "Brazil", "Kenya", "Poland", "Chile"]
PLAIN = [
    "Where is my {p}? It was due on Monday.",
    "How do I reset my password?",
    "Please change the delivery address of my {p} to my office.",
    "Can I get a copy of my {p} receipt by email?",
    "What are your opening hours on Sunday?",
    "My {p} arrived damaged, how do I send it back?",
    "Cancel my {p} please, I ordered the wrong colour.",
    "Do you ship to {c}?",
]
TRAPS = [  # the baseline scores these medium or large; the small model answers them well
    "Calculate the shipping cost of my {p} to {c}.",
    "Compare the basic and the plus plan and tell me which is cheaper for one {p}.",
    "Which SQL export button do I press to download my {p} history?",
    "Calculate the percentage discount on my {p}: it was 40 and now it is 30.",
    "Explain why my {p} shows as pending and plan when it will arrive.",
    "Implement the voucher code on my {p}, the function in the app does nothing.",
]
HARD = [  # no keyword the baseline reads; only a strong model gets the policy right
    "Our enterprise contract covers the {p}, but finance opened a chargeback dispute in {c}; "
    "which clause applies and what do we owe?",
    "A customer in {c} demands a data protection export of every {p} record across our EU and "
    "US regions, with the retention exceptions.",
    "Refund part of a {p} paid in three currencies after a price-match guarantee and a loyalty "
    "credit; the customer also claims the statutory warranty of {c}.",
    "The reseller agreement for {c} conflicts with our consumer warranty terms on the {p}; draft "
    "the escalation to legal with the liability exposure.",
    "An insolvency administrator in {c} asks us to reverse {p} payments made in the last six "
    "months under the clawback rules.",
]
PREAMBLE = (
    "Hello, I am writing from {c} about a purchase, order number {n}, that I placed through "
    "your web shop last week with my usual account. "
)


@dataclass(frozen=True)
class Item:
    """A request and the weakest tier whose answer passes."""

    request: RouteRequest
    needs: str  # "small" or "large"
    embedding: list[float]


def items(count: int, seed: int) -> list[Item]:
    """Return `count` requests: about 45% plain, 25% traps, 30% hard."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        roll = rng.random()
        family, needs = (
            (PLAIN, "small") if roll < 0.45 else (TRAPS, "small") if roll < 0.7 else (HARD, "large")
        )
        text = rng.choice(family).format(p=rng.choice(PRODUCTS), c=rng.choice(PLACES))
        if family is not HARD and rng.random() < 0.5:  # length alone must not give it away
            text = PREAMBLE.format(c=rng.choice(PLACES), n=rng.randint(10_000, 99_999)) + text
        made.append(Item(RouteRequest(text=text, max_tokens=300), needs, embed_text(text)))
    return made


def labelled(item_list: list[Item], seed: int, noise: float = 0.05) -> list[Example]:
    """Label each item as a workspace would: the tier that answered it and whether it passed."""
    rng = random.Random(seed)
    examples = []
    for item in item_list:
        tier = "small" if rng.random() < 0.6 else "large"
        passed = item.needs == "small" or tier == "large"
        if rng.random() < noise:
            passed = not passed
        examples.append(Example(item.request, tier, passed, item.embedding))
    return examples


def split(seed: int = 12) -> tuple[list[Example], list[Item]]:
    """The training labels (240) and the held-out requests (120) with their truth."""
    train = items(240, seed)
    held_out = items(120, seed + 1000)
    return labelled(train, seed), held_out
