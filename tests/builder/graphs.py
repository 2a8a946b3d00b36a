"""Graph documents shared by the builder tests: one valid flow that uses every node type."""

import copy
from typing import Any


def node(node_id: str, node_type: str, config: dict[str, Any], x: float = 0) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "label": node_id.title(),
        "position": {"x": x, "y": 0},
        "config": config,
    }


def edge(edge_id: str, source: str, target: str, source_port: str = "out") -> dict[str, Any]:
    return {
        "id": edge_id,
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": "in",
    }


INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string", "title": "Question"},
        "audience": {"type": "string", "enum": ["expert", "novice"]},
    },
    "required": ["question"],
}

BASE_NODES = [
    node(
        "start", "input", {"schema": INPUT_SCHEMA, "sample": {"question": "Why is the sky blue?"}}
    ),
    node(
        "draft",
        "prompt",
        {
            "model": "openai/gpt-4o-mini",
            "system": "You answer for a {{ inputs.audience | default('novice') }} reader.",
            "prompt": "Answer: {{ inputs.question }}\n"
            "{% if feedback %}Fix this: {{ feedback }} (attempt {{ iteration }}){% endif %}",
            "temperature": 0.2,
            "max_tokens": 400,
        },
        100,
    ),
    node(
        "triage",
        "router",
        {
            "mode": "rules",
            "routes": [
                {
                    "name": "research",
                    "match": "any",
                    "conditions": [
                        {"field": "nodes.draft.output", "operator": "contains", "value": "TODO"},
                        {"field": "inputs.audience", "operator": "equals", "value": "expert"},
                    ],
                },
                {
                    "name": "direct",
                    "conditions": [{"field": "nodes.draft.output", "operator": "is_not_empty"}],
                },
            ],
        },
        200,
    ),
    node(
        "search",
        "tool",
        {
            "tool": "http_request",
            "arguments": {"url": "https://example.org/?q={{ inputs.question }}"},
        },
        300,
    ),
    node(
        "polish",
        "prompt",
        {"prompt": "Polish this: {{ nodes.draft.output }}", "output_format": "text"},
        300,
    ),
    node(
        "check",
        "evaluator",
        {
            "mode": "rules",
            "target": "{{ nodes.draft.output }}",
            "rules": [
                {"kind": "min_length", "value": 20, "message": "Too short."},
                {"kind": "not_contains", "value": "TODO"},
            ],
            "max_attempts": 3,
        },
        400,
    ),
    node(
        "review",
        "approval",
        {
            "instructions": "Check the answer to {{ inputs.question }}.",
            "show": ["nodes.draft.output", "nodes.check.output"],
            "quorum": 1,
        },
        500,
    ),
    node("result", "output", {"name": "answer", "value": "{{ nodes.draft.output }}"}, 600),
]

BASE_EDGES = [
    edge("e_start_draft", "start", "draft"),
    edge("e_draft_triage", "draft", "triage"),
    edge("e_triage_search", "triage", "search", "research"),
    edge("e_triage_polish", "triage", "polish", "direct"),
    edge("e_search_check", "search", "check"),
    edge("e_polish_check", "polish", "check"),
    edge("e_retry", "check", "draft", "fail"),
    edge("e_check_review", "check", "review", "pass"),
    edge("e_review_result", "review", "result", "approved"),
]


def base_graph() -> dict[str, Any]:
    """Return a fresh copy of a valid graph: input → prompt → router → tool/prompt → evaluator
    (retrying the draft on fail) → approval → output."""
    return copy.deepcopy({"schema_version": 1, "nodes": BASE_NODES, "edges": BASE_EDGES})


def find(items: list[dict[str, Any]], item_id: str) -> dict[str, Any]:
    return next(item for item in items if item["id"] == item_id)
