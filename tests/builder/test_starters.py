"""The starter flows the "New flow" dialog offers: each validates with no problem."""

import pytest

from builder.graph import validate_graph
from builder.starters import STARTERS


def test_there_are_at_least_six_starters():
    assert len(STARTERS) >= 6
    assert {"recipe-assistant", "support-triage", "answer-with-approval"} <= set(STARTERS)


@pytest.mark.parametrize("slug", sorted(STARTERS))
def test_starter_validates_with_no_problem(slug):
    starter = STARTERS[slug]
    errors = validate_graph(starter.fresh_graph())
    assert errors == [], [(e.code, e.node_id, e.message) for e in errors]
    assert all(node["key"] for node in starter.graph["nodes"])


@pytest.mark.parametrize("slug", sorted(STARTERS))
def test_starter_preview_shows_every_node_in_run_order(slug):
    starter = STARTERS[slug]
    columns = starter.preview()
    assert sum(len(column) for column in columns) == len(starter.graph["nodes"])
    assert [item["category"] for item in columns[0]] == ["flow"]  # the Input comes first


@pytest.mark.parametrize("slug", ["answer-from-knowledge", "support-with-memory"])
def test_chat_starters_take_the_chat_message(slug):
    graph = STARTERS[slug].graph
    start = next(n for n in graph["nodes"] if n["type"] == "input")
    assert start["config"]["schema"]["required"] == ["message"]
    types = {n["type"] for n in graph["nodes"]}
    assert ("retrieve" if slug == "answer-from-knowledge" else "memory") in types


def test_support_triage_routes_with_a_cheap_model():
    router = next(n for n in STARTERS["support-triage"].graph["nodes"] if n["type"] == "router")
    assert router["config"]["mode"] == "llm" and router["config"]["model"].endswith("-mini")
