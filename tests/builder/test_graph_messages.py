"""Configuration problems are said in plain language, naming the setting as the inspector does."""

import pytest

from builder.graph import validate_graph

from .graphs import base_graph, find


def _set(node_id: str, **values):
    def mutate(graph):
        find(graph["nodes"], node_id)["config"].update(values)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (
            _set("draft", prompt=""),
            "prompt",
            "The user message is empty — write what the model should do.",
        ),
        (_set("search", tool=""), "tool", "The tool is empty — pick the tool to call."),
        (_set("polish", temperature=9), "temperature", "The temperature must be at most 2.0."),
        (_set("polish", colour="red"), "colour", "“colour” is not a setting of this node."),
        (
            _set("check", max_attempts="x"),
            "max_attempts",
            "The max attempts must be a whole number.",
        ),
        (
            _set("result", name="1x"),
            "name",
            "The result name may use only letters, digits and _, and must not start with a digit.",
        ),
        (_set("check", rules=[]), None, "Rules mode needs at least one rule."),
        (_set("triage", routes=[]), "routes", "The routes: none yet — add at least one route."),
        (
            lambda g: find(g["nodes"], "triage")["config"]["routes"][0]["conditions"][0].update(
                operator="bigger"
            ),
            "routes.0.conditions.0.operator",
            "Route 1 → condition 1 → operator must be one of:",
        ),
    ],
)
def test_config_messages_are_plain_language(mutate, field, message):
    graph = base_graph()
    mutate(graph)
    (error,) = validate_graph(graph)
    assert (error.code, error.field) == ("graph.E003", field)
    assert error.message.startswith(message), error.message
    assert "String should" not in error.message and "Input should" not in error.message
