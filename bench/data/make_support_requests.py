"""Generate bench/data/support_requests.jsonl: support-style requests with expected answers.

    .venv/bin/python -m bench.data.make_support_requests [--seed 12] [--scale 5] [--check]

Deterministic (a seeded generator): the committed file is what this prints. Each line is a dataset
item as the evaluations app uploads it, `{"inputs": {"question": …}, "expected": …, "tags": […]}`:

- easy: one-line FAQ questions (password, invoices, opening hours …), each intent asked in a few
  wordings; the expected answer is the intent's knowledge-base article ("KB-1017"). Beyond
  scale 1, product questions ("What warranty does the kettle have?", KB-4001 …) keep the easy
  share: `scale` times 40 intents, as `scale` times 30 order and 75 hard requests.
- order: "where is my order N" questions whose answer depends on the order number
  ("KB-2001 order 48213"): a cache must not answer one order with another's.
- hard: multi-step requests (refund arithmetic, debugging a log, plan comparisons) whose expected
  answer is a computed figure or a root-cause code. A third of them have two base steps only, a
  third one more and a third two more (tag `extra-steps-N`): policy exceptions that change the
  figure (sale items, a conditional shipping refund, a discount code; a seat minimum, a yearly
  discount, hiring mid-year) or log lines that are not the cause (an error that recovered,
  another endpoint). The extra steps are in the request's text, as in real hard requests: more
  clauses, more figures, a longer log, so a router can learn from the request how hard it is.
  No word is there to mark the difficulty: every clause is part of the task.
- paraphrase: near-duplicates of an earlier request (re-worded, re-cased, a greeting added), with
  that request's expected answer, placed later in the file: what a semantic cache can honestly hit.

`--check` regenerates in memory and exits 1 when the committed file differs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

OUT = Path(__file__).with_name("support_requests.jsonl")

FAQ = [
    ("How do I reset my password?", ["How can I reset my password?", "how do i reset my password"]),
    ("How do I change the email address on my account?", ["How can I change my account email?"]),
    (
        "Where can I download my invoices?",
        ["where can i download my invoices", "Where do I download invoices?"],
    ),
    ("What are your opening hours?", ["What are your opening hours please?"]),
    ("How long does standard shipping take?", ["How long does standard shipping usually take?"]),
    ("Which payment methods do you accept?", ["Which payment methods do you accept"]),
    ("How do I delete my account?", ["How can I delete my account?"]),
    (
        "Can I change my delivery address after ordering?",
        ["Can I change the delivery address after ordering?"],
    ),
    ("Do you ship internationally?", ["do you ship internationally"]),
    ("How do I apply a discount code?", ["How do I apply a discount code at checkout?"]),
    ("What is your return window?", ["What is the return window?"]),
    ("How do I unsubscribe from the newsletter?", ["How can I unsubscribe from your newsletter?"]),
    ("Can I buy a gift card online?", ["can i buy a gift card online"]),
    ("How do I enable two-factor authentication?", ["How can I enable two-factor authentication?"]),
    ("Where is your warehouse located?", ["Where is your warehouse located"]),
    ("Do you offer student discounts?", ["Do you offer any student discounts?"]),
    ("How do I track my parcel?", ["How can I track my parcel?"]),
    ("Can I pause my subscription?", ["Can I pause my subscription for a month?"]),
    ("How do I update my card details?", ["How can I update my card details?"]),
    ("What does express delivery cost?", ["what does express delivery cost"]),
    ("Is my data stored in the EU?", ["Is my data stored in the EU"]),
    ("How do I add a team member to my plan?", ["How can I add a team member to my plan?"]),
    ("Can I get a paper invoice by post?", ["Can I get a paper invoice sent by post?"]),
    (
        "How do I cancel an order that has not shipped?",
        ["How can I cancel an order that has not shipped?"],
    ),
    ("Do you have a phone support line?", ["do you have a phone support line"]),
    ("How do I export my order history?", ["How can I export my order history?"]),
    ("What warranty do your kettles have?", ["What warranty do the kettles have?"]),
    ("Can I collect my order from a store?", ["Can I collect my order from a store instead?"]),
    ("How do I change my subscription plan?", ["How can I change my subscription plan?"]),
    ("Why was my card declined?", ["why was my card declined"]),
    ("How do I report a damaged item?", ["How can I report a damaged item?"]),
    ("Do you price match?", ["Do you price match other shops?"]),
    ("How do I change the language of the app?", ["How can I change the app language?"]),
    (
        "What is the minimum order for free shipping?",
        ["What is the minimum order for free shipping"],
    ),
    ("How do I merge two accounts?", ["How can I merge two accounts?"]),
    ("Can I order without creating an account?", ["can i order without creating an account"]),
    ("How do I download the mobile app?", ["Where do I download the mobile app?"]),
    ("What happens when my trial ends?", ["What happens when the trial ends?"]),
    ("How do I get a VAT receipt?", ["How can I get a VAT receipt?"]),
    (
        "Can I reserve an item before it is in stock?",
        ["Can I reserve an item before it is back in stock?"],
    ),
]
PRODUCTS = [
    "kettle",
    "toaster",
    "desk lamp",
    "garden hose",
    "rice cooker",
    "blender",
    "backpack",
    "office chair",
    "coffee grinder",
    "electric fan",
    "yoga mat",
    "air fryer",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
CAUSES = [
    ("the webhook signature secret was rotated but not updated", "KB-3101"),
    ("the API token expired after 90 days", "KB-3102"),
    ("requests exceed the 60 per minute rate limit", "KB-3103"),
    ("the callback URL answers with a redirect", "KB-3104"),
    ("the payload is larger than the 1 MB limit", "KB-3105"),
]
GREETINGS = ["Hi, ", "Hello, ", "Hi there, "]
#: Product questions, asked of every product (each product × question an intent of its own, with
#: its own article): a larger set's easy requests beyond FAQ, in the same share. Two products'
#: questions differ in one word, which a semantic cache must not take for the same question.
PRODUCT_FAQ = [
    ("What warranty does the {p} have?", "How long is the warranty on the {p}?"),
    ("Where can I find the manual for the {p}?", "Where is the user manual for the {p}?"),
    ("Are spare parts available for the {p}?", "can i buy spare parts for the {p}"),
    ("How do I clean the {p}?", "What is the best way to clean the {p}?"),
    ("Can I return the {p} if I have opened it?", "Can I return an opened {p}?"),
    ("When will the {p} be back in stock?", "when is the {p} back in stock"),
    ("Which colours does the {p} come in?", "What colours is the {p} available in?"),
    ("What are the dimensions of the {p}?", "How big is the {p}?"),
    ("How much does the {p} weigh?", "What does the {p} weigh?"),
    ("Does the {p} come gift-wrapped?", "Can I have the {p} gift-wrapped?"),
    ("Can I try the {p} in one of your stores?", "Can I see the {p} in a store before buying?"),
    ("Is the {p} eligible for free shipping?", "Does the {p} ship for free?"),
    ("Do you sell a refurbished {p}?", "Is there a refurbished {p} for sale?"),
    (
        "Can I buy an extended warranty for the {p}?",
        "Do you offer an extended warranty on the {p}?",
    ),
]
#: How many times the base set's counts the shipped set has (1: the 222-request set of before;
#: the largest scale PRODUCT_FAQ allows is 5).
SCALE = 5
MAX_SCALE = 1 + len(PRODUCT_FAQ) * len(PRODUCTS) // len(FAQ)


def easy_questions(scale: int) -> list[tuple[str, list[str]]]:
    """FAQ, then as many product questions as make `scale` times FAQ's intents."""
    products = [
        (question.format(p=product), [reworded.format(p=product)])
        for question, reworded in PRODUCT_FAQ
        for product in PRODUCTS
    ]
    return FAQ + products[: len(FAQ) * (scale - 1)]


def easy_items(scale: int = 1) -> tuple[list[dict], list[dict]]:
    first, later = [], []
    for number, (question, rewordings) in enumerate(easy_questions(scale)):
        base, offset = (1001, number) if number < len(FAQ) else (4001, number - len(FAQ))
        expected = f"KB-{base + offset}"
        first.append({"inputs": {"question": question}, "expected": expected, "tags": ["easy"]})
        for reworded in rewordings:
            later.append(
                {
                    "inputs": {"question": reworded},
                    "expected": expected,
                    "tags": ["easy", "paraphrase"],
                }
            )
    return first, later


def order_items(rng: random.Random, count: int) -> tuple[list[dict], list[dict]]:
    first, later = [], []
    for _ in range(count):
        order = rng.randint(10_000, 99_999)
        product, day = rng.choice(PRODUCTS), rng.choice(DAYS)
        question = f"Where is order {order}? It is the {product} I bought on {day}."
        expected = f"KB-2001 order {order}"
        first.append({"inputs": {"question": question}, "expected": expected, "tags": ["order"]})
        if rng.random() < 0.4:
            reworded = question.replace("Where is order", "Where is my order")
            later.append(
                {
                    "inputs": {"question": reworded},
                    "expected": expected,
                    "tags": ["order", "paraphrase"],
                }
            )
    return first, later


#: How many policy exceptions (refunds, plans) or extra log lines (debugging) a hard request
#: carries beyond its two base steps: each one is another step to get right.
EXTRA_STEPS = (0, 1, 2)


def refund_item(rng: random.Random, extra: int) -> dict:
    qty, price = rng.randint(4, 12), rng.randint(12, 180)
    damaged = rng.randint(1, qty - 2)
    fee = rng.choice([10, 15, 20])
    returned = qty - damaged
    product = rng.choice(PRODUCTS)
    sale, sale_off = 0, 0
    clauses = []
    exceptions = rng.sample(["sale", "shipping", "coupon"], extra)
    if "sale" in exceptions:
        sale, sale_off = rng.randint(1, returned - 1), rng.choice([20, 30, 40])
        clauses.append(
            f"{sale} of the unopened ones were bought in the sale at {sale_off}% off; sale items "
            "are refunded at the price paid and carry no restocking fee."
        )
    refund = damaged * price + (returned - sale) * price * (100 - fee) / 100
    refund += sale * price * (100 - sale_off) / 100
    if "shipping" in exceptions:
        shipping = rng.choice([8, 12, 15, 25])
        clauses.append(
            f"I paid ${shipping} for shipping, which you refund only when more than half of the "
            "units arrived damaged."
        )
        refund += shipping if damaged * 2 > qty else 0
    if "coupon" in exceptions:
        coupon = rng.choice([5, 10, 20])
        clauses.append(
            f"I used a ${coupon} discount code on the order, which comes off the refund."
        )
        refund -= coupon
    question = (
        f"I ordered {qty} units of the {product} at ${price} each and {damaged} arrived damaged. "
        f"I am returning the other {returned} unopened as well. Your policy charges a {fee}% "
        "restocking fee on undamaged returns only. "
        + "".join(c + " " for c in clauses)
        + "Calculate step by step the total refund I should receive, and explain why each part "
        "applies."
    )
    return {
        "inputs": {"question": question},
        "expected": f"REFUND ${refund:,.2f}",
        "tags": ["hard", "refund", f"extra-steps-{extra}"],
    }


def debug_item(rng: random.Random, extra: int) -> dict:
    _cause, code = rng.choice(CAUSES)
    status = {"KB-3101": 401, "KB-3102": 401, "KB-3103": 429, "KB-3104": 302, "KB-3105": 413}[code]
    request_id = rng.randint(100_000, 999_999)
    hint = {
        "KB-3101": "signature mismatch",
        "KB-3102": "token expired",
        "KB-3103": "too many requests",
        "KB-3104": "location header present",
        "KB-3105": "body too large",
    }[code]
    lines = [f"POST /hooks/orders -> {status} ({hint}) request {request_id}"]
    lines += [f"retry 1 -> {status}", f"retry 2 -> {status}"]
    # Each extra line is an error that is not the cause: it recovered, or another endpoint's.
    noise = rng.sample(
        [
            "GET /health -> 503 (upstream timeout), then 200 on retry",
            f"POST /hooks/refunds -> 200 request {rng.randint(100_000, 999_999)}",
            "DNS lookup for hooks.example.com took 2.1 s (cached afterwards)",
        ],
        extra,
    )
    for line in noise:
        lines.insert(rng.randint(0, len(lines)), line)
    log = "\n".join(lines)
    question = (
        "Our integration stopped receiving events overnight. Debug this log and explain the root "
        f"cause step by step:\n```\n{log}\n```"
    )
    tags = ["hard", "debug", f"extra-steps-{extra}"]
    return {"inputs": {"question": question}, "expected": code, "tags": tags}


def plan_item(rng: random.Random, extra: int) -> dict:
    seats = rng.randint(6, 80)
    pro, team, team_base = rng.choice([8, 9, 12]), rng.choice([5, 6, 7]), rng.choice([60, 90, 120])
    exceptions = rng.sample(["minimum", "yearly", "hiring"], extra)
    clauses = []
    minimum, later, off = 0, seats, 0
    if "minimum" in exceptions:
        minimum = rng.choice([20, 30, 40])
        clauses.append(f"The Team plan bills at least {minimum} seats.")
    if "yearly" in exceptions:
        off = rng.choice([10, 20, 25])
        clauses.append(f"Paying for the year up front takes {off}% off the Pro plan.")
    if "hiring" in exceptions:
        later = seats + rng.randint(4, 20)
        clauses.append(f"We will be {later} people from the seventh month on.")
    seat_months = 6 * seats + 6 * later
    pro_year = seat_months * pro * (100 - off) / 100
    team_year = 12 * team_base + team * (6 * max(seats, minimum) + 6 * max(later, minimum))
    cheaper = "Pro" if pro_year < team_year else "Team"
    question = (
        f"We are a company of {seats} people. Compare the Pro plan (${pro} per seat per month) "
        f"with the Team plan (${team_base} per month plus ${team} per seat). "
        + "".join(c + " " for c in clauses)
        + "Calculate the yearly cost of each and justify which plan we should choose."
    )
    expected = f"{cheaper} ${min(pro_year, team_year):,.2f}"
    tags = ["hard", "plan", f"extra-steps-{extra}"]
    return {"inputs": {"question": question}, "expected": expected, "tags": tags}


def hard_items(rng: random.Random, count: int) -> tuple[list[dict], list[dict]]:
    makers = [refund_item, debug_item, plan_item]
    first, later = [], []
    for i in range(count):
        item = makers[i % len(makers)](rng, EXTRA_STEPS[(i // len(makers)) % len(EXTRA_STEPS)])
        first.append(item)
        if rng.random() < 0.3:
            question = item["inputs"]["question"]
            reworded = rng.choice(GREETINGS) + question[0].lower() + question[1:]
            later.append(
                {
                    "inputs": {"question": reworded},
                    "expected": item["expected"],
                    "tags": [*item["tags"], "paraphrase"],
                }
            )
    return first, later


def generate(seed: int, scale: int = SCALE) -> list[dict]:
    """The set for `seed`: `scale` times 40 FAQ intents, 30 order look-ups and 75 hard requests,
    with their near-duplicates (scale 1 is the set of before, request for request)."""
    if not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be 1 to {MAX_SCALE}")
    rng = random.Random(seed)
    easy, easy_later = easy_items(scale)
    orders, orders_later = order_items(rng, 30 * scale)
    hard, hard_later = hard_items(rng, 75 * scale)
    first = easy + orders + hard
    rng.shuffle(first)
    later = easy_later + orders_later + hard_later
    rng.shuffle(later)
    # Originals first (mixed), then the near-duplicates, mixed with the last originals.
    cut = len(first) * 3 // 4
    tail = first[cut:] + later
    rng.shuffle(tail)
    ordered, seen, held = list(first[:cut]), {i["expected"] for i in first[:cut]}, []
    for item in tail:
        if "paraphrase" in item["tags"] and item["expected"] not in seen:
            held.append(item)  # it waits for what it repeats
            continue
        ordered.append(item)
        seen.add(item["expected"])
        ordered += [h for h in held if h["expected"] == item["expected"]]
        held = [h for h in held if h["expected"] != item["expected"]]
    return ordered + held


def render(items: list[dict]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--scale", type=int, default=SCALE, help="times the base set's counts")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args()
    content = render(generate(args.seed, args.scale))
    if args.check:
        sys.exit(0 if OUT.exists() and OUT.read_text() == content else 1)
    OUT.write_text(content)
    items = [json.loads(line) for line in content.splitlines()]
    tags: dict[str, int] = {}
    for item in items:
        for tag in item["tags"]:
            tags[tag] = tags.get(tag, 0) + 1
    print(
        f"{len(items)} requests → {OUT}: " + ", ".join(f"{k} {v}" for k, v in sorted(tags.items()))
    )


if __name__ == "__main__":
    main()
