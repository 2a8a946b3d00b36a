"""Validation of graphs with an agent node: one case per agent error code (E070–E073), and the
names of the flows it may call (E044)."""

import pytest

from builder.graph import validate_graph

from .graphs import INPUT_SCHEMA, edge, node

E070, E071, E072, E073 = (f"graph.E0{i}" for i in range(70, 74))
E044 = "graph.E044"


def agent_graph(**config):
    return {
        "schema_version": 1,
        "nodes": [
            node("start", "input", {"schema": INPUT_SCHEMA}),
            node("agent", "agent", {"goal": "Answer {{ inputs.question }}", **config}, 100),
            node(
                "result",
                "output",
                {},
                200,
            ),
        ],
        "edges": [edge("e1", "start", "agent"), edge("e2", "agent", "result")],
    }


CHECK = {"kind": "contains", "value": "Oslo"}

# (name, agent config, expected (code, field) pairs)
AGENT_CASES = [
    ("unknown tool", {"tools": ["calculator", "teleport"]}, {(E070, "tools")}),
    (
        "tool named like the knowledge search",
        {"tools": ["search_knowledge"], "knowledge_bases": ["Guide"]},
        {(E070, "tools"), (E071, "tools")},
    ),
    ("rules reflection without rules", {"reflection": "rules"}, {(E072, "rules")}),
    ("rules without rules reflection", {"rules": [CHECK]}, {(E073, "reflection")}),
    (
        "flow tool named like a registered tool it does not use",
        {"flow_tools": [{"flow": 3, "name": "current_time"}]},
        {(E044, "flow_tools.0.name")},
    ),
    (
        "flow tool named like the knowledge search",
        {"knowledge_bases": ["Guide"], "flow_tools": [{"flow": 3, "name": "search_knowledge"}]},
        {(E044, "flow_tools.0.name")},
    ),
    (
        "two flow tools by one name (the default name of flow 3)",
        {"flow_tools": [{"flow": 3}, {"flow": 4, "name": "flow_3"}, {"flow": 5}]},
        {(E044, "flow_tools.1.name")},
    ),
]


@pytest.mark.parametrize(
    ("config", "expected"), [pytest.param(c, e, id=name) for name, c, e in AGENT_CASES]
)
def test_agent_validation_reports_each_problem(config, expected):
    errors = validate_graph(agent_graph(**config))
    assert {(e.code, e.field) for e in errors} == expected, [e.message for e in errors]
    assert all(e.node_id == "agent" and e.message for e in errors)


def test_a_working_agent_is_valid():
    graph = agent_graph(
        tools=["calculator", "current_time"],
        flow_tools=[{"flow": 3}, {"flow": 4, "name": "explain"}],
        knowledge_bases=["Guide"],
        reflection="rules",
        rules=[CHECK],
        max_rounds=4,
    )
    assert validate_graph(graph) == []


def test_later_nodes_may_read_the_agents_answer_and_rounds():
    graph = agent_graph()
    graph["nodes"].append(
        node(
            "say",
            "prompt",
            {"prompt": "{{ nodes.agent.output.answer }} in {{ nodes.agent.output.rounds }}"},
            300,
        )
    )
    graph["edges"].append(edge("e3", "agent", "say"))
    assert validate_graph(graph) == []
    graph["nodes"][-1]["config"]["prompt"] = "{{ nodes.agent.output.verdict }}"
    assert {e.code for e in validate_graph(graph)} == {"graph.E022"}


def test_agent_config_errors_name_their_fields():
    errors = validate_graph(agent_graph(max_rounds=0, reflection="sometimes"))
    assert {(e.code, e.field) for e in errors} == {
        ("graph.E003", "max_rounds"),
        ("graph.E003", "reflection"),
    }
