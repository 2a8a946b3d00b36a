"""validate_graph: one case per error code, each giving exactly the expected errors."""

import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from unittest import mock

import pytest

import builder.graph
from builder.graph import (
    ERROR_CODES,
    MAP_CODES,
    MAX_EDGES,
    MAX_GRAPH_BYTES,
    MAX_NODES,
    SUBFLOW_CODES,
    validate_graph,
)
from builder.graph.templates import clear_template_cache
from runs.engine.catalogue import CatalogueModel

from .graph_shapes import SHAPES
from .graphs import base_graph, edge, find, node
from .test_agent_validation import AGENT_CASES
from .test_region_validation import REGION_CASES


def _found(errors) -> set[tuple[str, str | None, str | None]]:
    return {(e.code, e.node_id, e.edge_id) for e in errors}


def test_validate_graph_accepts_the_base_graph():
    assert validate_graph(base_graph()) == []


def test_validate_graph_accepts_an_empty_config_where_defaults_suffice():
    graph = base_graph()
    find(graph["nodes"], "result")["config"] = {}
    find(graph["nodes"], "start")["config"] = {"schema": {"type": "object"}}
    find(graph["nodes"], "draft")["config"] = {"prompt": "Hello"}
    find(graph["nodes"], "check")["config"]["target"] = ""
    find(graph["nodes"], "review")["config"] = {}
    find(graph["nodes"], "triage")["config"]["routes"][0]["conditions"] = []
    assert validate_graph(graph) == []


def test_validate_graph_input_schema_open_to_more_fields_allows_any_input_name():
    graph = base_graph()
    find(graph["nodes"], "start")["config"]["schema"]["additionalProperties"] = True
    find(graph["nodes"], "draft")["config"]["prompt"] = "{{ inputs.anything }}"
    assert validate_graph(graph) == []


# --- Mutations of the base graph, each breaking exactly one thing ---------------------------


def _config(node_id: str, **values) -> Callable[[dict], None]:
    def mutate(graph: dict) -> None:
        find(graph["nodes"], node_id)["config"].update(values)

    return mutate


def _replace(path: Callable[[dict], dict], key, value) -> Callable[[dict], None]:
    def mutate(graph: dict) -> None:
        path(graph)[key] = value

    return mutate


def _node(node_id: str) -> Callable[[dict], dict]:
    return lambda graph: find(graph["nodes"], node_id)


def _edge(edge_id: str) -> Callable[[dict], dict]:
    return lambda graph: find(graph["edges"], edge_id)


def _append(kind: str, item: dict) -> Callable[[dict], None]:
    return lambda graph: graph[kind].append(item)


def _remove_node(node_id: str, *, with_edges: bool) -> Callable[[dict], None]:
    def mutate(graph: dict) -> None:
        graph["nodes"] = [n for n in graph["nodes"] if n["id"] != node_id]
        if with_edges:
            graph["edges"] = [
                e for e in graph["edges"] if node_id not in (e["source"], e["target"])
            ]

    return mutate


def _remove_edge(edge_id: str) -> Callable[[dict], None]:
    def mutate(graph: dict) -> None:
        graph["edges"] = [e for e in graph["edges"] if e["id"] != edge_id]

    return mutate


def _route_condition(field: str) -> Callable[[dict], None]:
    def mutate(graph: dict) -> None:
        route = find(graph["nodes"], "triage")["config"]["routes"][1]
        route["conditions"] = [{"field": field, "operator": "is_not_empty"}]

    return mutate


@dataclass
class Replace:
    """Returned by a mutation to validate another document instead of the graph."""

    document: object


def _replace_document(document) -> Callable[[dict], Replace]:
    return lambda graph: Replace(document)


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _many_nodes(graph: dict) -> None:
    graph["nodes"] += [node(f"extra{i}", "prompt", {"prompt": "x"}) for i in range(MAX_NODES)]


def _many_edges(graph: dict) -> None:
    graph["edges"] += [edge(f"more{i}", "start", "draft") for i in range(MAX_EDGES)]


def _huge_document(graph: dict) -> None:
    find(graph["nodes"], "polish")["config"]["prompt"] = "x" * (MAX_GRAPH_BYTES + 1)


def _island_retry_loop(graph: dict) -> None:
    evaluator = find(graph["nodes"], "check")["config"]
    graph["nodes"] += [
        node("lost", "prompt", {"prompt": "x"}),
        node("judge", "evaluator", evaluator),
    ]
    graph["edges"] += [
        edge("e_lost_judge", "lost", "judge"),
        edge("e_judge_retry", "judge", "lost", "fail"),
    ]


def _two_breaks(graph: dict) -> None:
    _config("polish", temperature=9)(graph)
    _append("edges", edge("e_ghost", "search", "ghost"))(graph)
    _config("draft", prompt="{{ inputs.nope }}")(graph)
    _remove_node("result", with_edges=True)(graph)


E001, E002, E003, E004, E005 = (f"graph.E00{i}" for i in range(1, 6))
E006, E007, E008, E009 = (f"graph.E00{i}" for i in range(6, 10))
E010, E011, E012, E013, E014, E015, E016, E017, E018, E019, E020, E021 = (
    f"graph.E0{i}" for i in range(10, 22)
)
# The workspace's credentials, as the builder's services pass them to validation.
CREDENTIALS = frozenset({"weather_api"})

E022, E023, E024, E025, E026, E027, E028 = (f"graph.E0{i}" for i in range(22, 29))

RECIPE_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "ingredients": {"type": "array"}},
    "required": ["title", "ingredients"],
}


def _json_draft(graph: dict) -> None:
    _config("draft", output_format="json", json_schema=RECIPE_SCHEMA)(graph)


E030, E031, E032 = "graph.E030", "graph.E031", "graph.E032"
E076, E077, E078 = "graph.E076", "graph.E077", "graph.E078"
E075 = "graph.E075"
E044 = "graph.E044"
E080 = "graph.E080"


def _memory_summary_too_big(graph: dict) -> None:
    config = {"query": "{{ inputs.question }}", "summarize": True, "token_budget": 300,
              "summary_tokens": 200}  # fmt: skip
    graph["nodes"].append(node("recall", "memory", config))
    graph["edges"].append(edge("e_start_recall", "start", "recall"))


CASES = [
    (
        "semantic cache on a prompt whose tool has side effects",
        _config("draft", semantic_cache=True, tools=["http_request"]),
        {(E075, "draft", None)},
    ),
    # E001: the document itself is malformed.
    ("not an object", _replace_document([]), {(E001, None, None)}),
    ("null document", _replace_document(None), {(E001, None, None)}),
    ("future schema version", _replace(lambda g: g, "schema_version", 2), {(E001, None, None)}),
    ("schema version as text", _replace(lambda g: g, "schema_version", "1"), {(E001, None, None)}),
    ("unknown top-level field", _replace(lambda g: g, "owner", "me"), {(E001, None, None)}),
    ("nodes not a list", _replace(lambda g: g, "nodes", {"a": 1}), {(E001, None, None)}),
    ("node without a type", lambda g: _node("polish")(g).pop("type"), {(E001, "polish", None)}),
    ("node id with a dash", _replace(_node("polish"), "id", "pol-ish"), {(E001, "pol-ish", None)}),
    ("unknown node field", _replace(_node("polish"), "color", "red"), {(E001, "polish", None)}),
    (
        "position as text",
        _replace(_node("polish"), "position", {"x": "1"}),
        {(E001, "polish", None)},
    ),
    ("edge source a number", _replace(_edge("e_retry"), "source", 5), {(E001, None, "e_retry")}),
    ("edge without target", lambda g: _edge("e_retry")(g).pop("target"), {(E001, None, "e_retry")}),
    (
        "not-a-number",
        _replace(_node("polish"), "position", {"x": float("nan")}),
        {(E001, None, None)},
    ),
    ("nesting too deep", _config("search", arguments=_nested(40)), {(E001, None, None)}),
    ("NUL character", _config("polish", prompt="a\x00b"), {(E001, None, None)}),
    # E002..E007: nodes and edges.
    ("unknown node type", _replace(_node("search"), "type", "webhook"), {(E002, "search", None)}),
    ("bad prompt config", _config("polish", temperature=9), {(E003, "polish", None)}),
    ("unknown config field", _config("polish", colour="red"), {(E003, "polish", None)}),
    ("router without routes", _config("triage", routes=[]), {(E003, "triage", None)}),
    (
        "input schema not an object",
        _config("start", schema={"type": "array"}),
        {(E003, "start", None)},
    ),
    ("evaluator without rules", _config("check", rules=[]), {(E003, "check", None)}),
    (
        "duplicate node id",
        _append("nodes", node("polish", "prompt", {"prompt": "x"})),
        {(E004, "polish", None)},
    ),
    (
        "duplicate edge id",
        _append("edges", edge("e_retry", "start", "result")),
        {(E005, None, "e_retry")},
    ),
    (
        "edge to a missing node",
        _append("edges", edge("e_ghost", "polish", "ghost")),
        {(E006, None, "e_ghost")},
    ),
    (
        "edge from a missing node",
        _append("edges", edge("e_ghost", "ghost", "polish")),
        {(E006, None, "e_ghost")},
    ),
    (
        "node deleted, its edges left behind",
        _remove_node("polish", with_edges=False),
        {(E006, None, "e_triage_polish"), (E006, None, "e_polish_check")},
    ),
    (
        "unknown output port",
        _replace(_edge("e_draft_triage"), "source_port", "oops"),
        {(E007, "draft", "e_draft_triage")},
    ),
    (
        "unknown input port",
        _replace(_edge("e_check_review"), "target_port", "side"),
        {(E007, "review", "e_check_review")},
    ),
    (
        "edge into the input node",
        _append("edges", edge("e_back", "draft", "start")),
        {(E007, "start", "e_back")},
    ),
    # E008, E009, E019: the flow's ends.
    ("no input node", _remove_node("start", with_edges=True), {(E008, None, None)}),
    ("no output node", _remove_node("result", with_edges=True), {(E009, None, None)}),
    ("two input nodes", _append("nodes", node("start2", "input", {})), {(E019, "start2", None)}),
    # E010, E013: connection.
    (
        "orphan node",
        _append("nodes", node("orphan", "prompt", {"prompt": "x"})),
        {(E013, "orphan", None)},
    ),
    (
        "orphan node feeding another",
        lambda g: (
            _append("nodes", node("orphan", "prompt", {"prompt": "x"}))(g),
            _append("nodes", node("after", "output", {}))(g),
            _append("edges", edge("e_after", "orphan", "after"))(g),
        ),
        {(E013, "orphan", None)},
    ),
    ("edge into the flow removed", _remove_edge("e_draft_triage"), {(E013, "triage", None)}),
    ("loop nothing leads into", _island_retry_loop, {(E010, "lost", None)}),
    # E011: loops.
    (
        "unbounded loop",
        _append("edges", edge("e_loop", "polish", "draft")),
        {(E011, "draft", "e_loop")},
    ),
    (
        "self loop",
        _append("edges", edge("e_self", "polish", "polish")),
        {(E011, "polish", "e_self")},
    ),
    (
        "loop through the pass port",
        _replace(_edge("e_retry"), "source_port", "pass"),
        {(E011, "draft", "e_retry")},
    ),
    # E012: router routes.
    (
        "route without an edge",
        lambda g: _node("triage")(g)["config"]["routes"].append({"name": "escalate"}),
        {(E012, "triage", None)},
    ),
    # E014: data references.
    (
        "template names a missing node",
        _config("polish", prompt="{{ nodes.ghost.output }}"),
        {(E014, "polish", None)},
    ),
    (
        "template reads a node that runs later",
        _config("draft", system="{{ nodes.polish.output }}"),
        {(E014, "draft", None)},
    ),
    (
        "template reads a sibling branch",
        _config("polish", prompt="{{ nodes.search.output }}"),
        {(E014, "polish", None)},
    ),
    (
        "template reads an unknown input",
        _config("draft", prompt="{{ inputs.nope }}"),
        {(E014, "draft", None)},
    ),
    (
        "template reads an unknown input by key",
        _config("draft", prompt="{{ inputs['nope'] }}"),
        {(E014, "draft", None)},
    ),
    (
        "template uses an unknown root",
        _config("draft", prompt="{{ env.api_key }}"),
        {(E014, "draft", None)},
    ),
    (
        "tool argument reads a missing node",
        _config("search", arguments={"q": "{{ nodes.x.output }}"}),
        {(E014, "search", None)},
    ),
    (
        "evaluator target reads a later node",
        _config("check", target="{{ nodes.review.output }}"),
        {(E014, "check", None)},
    ),
    (
        "output reads a missing node",
        _config("result", value="{{ nodes.gone.output }}"),
        {(E014, "result", None)},
    ),
    (
        "router field on a later node",
        _route_condition("nodes.polish.output"),
        {(E014, "triage", None)},
    ),
    (
        "router field on a missing node",
        _route_condition("nodes.ghost.output"),
        {(E014, "triage", None)},
    ),
    ("router field on an unknown input", _route_condition("inputs.nope"), {(E014, "triage", None)}),
    ("router field with an unknown root", _route_condition("outputs.x"), {(E014, "triage", None)}),
    (
        "approval shows a later node",
        _config("review", show=["nodes.result.output"]),
        {(E014, "review", None)},
    ),
    # E022: a path the data it reads cannot have.
    (
        "the recipe mistake: a field of a text output",
        _config("polish", prompt="{{ nodes.draft.output.ingredients }}"),
        {(E022, "polish", None)},
    ),
    (
        "a field the JSON schema does not list",
        lambda g: (
            _json_draft(g),
            _config("polish", prompt="{% for i in nodes.draft.output.ingredient %}{% endfor %}")(g),
        ),
        {(E022, "polish", None)},
    ),
    (
        "a field inside an item the schema describes",
        lambda g: (
            _json_draft(g),
            _config("polish", prompt="{{ nodes.draft.output.title.words }}")(g),
        ),
        {(E022, "polish", None)},
    ),
    (
        "something other than output or status",
        _config("polish", prompt="{{ nodes.draft.result }}"),
        {(E022, "polish", None)},
    ),
    (
        "a field of a text input",
        _config("draft", prompt="{{ inputs.question.text }}"),
        {(E022, "draft", None)},
    ),
    (
        "a field a tool's result does not have",
        _config("check", target="{{ nodes.search.output.body }}"),
        {(E022, "check", None)},
    ),
    (
        "router field on a field of text",
        _route_condition("nodes.draft.output.ingredients"),
        {(E022, "triage", None)},
    ),
    (
        "approval shows a field an evaluator does not give",
        _config("review", show=["nodes.check.output.verdict"]),
        {(E022, "review", None)},
    ),
    # E023: a value of a type the place it goes cannot take.
    (
        "text where a tool needs a number",
        _config("search", arguments={"url": "https://x.org", "timeout": "{{ inputs.question }}"}),
        {(E023, "search", None)},
    ),
    (
        "a text output where a tool needs a list",
        _config("search", tool="pantry", arguments={"ingredients": "{{ nodes.draft.output }}"}),
        {(E023, "search", None)},
    ),
    # E024: an edge whose value the port at its end can't take.
    (
        "a tool's object into a rule that needs a list",
        _config("check", target="", rules=[{"kind": "json_schema", "value": {"type": "array"}}]),
        {(E024, "check", "e_search_check")},
    ),
    # E025: node keys.
    (
        "a key that is another node's id",
        _replace(_node("polish"), "key", "draft"),
        {(E025, "polish", None)},
    ),
    (
        "two nodes with one key",
        lambda g: (
            _replace(_node("polish"), "key", "answer")(g),
            _replace(_node("search"), "key", "answer")(g),
        ),
        {(E025, "polish", None)},
    ),
    # E015..E018: limits.
    ("too many nodes", _many_nodes, {(E015, None, None)}),
    ("too many edges", _many_edges, {(E016, None, None)}),
    (
        "config too large",
        _config("polish", prompt="x" * (256 * 1024 + 1)),
        {(E017, "polish", None)},
    ),
    ("document too large", _huge_document, {(E018, None, None)}),
    # E020: template syntax.
    (
        "unclosed expression",
        _config("draft", prompt="{{ inputs.question "),
        {(E020, "draft", None)},
    ),
    ("unknown tag", _config("polish", prompt="{% exec %}"), {(E020, "polish", None)}),
    (
        "expression nested too deeply",
        _config("polish", prompt="{{ " + "(" * 300 + "1" + ")" * 300 + " }}"),
        {(E020, "polish", None)},
    ),
    # E021: a JSON schema `$ref` to outside the schema (nothing is ever fetched).
    (
        "input schema with a remote $ref",
        _config(
            "start",
            schema={"type": "object", "properties": {"q": {"$ref": "http://127.0.0.1:9/s"}}},
        ),
        {(E021, "start", None)},
    ),
    (
        "output schema with a file $ref",
        _config("polish", json_schema={"$ref": "file:///etc/passwd"}),
        {(E021, "polish", None)},
    ),
    (
        "evaluator rule with a remote $ref",
        _config(
            "check", rules=[{"kind": "json_schema", "value": {"$ref": "https://example.com/s"}}]
        ),
        {(E021, "check", None)},
    ),
    # E026: a credential the workspace does not have.
    (
        "tool header names an unknown credential",
        _config("search", arguments={"headers": {"X-Key": "{{ secrets.wether_api }}"}}),
        {(E026, "search", None)},
    ),
    # E027: credentials outside the node type that builds outbound requests.
    (
        "prompt reads a credential",
        _config("draft", prompt="Key: {{ secrets.weather_api }}"),
        {(E027, "draft", None)},
    ),
    # E028: a credential cut or filtered would put a form of it in the records.
    (
        "tool argument slices a credential",
        _config("search", arguments={"hint": "{{ secrets.weather_api[:4] }}"}),
        {(E028, "search", None)},
    ),
    (
        "tool argument filters a credential",
        _config("search", arguments={"key": "{% set s = secrets %}{{ s.weather_api | upper }}"}),
        {(E028, "search", None)},
    ),
    # E030..E032: failure handling.
    (
        "error edge from a rules-mode router",
        _append("edges", edge("e_triage_error", "triage", "polish", "error")),
        {(E030, "triage", "e_triage_error")},
    ),
    (
        "error edge from an approval",
        _append("edges", edge("e_review_error", "review", "result", "error")),
        {(E030, "review", "e_review_error")},
    ),
    (
        "branch on failure without an error edge",
        _config("polish", on_failure="branch"),
        {(E031, "polish", None)},
    ),
    (
        "ask a person from a rules-mode router",
        _config("triage", on_failure="ask"),
        {(E032, "triage", None)},
    ),
    (
        "flow tool named like a built-in tool",
        _config("draft", flow_tools=[{"flow": 7, "name": "calculator"}]),
        {(E044, "draft", None)},
    ),
    # E076..E078: a person's task expiring and reminding.
    (
        "task expiry without asking a person",
        _config("polish", fallback_timeout="24h"),
        {(E076, "polish", None)},
    ),
    (
        "reminder after the task expires",
        _config("polish", on_failure="ask", fallback_timeout="2h", fallback_remind_after="1d"),
        {(E077, "polish", None)},
    ),
    (
        "reminder after an approval expires",
        _config("review", timeout_seconds=3600, remind_after="2h"),
        {(E077, "review", None)},
    ),
    (
        "expired task takes an unconnected error port",
        _config(
            "polish", on_failure="ask", fallback_timeout="2h", fallback_timeout_action="branch"
        ),
        {(E078, "polish", None)},
    ),
    (
        "memory summary over half the budget",
        _memory_summary_too_big,
        {(E080, "recall", None)},
    ),
    # Several independent problems are all reported at once.
    (
        "four problems at once",
        _two_breaks,
        {
            (E003, "polish", None),
            (E006, None, "e_ghost"),
            (E014, "draft", None),
            (E009, None, None),
        },
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(mutate, expected, id=name) for name, mutate, expected in CASES],
)
def test_validate_graph_reports_exactly_the_expected_errors(mutate, expected):
    graph = base_graph()
    replaced = mutate(graph)
    document = replaced.document if isinstance(replaced, Replace) else graph
    errors = validate_graph(document, credentials=lambda: CREDENTIALS)
    assert _found(errors) == expected, [e.message for e in errors]
    for error in errors:
        assert error.code in ERROR_CODES
        assert error.message


E050, E051, E052 = (f"graph.E0{i}" for i in range(50, 53))
# The workspace's models, as the builder's services pass them to validation.
CATALOGUE = [
    CatalogueModel("openai/mini", "openai", "mini", "small", 0.15, 0.6, 128_000),
    CatalogueModel("openai/big", "openai", "big", "large", 2.5, 10.0, 128_000),
]

# (name, mutation, expected errors, the workspace's catalogue)
ROUTING_CASES = [
    (
        "auto with no model in the workspace",
        _config("draft", model="auto"),
        {(E050, "draft", None)},
        [],
    ),
    (
        "unknown candidate",
        _config("draft", model="auto", candidates=["openai/mini", "openai/gpt-9"]),
        {(E051, "draft", None)},
        CATALOGUE,
    ),
    (
        "highest tier below every candidate",
        _config("draft", model="auto", candidates=["openai/big"], max_tier="medium"),
        {(E052, "draft", None)},
        CATALOGUE,
    ),
    ("auto within its tier", _config("draft", model="auto", max_tier="small"), set(), CATALOGUE),
    ("candidates imply auto", _config("draft", candidates=["openai/mini"]), set(), CATALOGUE),
    ("a fixed model is not looked up", _config("draft", model="openai/x"), set(), []),
]


@pytest.mark.parametrize(
    ("mutate", "expected", "catalogue"),
    [pytest.param(m, e, c, id=name) for name, m, e, c in ROUTING_CASES],
)
def test_validate_graph_reports_routing_problems(mutate, expected, catalogue):
    graph = base_graph()
    mutate(graph)
    errors = validate_graph(graph, catalogue=lambda: catalogue)
    assert _found(errors) == expected, [e.message for e in errors]
    assert all(e.message and e.field for e in errors)


def test_routing_is_not_checked_without_a_catalogue():
    graph = base_graph()
    _config("draft", model="auto", candidates=["openai/gpt-9"])(graph)
    assert validate_graph(graph) == []


def test_every_error_code_has_a_case():
    # The sub-flow and map codes need a database: tests/runs/test_subflows.py and
    # tests/runs/test_maps.py have one case each.
    covered = {code for _, _, expected in CASES for code, _, _ in expected}
    covered |= {code for _, _, expected, _ in ROUTING_CASES for code, _, _ in expected}
    covered |= {code for _, _, expected in AGENT_CASES for code, _ in expected}
    covered |= {code for _, _, expected in REGION_CASES for code, _, _ in expected}
    assert covered == set(ERROR_CODES) - SUBFLOW_CODES - MAP_CODES


def test_validate_graph_accepts_a_known_credential_in_tool_arguments():
    graph = base_graph()
    _config(
        "search",
        arguments={
            "q": "x",
            "key": "Bearer {{ secrets.weather_api }}",
            "also": "{{- secrets['weather_api'] -}}",
        },
    )(graph)
    assert validate_graph(graph, credentials=lambda: CREDENTIALS) == []


def test_validate_graph_asks_for_credential_names_only_when_a_template_reads_one():
    asked = []
    assert validate_graph(base_graph(), credentials=lambda: asked.append(1) or CREDENTIALS) == []
    assert asked == []
    graph = base_graph()
    _config("search", arguments={"key": "{{ secrets['weather_api'] }}"})(graph)
    assert validate_graph(graph, credentials=lambda: asked.append(1) or frozenset()) != []
    assert asked == [1]


def test_validate_graph_legal_evaluator_retry_loop_is_not_a_cycle():
    graph = base_graph()
    assert find(graph["edges"], "e_retry")["source_port"] == "fail"
    assert validate_graph(graph) == []


def test_validate_graph_evaluator_fail_edge_may_branch_forward():
    graph = base_graph()
    graph["nodes"].append(node("apology", "output", {"name": "apology"}))
    graph["edges"].append(edge("e_give_up", "check", "apology", "fail"))
    graph["edges"] = [e for e in graph["edges"] if e["id"] != "e_retry"]
    assert validate_graph(graph) == []


def test_validate_graph_templates_may_use_jinja_builtins():
    graph = base_graph()
    find(graph["nodes"], "polish")["config"]["prompt"] = (
        "{% for i in range(3) %}{{ loop.index }}{% endfor %}{% set n = 2 %}{{ n }}"
        "{{ nodes.draft.output | upper }}{{ inputs.question | tojson }}"
    )
    assert validate_graph(graph) == []


def test_validate_graph_errors_name_the_field():
    graph = base_graph()
    find(graph["nodes"], "polish")["config"]["temperature"] = 9
    find(graph["nodes"], "draft")["config"]["prompt"] = "{{ inputs.nope }}"
    fields = {(e.node_id, e.field) for e in validate_graph(graph)}
    assert fields == {("polish", "temperature"), ("draft", "prompt")}


def test_validate_graph_never_renders_templates():
    graph = base_graph()
    find(graph["nodes"], "polish")["config"]["prompt"] = "{{ ''.__class__.__mro__ }}"
    with (
        mock.patch("jinja2.Template.render", side_effect=AssertionError("rendered")),
        mock.patch("jinja2.Environment.from_string", side_effect=AssertionError("compiled")),
    ):
        assert validate_graph(graph) == []


@pytest.mark.parametrize("shape", SHAPES)
def test_validate_graph_reports_every_error_at_the_limits(shape):
    """Each shape at MAX_NODES / MAX_EDGES: exactly its errors, each on its node or edge."""
    document, expected = SHAPES[shape]()
    assert (len(document["nodes"]), len(document["edges"])) == (MAX_NODES, MAX_EDGES)
    errors = validate_graph(document)
    assert len(errors) == expected, Counter(e.code for e in errors)
    assert len(set(errors)) == len(errors)
    assert all(e.code in ERROR_CODES and (e.node_id or e.edge_id) for e in errors)


def _work(document) -> int:
    """Count the Python work validating `document` takes: every function called, and every line
    run in builder/graph itself. Deterministic, unlike a stopwatch."""
    count = 0
    graph_code = os.path.dirname(builder.graph.__file__) + os.sep

    def in_graph(frame, event, arg):
        nonlocal count
        count += 1
        return in_graph

    def anywhere(frame, event, arg):
        nonlocal count
        count += 1
        return in_graph if frame.f_code.co_filename.startswith(graph_code) else None

    clear_template_cache()
    previous = sys.gettrace()
    sys.settrace(anywhere)
    try:
        validate_graph(document)
    finally:
        sys.settrace(previous)
    return count


@pytest.mark.parametrize("shape", SHAPES)
def test_validate_graph_work_grows_linearly(shape):
    """Four times the nodes and edges cost four times the work, not sixteen.

    The quadratic checks this replaced (a scan of every edge per loop component, a walk per
    retry edge, a walk per cut-off node) did 7 to 8 times the work here.
    """
    small, _ = SHAPES[shape](100, 250)
    large, _ = SHAPES[shape](400, 1_000)
    growth = _work(large) / _work(small)
    assert growth < 4 * 1.15, f"{growth:.2f}x the work for 4x the graph"


def test_validate_graph_failure_handling_accepted_where_the_node_can_fail():
    graph = base_graph()
    find(graph["nodes"], "polish")["config"].update(on_failure="branch")
    graph["edges"].append(edge("e_polish_error", "polish", "result", "error"))
    find(graph["nodes"], "draft")["config"].update(on_failure="ask", fallback_users=["ann"])
    assert validate_graph(graph) == []


def test_validate_graph_error_port_messages_are_plain_language():
    graph = base_graph()
    graph["edges"].append(edge("e_triage_error", "triage", "polish", "error"))
    find(graph["nodes"], "polish")["config"].update(on_failure="branch")
    messages = {e.code: e.message for e in validate_graph(graph)}
    assert "only when its mode is “llm”" in messages["graph.E030"]
    assert "nothing is connected to that port" in messages["graph.E031"]
