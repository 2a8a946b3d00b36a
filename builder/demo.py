"""The demo flows `seed_demo` loads: together they exercise every node type."""

from __future__ import annotations

from typing import Any


def _n(node_id: str, type_: str, label: str, x: float, y: float, **config: Any) -> dict:
    return {
        "id": node_id,
        "type": type_,
        "label": label,
        "position": {"x": x, "y": y},
        "config": config,
    }


def _e(source: str, target: str, port: str = "out") -> dict:
    return {
        "id": f"e_{source}_{port}_{target}",
        "source": source,
        "source_port": port,
        "target": target,
        "target_port": "in",
    }


RECIPE = {
    "name": "Recipe assistant",
    "description": "Research a recipe, check the pantry, price each missing ingredient, list "
    "what to buy (a person writes the list if the model cannot), write the cooking steps, review "
    "them, and ask a person to approve before publishing.",
    "graph": {
        "schema_version": 1,
        "nodes": [
            _n(
                "request",
                "input",
                "Dish request",
                0,
                160,
                schema={
                    "type": "object",
                    "required": ["dish"],
                    "properties": {
                        "dish": {"type": "string", "title": "Dish", "maxLength": 200},
                        "servings": {
                            "type": "integer",
                            "title": "Servings",
                            "minimum": 1,
                            "maximum": 50,
                            "default": 2,
                        },
                    },
                },
                sample={"dish": "vegetable lasagne", "servings": 4},
            ),
            _n(
                "research",
                "prompt",
                "Research the recipe",
                240,
                160,
                system="You are a careful home cook. Answer in JSON only.",
                prompt="List the ingredients for {{ inputs.dish }} for {{ inputs.servings | "
                "default(2) }} people, and a one-line summary.",
                output_format="json",
                json_schema={
                    "type": "object",
                    "required": ["ingredients", "summary"],
                    "properties": {
                        "ingredients": {
                            "type": "array",
                            "items": {"type": "string", "maxLength": 60},
                            "minItems": 1,
                            "maxItems": 15,
                        },
                        "summary": {"type": "string", "maxLength": 300},
                    },
                },
                temperature=0.2,
                max_tokens=700,
            ),
            _n(
                "pantry",
                "tool",
                "Check the pantry",
                480,
                160,
                tool="pantry",
                arguments={"ingredients": "{{ nodes.research.output.ingredients }}"},
            ),
            _n(
                "anything_missing",
                "router",
                "Anything missing?",
                720,
                160,
                mode="rules",
                routes=[
                    {
                        "name": "missing",
                        "description": "Some ingredients are missing",
                        "conditions": [
                            {
                                "field": "nodes.pantry.output.missing_count",
                                "operator": "greater_than",
                                "value": 0,
                            }
                        ],
                    }
                ],
            ),
            # A map with a step inside it: the step prices one missing ingredient, and the map
            # runs it for each of them, three at a time (a price that fails is left out).
            _n(
                "price_each",
                "map",
                "Price each missing ingredient",
                960,
                -300,
                items="{{ nodes.pantry.output.missing }}",
                concurrency=3,
                on_item_failure="skip",
            ),
            {
                **_n(
                    "estimate",
                    "prompt",
                    "Estimate the price",
                    40,
                    152,
                    system="You know supermarket prices. Answer in JSON only.",
                    prompt="What does {{ inputs.item }} cost at a supermarket, in US dollars?",
                    output_format="json",
                    json_schema={
                        "type": "object",
                        "required": ["ingredient", "usd"],
                        "properties": {
                            "ingredient": {"type": "string", "maxLength": 60},
                            "usd": {"type": "number", "minimum": 0, "maximum": 1000},
                        },
                    },
                    temperature=0.1,
                    max_tokens=80,
                ),
                "parent": "price_each",
            },
            _n(
                "shopping",
                "prompt",
                "Shopping list",
                1320,
                60,
                prompt="Write a short shopping list for: {{ nodes.pantry.output.missing | "
                "join(', ') }}.{% if nodes.price_each.output %} Estimated prices: "
                "{% for p in nodes.price_each.output %}{{ p.ingredient }} ${{ p.usd }}"
                "{% if not loop.last %}, {% endif %}{% endfor %}.{% endif %}",
                temperature=0.3,
                max_tokens=200,
                on_truncation="keep",
                on_failure="ask",
                fallback_instructions="The model could not write the shopping list. Write it "
                "for these missing ingredients: {{ nodes.pantry.output.missing | join(', ') }}.",
            ),
            _n(
                "instructions",
                "prompt",
                "Cooking instructions",
                1560,
                160,
                system="You write clear, numbered cooking steps.",
                prompt="Write cooking instructions for {{ inputs.dish }} using: "
                "{{ nodes.research.output.ingredients | join(', ') }}."
                "{% if feedback %} Improve on this feedback: {{ feedback }}{% endif %}",
                temperature=0.5,
                max_tokens=600,
                on_truncation="keep",
            ),
            _n(
                "review",
                "evaluator",
                "Review the steps",
                1800,
                160,
                mode="rules",
                rules=[
                    {
                        "kind": "min_length",
                        "value": 40,
                        "message": "The instructions are too short; give more detail.",
                    }
                ],
                max_attempts=2,
            ),
            _n(
                "approve",
                "approval",
                "Chef approval",
                2040,
                160,
                instructions="Check the instructions for {{ inputs.dish }} before publishing.",
                show=["nodes.instructions.output", "nodes.shopping.output"],
                allow_edit=True,
                timeout_seconds=86400,
                timeout_action="timed_out",
            ),
            _n("publish", "output", "Recipe", 2280, 100, name="recipe"),
            _n("declined", "output", "Declined", 2280, 260, name="declined"),
        ],
        "edges": [
            _e("request", "research"),
            _e("research", "pantry"),
            _e("pantry", "anything_missing"),
            _e("anything_missing", "price_each", "missing"),
            _e("price_each", "shopping"),
            _e("anything_missing", "instructions", "otherwise"),
            _e("shopping", "instructions"),
            _e("instructions", "review"),
            _e("review", "approve", "pass"),
            _e("review", "instructions", "fail"),
            _e("approve", "publish", "approved"),
            _e("approve", "declined", "rejected"),
        ],
    },
}

TRIAGE = {
    "name": "Support triage",
    "description": "Classify a customer message with a model, draft the right reply, and have "
    "a judge model score it before it goes out.",
    "graph": {
        "schema_version": 1,
        "nodes": [
            _n(
                "message",
                "input",
                "Customer message",
                0,
                160,
                schema={
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {"type": "string", "title": "Message", "maxLength": 5000},
                        "customer": {"type": "string", "title": "Customer name"},
                    },
                },
                sample={
                    "message": "I was charged twice for my subscription this month.",
                    "customer": "Dana",
                },
            ),
            _n(
                "classify",
                "router",
                "What is it about?",
                240,
                160,
                mode="llm",
                prompt="{{ inputs.message }}",
                routes=[
                    {"name": "billing", "description": "Payments, invoices, refunds"},
                    {"name": "bug", "description": "Something in the product is broken"},
                ],
            ),
            _n(
                "billing_reply",
                "prompt",
                "Billing reply",
                480,
                40,
                prompt="Write a kind reply to {{ inputs.customer | default('the customer') }} "
                "about this billing issue: {{ inputs.message }}{% if feedback %}\nFix: "
                "{{ feedback }}{% endif %}",
                max_tokens=300,
            ),
            _n(
                "bug_report",
                "prompt",
                "Bug report",
                480,
                160,
                prompt="Turn this message into a bug report: {{ inputs.message }}",
                output_format="json",
                json_schema={
                    "type": "object",
                    "required": ["title", "severity"],
                    "properties": {
                        "title": {"type": "string"},
                        "severity": {"type": "string", "enum": ["low", "medium", "high"]},
                    },
                },
            ),
            _n(
                "general_reply",
                "prompt",
                "General reply",
                480,
                280,
                prompt="Reply helpfully to: {{ inputs.message }}",
                max_tokens=300,
            ),
            _n(
                "judge",
                "evaluator",
                "Judge the reply",
                720,
                40,
                mode="llm",
                criteria="Polite, specific about next steps, under 120 words.",
                threshold=0.7,
                max_attempts=2,
            ),
            _n(
                "reply_out",
                "output",
                "Reply",
                960,
                40,
                name="reply",
                value="{{ nodes.billing_reply.output }}",
            ),
            _n("ticket_out", "output", "Ticket", 720, 160, name="ticket"),
            _n("general_out", "output", "General reply", 720, 280, name="reply"),
        ],
        "edges": [
            _e("message", "classify"),
            _e("classify", "billing_reply", "billing"),
            _e("classify", "bug_report", "bug"),
            _e("classify", "general_reply", "otherwise"),
            _e("billing_reply", "judge"),
            _e("judge", "reply_out", "pass"),
            _e("judge", "billing_reply", "fail"),
            _e("bug_report", "ticket_out"),
            _e("general_reply", "general_out"),
        ],
    },
}

TRIP = {
    "name": "Trip budget",
    "description": "Compute a trip's cost with tools, then let a model explain it, calling the "
    "calculator itself when it needs to.",
    "graph": {
        "schema_version": 1,
        "nodes": [
            _n(
                "trip",
                "input",
                "Trip",
                0,
                120,
                schema={
                    "type": "object",
                    "required": ["city", "nights", "nightly_rate"],
                    "properties": {
                        "city": {"type": "string", "title": "City"},
                        "nights": {
                            "type": "integer",
                            "title": "Nights",
                            "minimum": 1,
                            "maximum": 365,
                        },
                        "nightly_rate": {
                            "type": "number",
                            "title": "Nightly rate (EUR)",
                            "minimum": 0,
                        },
                    },
                },
                sample={"city": "Lisbon", "nights": 3, "nightly_rate": 120},
            ),
            _n(
                "lodging",
                "tool",
                "Lodging cost",
                240,
                60,
                tool="calculator",
                arguments={"expression": "{{ inputs.nights }} * {{ inputs.nightly_rate }}"},
            ),
            _n(
                "today",
                "tool",
                "Today's date",
                240,
                200,
                tool="current_time",
                arguments={"timezone": "Europe/Lisbon"},
            ),
            _n(
                "pick",
                "tool",
                "Pick the figures",
                480,
                120,
                tool="json_query",
                arguments={
                    "data": {
                        "lodging": "{{ nodes.lodging.output }}",
                        "date": "{{ nodes.today.output.date }}",
                    },
                    "expression": "{total: lodging.result, date: date}",
                },
            ),
            _n(
                "explain",
                "prompt",
                "Explain the budget",
                720,
                120,
                prompt="A trip to {{ inputs.city }} from {{ nodes.pick.output.result.date }}: "
                "lodging costs {{ nodes.pick.output.result.total }} EUR for {{ inputs.nights }} "
                "nights. Add 60 EUR a day for food (use the calculator) and explain the total in "
                "two sentences.",
                tools=["calculator"],
                max_tool_rounds=3,
                max_tokens=300,
            ),
            _n("budget", "output", "Budget", 960, 120, name="budget"),
        ],
        "edges": [
            _e("trip", "lodging"),
            _e("trip", "today"),
            _e("lodging", "pick"),
            _e("today", "pick"),
            _e("pick", "explain"),
            _e("explain", "budget"),
        ],
    },
}

PRICE_ONE = {
    "name": "Price an ingredient",
    "description": 'Estimate what one ingredient costs at the shop. The map in "Price the '
    'missing ingredients" calls it once per missing ingredient (the Recipe assistant does the '
    "same with a step inside its map instead).",
    "graph": {
        "schema_version": 1,
        "nodes": [
            _n(
                "ingredient",
                "input",
                "Ingredient",
                0,
                120,
                schema={
                    "type": "object",
                    "required": ["ingredient"],
                    "properties": {
                        "ingredient": {"type": "string", "title": "Ingredient", "maxLength": 60}
                    },
                },
                sample={"ingredient": "mozzarella"},
            ),
            _n(
                "estimate",
                "prompt",
                "Estimate the price",
                240,
                120,
                system="You know supermarket prices. Answer in JSON only.",
                prompt="What does {{ inputs.ingredient }} cost at a supermarket, in US dollars, "
                "for a usual pack?",
                output_format="json",
                json_schema={
                    "type": "object",
                    "required": ["ingredient", "usd"],
                    "properties": {
                        "ingredient": {"type": "string", "maxLength": 60},
                        "usd": {"type": "number", "minimum": 0},
                        "pack": {"type": "string", "maxLength": 60},
                    },
                },
                temperature=0.1,
                max_tokens=120,
            ),
            _n("price", "output", "Price", 480, 120, name="price"),
        ],
        "edges": [_e("ingredient", "estimate"), _e("estimate", "price")],
    },
}


def price_missing(price_one_id: int) -> dict[str, Any]:
    """The demo flow that maps over the pantry's missing ingredients, pricing each with the
    flow `price_one_id` (a map calls a flow by its id, known only once it is seeded)."""
    research = RECIPE["graph"]["nodes"][1]
    return {
        "name": "Price the missing ingredients",
        "description": "Research a recipe, check the pantry, and price each missing "
        'ingredient with "Price an ingredient", three at a time, in the order listed.',
        "graph": {
            "schema_version": 1,
            "nodes": [
                RECIPE["graph"]["nodes"][0],
                research,
                _n(
                    "pantry",
                    "tool",
                    "Check the pantry",
                    480,
                    160,
                    tool="pantry",
                    arguments={"ingredients": "{{ nodes.research.output.ingredients }}"},
                ),
                _n(
                    "price_each",
                    "map",
                    "Price each missing ingredient",
                    720,
                    160,
                    items="{{ nodes.pantry.output.missing }}",
                    flow=price_one_id,
                    item_input="ingredient",
                    concurrency=3,
                    on_item_failure="collect",
                ),
                _n("prices", "output", "Prices", 960, 160, name="prices"),
            ],
            "edges": [
                _e("request", "research"),
                _e("research", "pantry"),
                _e("pantry", "price_each"),
                _e("price_each", "prices"),
            ],
        },
    }


DEMO_FLOWS = [RECIPE, TRIAGE, TRIP]

DEMO_PANTRY = [
    ("olive oil", 1, "bottle"),
    ("salt", 1, "jar"),
    ("pepper", 1, "jar"),
    ("garlic", 6, "cloves"),
    ("onion", 3, ""),
    ("tomato", 6, ""),
    ("pasta", 500, "g"),
    ("flour", 1, "kg"),
    ("egg", 6, ""),
    ("milk", 1, "l"),
    ("butter", 250, "g"),
    ("rice", 1, "kg"),
]
