"""Validation of graphs with a retrieve node: its config, its query template, its ports."""

from builder.graph import validate_graph

from .graphs import INPUT_SCHEMA, edge, node


def retrieve_graph(**config):
    return {
        "schema_version": 1,
        "nodes": [
            node("start", "input", {"schema": INPUT_SCHEMA}),
            node(
                "find",
                "retrieve",
                {"query": "{{ inputs.question }}", "knowledge_bases": ["Handbook"], **config},
                100,
            ),
            node(
                "answer",
                "prompt",
                {
                    "prompt": "{% for c in nodes.find.output %}{{ c.text }} ({{ c.source }})"
                    "{% endfor %} {{ inputs.question }}"
                },
                200,
            ),
            node("result", "output", {}, 300),
        ],
        "edges": [
            edge("e1", "start", "find"),
            edge("e2", "find", "answer"),
            edge("e3", "answer", "result"),
        ],
    }


def test_a_retrieve_node_feeding_a_prompt_is_valid():
    assert validate_graph(retrieve_graph()) == []


def test_retrieve_error_port_may_lead_elsewhere():
    graph = retrieve_graph()
    graph["nodes"].append(node("sorry", "output", {"name": "sorry"}, 300))
    graph["edges"].append(edge("e4", "find", "sorry", "error"))
    assert validate_graph(graph) == []


def test_bad_retrieve_config_names_each_field():
    graph = retrieve_graph(top_k=0, hybrid_weight=2, filters={"team": {"nested": True}})
    graph["nodes"][1]["config"]["knowledge_bases"] = []
    errors = validate_graph(graph)
    fields = {e.field.split(".")[0] for e in errors if e.node_id == "find" and e.field}
    assert {"knowledge_bases", "top_k", "hybrid_weight", "filters"} <= fields
    assert {e.code for e in errors} == {errors[0].code}  # all one code: bad config


def test_retrieve_query_template_references_are_checked():
    graph = retrieve_graph(query="{{ inputs.nope }}")
    errors = validate_graph(graph)
    assert [(e.node_id, e.field) for e in errors] == [("find", "query")]


def test_unknown_retrieve_port_is_refused():
    graph = retrieve_graph()
    graph["edges"][1]["source_port"] = "chunks"
    assert any(e.edge_id == "e2" for e in validate_graph(graph))
