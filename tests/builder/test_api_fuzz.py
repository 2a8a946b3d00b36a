"""Random and mutated graph documents never make the API fail: always 2xx or 4xx in the shape."""

import copy
import math
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from builder.models import Flow
from runs.engine.nodes import NODE_TYPES

from .graphs import base_graph

FUZZ = settings(
    # FUZZ_EXAMPLES=1000 explores further, by hand; the default keeps the suite quick.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff lone",
    "🦜" * 50,
    "e\u0301",
    "\u202eright-to-left",
    "{{",
    "{{ inputs.question }}",
    "{{ ''.__class__.__mro__ }}",
    "{% for x in range(10**9) %}{% endfor %}",
    "{{ " + "(" * 200 + "1" + ")" * 200 + " }}",
    "nodes.",
    "nodes.draft",
    "inputs",
    "out",
    "fail",
    "in",
    "x" * 70,
]

text = st.one_of(st.text(max_size=40), st.sampled_from(NASTY_TEXT))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**63, 10**300, 1e308, -0.0]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=20,
)
node_types = st.one_of(st.sampled_from(sorted(NODE_TYPES)), text)


def _nested(depth: int, leaf) -> object:
    value = leaf
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def _mutate(data, graph: dict) -> dict:
    """Apply a few random, often destructive, changes to a valid graph."""
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="mutations")):
        kind = data.draw(
            st.sampled_from(
                [
                    "drop_field",
                    "wrong_type",
                    "huge_string",
                    "unicode",
                    "node_type",
                    "random_edge",
                    "deep_config",
                    "config_field",
                    "duplicate_node",
                    "top_level",
                ]
            ),
            label="kind",
        )
        nodes, edges = graph.get("nodes"), graph.get("edges")
        if not isinstance(nodes, list) or not nodes or not isinstance(edges, list):
            graph = {"schema_version": 1, "nodes": [], "edges": []}
            continue
        node = data.draw(st.sampled_from(nodes))
        item = data.draw(st.sampled_from(nodes + edges))
        if not isinstance(node, dict) or not isinstance(item, dict):
            continue
        if kind == "drop_field" and item:
            item.pop(data.draw(st.sampled_from(sorted(item))), None)
        elif kind == "wrong_type" and item:
            item[data.draw(st.sampled_from(sorted(item)))] = data.draw(json_values)
        elif kind == "huge_string":
            size = data.draw(st.sampled_from([300, 70_000, 300_000]))
            node.setdefault("config", {})
            if isinstance(node["config"], dict):
                node["config"][data.draw(st.sampled_from(["prompt", "system", "x"]))] = "x" * size
        elif kind == "unicode" and item:
            item[data.draw(st.sampled_from(sorted(item)))] = data.draw(text)
        elif kind == "node_type":
            node["type"] = data.draw(node_types)
        elif kind == "random_edge":
            ids = [n.get("id") for n in nodes if isinstance(n, dict)] + ["ghost"]
            edges.append(
                {
                    "id": data.draw(st.one_of(text, st.sampled_from(["e_retry", "new"]))),
                    "source": data.draw(st.sampled_from(ids)),
                    "source_port": data.draw(st.sampled_from(["out", "fail", "pass", "x"])),
                    "target": data.draw(st.sampled_from(ids)),
                    "target_port": data.draw(st.sampled_from(["in", "out"])),
                }
            )
        elif kind == "deep_config":
            depth = data.draw(st.sampled_from([5, 31, 40, 200, 900]))
            node["config"] = {"arguments": _nested(depth, data.draw(scalars))}
        elif kind == "config_field" and isinstance(node.get("config"), dict):
            node["config"][data.draw(text)] = data.draw(json_values)
        elif kind == "duplicate_node":
            nodes.append(copy.deepcopy(node))
        elif kind == "top_level":
            graph[data.draw(st.sampled_from(["schema_version", "nodes", "edges", "extra"]))] = (
                data.draw(json_values)
            )
    return graph


def _same_json(stored, sent) -> bool:
    """Equal as JSON data; PostgreSQL's jsonb keeps a float's shortest digits, not its type."""
    if isinstance(sent, float) and isinstance(stored, (int, float)):
        return math.isclose(stored, sent, rel_tol=1e-15)
    if isinstance(sent, dict) and isinstance(stored, dict):
        return stored.keys() == sent.keys() and all(_same_json(stored[k], sent[k]) for k in sent)
    if isinstance(sent, list) and isinstance(stored, list):
        return len(stored) == len(sent) and all(map(_same_json, stored, sent))
    return type(stored) is type(sent) and stored == sent


def _check(response, *allowed: int) -> None:
    event(f"status {response.status_code}")  # see them with --hypothesis-show-statistics
    assert response.status_code < 500, response.content[:300]
    assert response.status_code in allowed, (response.status_code, response.content[:300])
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body, dict) and {"detail", "code"} <= set(body), body


def _document(data) -> object:
    if data.draw(st.booleans(), label="random json"):
        return data.draw(json_values, label="document")
    return _mutate(data, base_graph())


@pytest.fixture
def client(api_for, editor):
    return api_for(editor)


@FUZZ
@given(data=st.data())
def test_fuzz_validate_never_fails(client, flow, data):
    document = _document(data)
    response = client.post(f"/api/flows/{flow.pk}/validate", {"graph": document})
    _check(response, 200, 400, 413, 422)
    if response.status_code == 200:
        body = response.json()
        assert body["valid"] is (body["errors"] == [])


@FUZZ
@given(data=st.data())
def test_fuzz_draft_save_never_fails(client, flow, data):
    document = _document(data)
    revision = Flow.objects.values_list("revision", flat=True).get(pk=flow.pk)
    response = client.put(f"/api/flows/{flow.pk}/draft", {"graph": document, "revision": revision})
    _check(response, 200, 400, 413, 422)
    stored = Flow.objects.get(pk=flow.pk)
    if response.status_code == 200:
        assert _same_json(stored.graph, document) and stored.revision == revision + 1
    else:
        assert stored.revision == revision


@FUZZ
@given(data=st.data())
def test_fuzz_import_never_fails(client, workspace, data):
    document = _document(data)
    if data.draw(st.booleans(), label="wrapped"):
        document = {"format": "switchboard.flow", "format_version": 1, "graph": document}
    response = client.post("/api/flows/import", {"workspace": workspace.pk, "document": document})
    _check(response, 201, 400, 413, 422)
    if response.status_code == 201:
        assert _same_json(Flow.objects.get(pk=response.json()["id"]).graph, document["graph"])
