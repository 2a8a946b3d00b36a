"""Starter flows the "New flow" dialog offers: complete, valid flows to adapt.

Each has every node keyed from its label (docs/node-keys.md), so its templates read like the
canvas: `{{ nodes.research_the_recipe.output.ingredients }}`. tests/builder/test_starters.py
checks that each one validates with no problem.
"""

from __future__ import annotations

import copy
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from runs.engine.nodes import NODE_TYPES

from .demo import RECIPE, TRIAGE, TRIP, _e, _n
from .graph.keys import with_keys

# The cheapest model of the default price table, for routing before the real work.
CHEAP_MODEL = "openai/gpt-4o-mini"

ANSWER_WITH_APPROVAL = {
    "name": "Answer with approval",
    "description": "Draft an answer to a question and have a person approve or edit it before "
    "it is sent.",
    "graph": {
        "schema_version": 1,
        "nodes": [
            _n(
                "question",
                "input",
                "Question",
                0,
                120,
                schema={
                    "type": "object",
                    "required": ["question"],
                    "properties": {"question": {"type": "string", "title": "Question"}},
                },
                sample={"question": "Can I change the delivery address of my order?"},
            ),
            _n(
                "draft",
                "prompt",
                "Draft answer",
                260,
                120,
                system="You answer customers briefly and kindly.",
                prompt="Answer this question: {{ inputs.question }}",
                max_tokens=400,
            ),
            _n(
                "approve",
                "approval",
                "Approve the answer",
                520,
                120,
                instructions="Check the answer to “{{ inputs.question }}” before it is sent.",
                show=["nodes.draft.output"],
                allow_edit=True,
            ),
            _n("send", "output", "Answer", 780, 60, name="answer"),
            _n("declined", "output", "Declined", 780, 200, name="declined"),
        ],
        "edges": [
            _e("question", "draft"),
            _e("draft", "approve"),
            _e("approve", "send", "approved"),
            _e("approve", "declined", "rejected"),
        ],
    },
}

RESEARCH_WITH_TOOLS = {
    "name": "Research with tools",
    "description": "Fetch a public web page with a tool, pick out what matters with a model "
    "that may also calculate, and write a short brief.",
    "graph": {
        "schema_version": 1,
        "nodes": [
            _n(
                "topic",
                "input",
                "Topic",
                0,
                120,
                schema={
                    "type": "object",
                    "required": ["url", "question"],
                    "properties": {
                        "url": {"type": "string", "title": "Page to read"},
                        "question": {"type": "string", "title": "What to find out"},
                    },
                },
                sample={
                    "url": "https://en.wikipedia.org/wiki/Sourdough",
                    "question": "How long does a sourdough starter take to be ready?",
                },
            ),
            _n(
                "fetch",
                "tool",
                "Fetch the page",
                260,
                120,
                tool="http_request",
                arguments={"url": "{{ inputs.url }}", "method": "GET"},
            ),
            _n(
                "notes",
                "prompt",
                "Take notes",
                520,
                60,
                system="You research carefully and cite what you read. Use the calculator for "
                "any arithmetic.",
                prompt="Question: {{ inputs.question }}\n\nPage (status "
                "{{ nodes.fetch.output.status }}):\n{{ nodes.fetch.output.text | default('') "
                "| truncate(6000) }}",
                tools=["calculator", "current_time"],
                output_format="json",
                json_schema={
                    "type": "object",
                    "required": ["facts", "answer"],
                    "properties": {
                        "facts": {"type": "array", "items": {"type": "string"}},
                        "answer": {"type": "string"},
                    },
                },
            ),
            _n(
                "brief",
                "prompt",
                "Write the brief",
                780,
                60,
                prompt="Write a five-line brief answering “{{ inputs.question }}”: "
                "{{ nodes.notes.output.answer }}\nFacts: {{ nodes.notes.output.facts | "
                "join('; ') }}",
                max_tokens=300,
            ),
            _n("result", "output", "Brief", 1040, 60, name="brief"),
            _n(
                "unreachable",
                "output",
                "Page not reachable",
                520,
                220,
                name="problem",
                value="Could not read the page: {{ nodes.fetch.output.message }}",
            ),
        ],
        "edges": [
            _e("topic", "fetch"),
            _e("fetch", "notes"),
            _e("fetch", "unreachable", "error"),
            _e("notes", "brief"),
            _e("brief", "result"),
        ],
    },
}

CONTENT_REVIEW = {
    "name": "Content review loop",
    "description": "Write a post, have a judge model score it against your guidelines, and "
    "rewrite it with the judge's feedback until it passes.",
    "graph": {
        "schema_version": 1,
        "nodes": [
            _n(
                "brief",
                "input",
                "Brief",
                0,
                120,
                schema={
                    "type": "object",
                    "required": ["topic"],
                    "properties": {
                        "topic": {"type": "string", "title": "Topic"},
                        "audience": {"type": "string", "title": "Audience"},
                    },
                },
                sample={"topic": "Why we switched to a four-day week", "audience": "customers"},
            ),
            _n(
                "write",
                "prompt",
                "Write the post",
                260,
                120,
                prompt="Write a 150-word post about {{ inputs.topic }} for "
                "{{ inputs.audience | default('a general audience') }}."
                "{% if feedback %}\nRevise it; the reviewer said: {{ feedback }}{% endif %}",
                max_tokens=500,
            ),
            _n(
                "judge",
                "evaluator",
                "Review against guidelines",
                520,
                120,
                mode="llm",
                criteria="Friendly and concrete; no jargon; one clear call to action; under "
                "180 words.",
                threshold=0.75,
                max_attempts=3,
            ),
            _n("publish", "output", "Post", 780, 60, name="post", value="{{ nodes.write.output }}"),
        ],
        "edges": [
            _e("brief", "write"),
            _e("write", "judge"),
            _e("judge", "publish", "pass"),
            _e("judge", "write", "fail"),
        ],
    },
}


CHAT_INPUT = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string", "title": "Message", "maxLength": 20000}},
}

# The chat page sends each message as `inputs.message`, so both of these work there too.
ANSWER_FROM_KNOWLEDGE = {
    "name": "Answer from a knowledge base",
    "description": "Find the passages of a knowledge base that answer a question and write an "
    "answer that cites its sources. Create a knowledge base called Handbook first (Knowledge).",
    "graph": {
        "schema_version": 1,
        "nodes": [
            _n(
                "question",
                "input",
                "Question",
                0,
                120,
                schema=CHAT_INPUT,
                sample={"message": "How many days of paid leave do I get?"},
            ),
            _n(
                "find",
                "retrieve",
                "Find passages",
                260,
                120,
                query="{{ inputs.message }}",
                knowledge_bases=["Handbook"],
                top_k=5,
            ),
            _n(
                "answer",
                "prompt",
                "Answer with sources",
                520,
                120,
                system="Answer only from the passages you are given. After each fact, cite its "
                "source in square brackets, e.g. [handbook.pdf (page 3)]. If the passages do "
                "not answer the question, say that you don't know.",
                prompt="Passages:\n{% for chunk in nodes.find_passages.output %}"
                "[{{ chunk.source }}] {{ chunk.text }}\n{% else %}(none found)\n{% endfor %}"
                "\nQuestion: {{ inputs.message }}",
                temperature=0.2,
                max_tokens=500,
            ),
            _n("result", "output", "Answer", 780, 120, name="answer"),
        ],
        "edges": [_e("question", "find"), _e("find", "answer"), _e("answer", "result")],
    },
}

SUPPORT_WITH_MEMORY = {
    "name": "Support assistant that remembers",
    "description": "Chat with customers: each reply recalls what the customer said earlier in "
    "the conversation, and a cheap model keeps a running summary of long ones.",
    "graph": {
        "schema_version": 1,
        "nodes": [
            _n(
                "message",
                "input",
                "Customer message",
                0,
                120,
                schema=CHAT_INPUT,
                sample={"message": "Hi, my order 4471 has not arrived yet."},
            ),
            _n(
                "recall",
                "memory",
                "Remember the conversation",
                260,
                120,
                query="{{ inputs.message }}",
                token_budget=1500,
                summarize=True,
                summary_tokens=300,
                summary_model=CHEAP_MODEL,
            ),
            _n(
                "reply",
                "prompt",
                "Reply to the customer",
                520,
                120,
                system="You are a friendly, concise support assistant. Use what the customer "
                "told you earlier in the conversation and never ask again for details they "
                "already gave (names, order numbers, addresses).",
                prompt="Earlier in this conversation:\n"
                "{{ nodes.remember_the_conversation.output.text or '(nothing yet)' }}\n\n"
                "Customer: {{ inputs.message }}",
                max_tokens=400,
            ),
            _n("result", "output", "Reply", 780, 120, name="reply"),
        ],
        "edges": [_e("message", "recall"), _e("recall", "reply"), _e("reply", "result")],
    },
}


def _cheap_triage() -> dict[str, Any]:
    triage = copy.deepcopy(TRIAGE)
    triage["description"] = (
        "A cheap, fast model picks the kind of request; the right reply is drafted and a judge "
        "model scores it before it goes out."
    )
    for node in triage["graph"]["nodes"]:
        if node["type"] == "router":
            node["config"]["model"] = CHEAP_MODEL
    return triage


@dataclass(frozen=True)
class Starter:
    slug: str
    name: str
    description: str
    graph: dict[str, Any]

    def fresh_graph(self) -> dict[str, Any]:
        """Return a copy to store in a new flow."""
        return copy.deepcopy(self.graph)

    def preview(self) -> list[list[dict[str, str]]]:
        """Return the nodes in columns, as the run reaches them: [[{label, category}], ...]."""
        nodes = {n["id"]: n for n in self.graph["nodes"]}
        into: dict[str, int] = defaultdict(int)
        out: dict[str, list[str]] = defaultdict(list)
        retry = {e["id"] for e in self.graph["edges"] if _is_retry(e, nodes)}
        for e in self.graph["edges"]:
            if e["id"] not in retry:
                out[e["source"]].append(e["target"])
                into[e["target"]] += 1
        inside = {n for n, node in nodes.items() if node.get("parent") in nodes}
        depth = {n: 0 for n in nodes if into[n] == 0 and n not in inside}
        queue = deque(depth)
        while queue:
            current = queue.popleft()
            for target in out[current]:
                into[target] -= 1
                depth[target] = max(depth.get(target, 0), depth[current] + 1)
                if into[target] == 0:
                    queue.append(target)
        # A step inside a map shows with its map: it runs there, for each item.
        for node_id in inside:
            depth[node_id] = depth.get(nodes[node_id]["parent"], 0)
        columns: list[list[dict[str, str]]] = [[] for _ in range(max(depth.values()) + 1)]
        for node_id, node in nodes.items():
            category = NODE_TYPES[node["type"]].category.lower()
            columns[depth.get(node_id, 0)].append({"label": node["label"], "category": category})
        return columns


def _is_retry(edge: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> bool:
    return NODE_TYPES[nodes[edge["source"]]["type"]].retry_port == edge["source_port"]


def _starter(slug: str, flow: dict[str, Any]) -> Starter:
    graph = with_keys(copy.deepcopy(flow["graph"]))
    return Starter(slug, flow["name"], flow["description"], graph)


STARTERS: dict[str, Starter] = {
    starter.slug: starter
    for starter in (
        _starter("recipe-assistant", RECIPE),
        _starter("support-triage", _cheap_triage()),
        _starter("answer-with-approval", ANSWER_WITH_APPROVAL),
        _starter("research-with-tools", RESEARCH_WITH_TOOLS),
        _starter("content-review-loop", CONTENT_REVIEW),
        _starter("trip-budget", TRIP),
        _starter("answer-from-knowledge", ANSWER_FROM_KNOWLEDGE),
        _starter("support-with-memory", SUPPORT_WITH_MEMORY),
    )
}
