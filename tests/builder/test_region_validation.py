"""Map regions in validation: the nodes drawn inside a map are checked as its items run them,
and each way a region can be drawn wrong has its own code."""

import copy

import pytest

from builder.graph import validate_graph

from .graphs import edge, node

E003, E004, E009, E011, E014 = "graph.E003", "graph.E004", "graph.E009", "graph.E011", "graph.E014"
E090, E091, E092, E093, E094 = "graph.E090", "graph.E091", "graph.E092", "graph.E093", "graph.E094"
E095, E096 = "graph.E095", "graph.E096"

SCHEMA = {
    "type": "object",
    "properties": {"things": {"type": "array", "items": {"type": "string"}}, "city": {}},
}


def inside(node_id, node_type, config, parent="each"):
    return {**node(node_id, node_type, config), "parent": parent}


def region_graph():
    """Input -> a map pricing each thing inside it (a prompt, then a shaping step) -> Output."""
    return {
        "schema_version": 1,
        "nodes": [
            node("start", "input", {"schema": SCHEMA}),
            node("each", "map", {"items": "{{ inputs.things }}", "inputs": {"town": "x"}}),
            inside(
                "price", "prompt", {"prompt": "Price of {{ inputs.item }} in {{ inputs.town }}"}
            ),
            inside("tidy", "prompt", {"prompt": "{{ nodes.price.output }} {{ inputs.city }}"}),
            node("result", "output", {"value": "{{ nodes.each.output }}"}),
        ],
        "edges": [
            edge("e1", "start", "each"),
            edge("e2", "price", "tidy"),
            edge("e3", "each", "result"),
        ],
    }


def _find(graph, node_id):
    return next(n for n in graph["nodes"] if n["id"] == node_id)


def _set(node_id, **fields):
    def mutate(graph):
        _find(graph, node_id).update(fields)

    return mutate


def _config(node_id, **values):
    def mutate(graph):
        _find(graph, node_id)["config"].update(values)

    return mutate


def _add(*, nodes=(), edges=()):
    def mutate(graph):
        graph["nodes"] += copy.deepcopy(list(nodes))
        graph["edges"] += copy.deepcopy(list(edges))

    return mutate


def _empty_region(graph):
    graph["nodes"] = [n for n in graph["nodes"] if n.get("parent") != "each"]
    graph["edges"] = [e for e in graph["edges"] if e["id"] != "e2"]


def _both_leave_the_region(graph):
    graph["edges"] = [e for e in graph["edges"] if e["id"] != "e2"]
    graph["edges"].append(edge("e2", "price", "tidy"))
    graph["nodes"].append(inside("alt", "prompt", {"prompt": "x"}))
    graph["edges"].append(edge("e9", "price", "alt"))


# (name, mutation of region_graph(), expected {(code, node, edge)})
REGION_CASES = [
    ("map with nothing inside and no flow", _empty_region, {(E090, "each", None)}),
    ("map with steps inside and a flow", _config("each", flow=3), {(E091, "each", None)}),
    (
        "edge from outside into the region",
        _add(edges=[edge("x1", "start", "tidy")]),
        {(E092, "tidy", "x1")},
    ),
    (
        "edge from the region out",
        _add(edges=[edge("x1", "tidy", "result")]),
        {(E092, "result", "x1")},
    ),
    (
        "edge from the map to its first step",
        _add(edges=[edge("x1", "each", "price")]),
        {(E092, "price", "x1")},
    ),
    (
        "two first steps",
        _add(
            nodes=[inside("other", "prompt", {"prompt": "x"})], edges=[edge("x", "other", "tidy")]
        ),
        {(E093, "other", None)},
    ),
    (
        "every step inside is on a loop",
        _add(edges=[edge("x1", "tidy", "price")]),
        {(E093, "each", None)},
    ),
    ("two last steps and no Output", _both_leave_the_region, {(E094, "each", None)}),
    ("inside a node that is not a map", _set("tidy", parent="start"), {(E095, "tidy", None)}),
    ("inside a node that does not exist", _set("tidy", parent="ghost"), {(E095, "tidy", None)}),
    (
        "maps inside each other",
        _add(
            nodes=[
                inside("m1", "map", {"items": "[]"}, parent="m2"),
                inside("m2", "map", {"items": "[]"}, parent="m1"),
            ]
        ),
        {(E095, "m1", None), (E095, "m2", None)},
    ),
    (
        "an Input inside a map",
        _add(nodes=[inside("again", "input", {"schema": {"type": "object"}})]),
        {(E096, "again", None)},
    ),
    # The other checks apply inside a region, to what the item's run can see.
    (
        "a step inside reads a node outside",
        _config("tidy", prompt="{{ nodes.start.output }}"),
        {(E014, "tidy", None)},
    ),
    (
        "a step after the map reads a step inside",
        _config("result", value="{{ nodes.price.output }}"),
        {(E014, "result", None)},
    ),
    ("a bad config inside", _config("price", temperature=9), {(E003, "price", None)}),
    (
        "an id used inside and outside",
        _add(nodes=[inside("start", "prompt", {"prompt": "x"})]),
        {(E004, "start", None)},
    ),
    (
        "the only Output is inside the map",
        lambda g: (
            _set("result", parent="each")(g)
            or g["edges"].append(g["edges"].pop() and edge("e3", "tidy", "result"))
        ),
        {(E009, None, None)},
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [pytest.param(m, e, id=name) for name, m, e in REGION_CASES]
)
def test_region_validation_reports_each_problem(mutate, expected):
    graph = region_graph()
    mutate(graph)
    errors = validate_graph(graph)
    assert {(e.code, e.node_id, e.edge_id) for e in errors} == expected, [e.message for e in errors]
    assert all(e.message for e in errors)


def test_a_region_map_is_valid():
    assert validate_graph(region_graph()) == []


def test_a_region_may_end_in_its_own_output_and_loop_through_an_evaluator():
    graph = region_graph()
    graph["nodes"] += [
        inside(
            "judge",
            "evaluator",
            {
                "target": "{{ nodes.tidy.output }}",
                "rules": [{"kind": "min_length", "value": 1}],
                "max_attempts": 2,
            },
        ),
        inside("answer", "output", {"name": "price"}),
    ]
    graph["edges"] += [
        edge("e4", "tidy", "judge"),
        edge("e5", "judge", "price", "fail"),
        edge("e6", "judge", "answer", "pass"),
    ]
    assert validate_graph(graph) == [], [e.message for e in validate_graph(graph)]


def test_a_graph_without_regions_reads_as_before():
    graph = region_graph()
    for item in graph["nodes"]:
        item.pop("parent", None)
    codes = {e.code for e in validate_graph(graph)}
    # The former region's steps are now cut off, and the map calls nothing.
    assert E090 in codes and "graph.E013" in codes


def test_messages_say_what_to_do():
    graph = region_graph()
    _add(edges=[edge("x1", "each", "price")])(graph)
    (error,) = validate_graph(graph)
    assert "Delete this edge" in error.message and "first step inside" in error.message
