"""json_query is bounded while it evaluates: the size of what it builds, and a deadline."""

from __future__ import annotations

import threading

import pytest

from runs.engine.limits import stop_when
from runs.tools import ToolContext, ToolError, call_tool
from runs.tools import json_query as json_query_module

DOUBLING = " | ".join(["{a: @, b: @}"] * 21)


def query(data, expression: str):
    return call_tool("json_query", {"data": data, "expression": expression}, context=ToolContext())


def test_json_query_doubling_is_refused_before_it_is_serialised():
    data = {"text": "x" * 16}  # 21 doublings of this are ~70 MB as JSON
    with pytest.raises(ToolError) as caught:
        query(data, DOUBLING)
    assert caught.value.code == "too_large"
    assert "larger than 8 MB" in caught.value.message


@pytest.mark.parametrize(
    "expression",
    [
        "join(@.sep, @.words)",  # a long separator between many words
        "to_string([@, @, @, @, @, @, @, @, @, @, @, @, @, @, @, @, @, @, @, @])",
        "[@, @, @, @, @, @, @, @] | [@, @, @, @, @, @, @, @]",
    ],
)
def test_json_query_growing_functions_are_measured_first(expression):
    data = {"sep": "s" * 400_000, "words": ["w"] * 100_000, "pad": "p" * 300_000}
    with pytest.raises(ToolError) as caught:
        query(data, expression)
    assert caught.value.code == "too_large"


def test_json_query_results_up_to_the_limit_still_come_back():
    data = {"items": [{"name": "n" * 100, "price": i} for i in range(5_000)]}  # ~0.6 MB
    assert len(query(data, "items[*].name")["result"]) == 5_000
    assert query(data, "{a: @, b: @} | {a: @, b: @} | length(a.b.items)")["result"] == 5_000
    assert len(query(data, "{a: @, b: @} | {a: @, b: @}")["result"]["a"]["b"]["items"]) == 5_000


def test_json_query_has_a_deadline(monkeypatch):
    monkeypatch.setattr(json_query_module, "QUERY_SECONDS", 0.0)
    with pytest.raises(ToolError) as caught:
        query([{"a": 1}], "[*].a")
    assert caught.value.code == "timeout"
    assert caught.value.message == "The query was stopped: it ran for more than 0 s."


def test_json_query_long_query_lets_others_run_and_stops_on_cancel(monkeypatch):
    """Another call completes while a long query runs; the stop flag then ends the query."""
    monkeypatch.setattr(json_query_module, "QUERY_SECONDS", 120)
    running, cancelled, done = threading.Event(), threading.Event(), threading.Event()
    outcome = {}

    def should_stop():
        running.set()  # polled from inside the query: it is under way
        return cancelled.is_set()

    # Each stage filters 100,000 numbers and keeps them all: slow, never large.
    slow = " | ".join(["[?@ > `-1`]"] * 60) + " | length(@)"

    def long_query():
        try:
            with stop_when(should_stop):
                query(list(range(100_000)), slow)
        except ToolError as exc:
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=long_query)
    worker.start()
    assert running.wait(30)
    assert query({"a": [1, 2]}, "length(a)")["result"] == 2
    other_finished_first = not done.is_set()
    cancelled.set()
    worker.join(60)
    assert other_finished_first, "the other call waited for the long query"
    assert outcome["error"].code == "timeout"
    assert outcome["error"].message == "The query was stopped: its run was cancelled."
