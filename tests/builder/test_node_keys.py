"""Node keys: derived from the label once, kept across renames and key-less saves."""

import pytest

from builder.graph import validate_graph
from builder.graph.keys import derive_key, keep_keys, with_keys
from builder.models import Flow

from .graphs import base_graph, find


@pytest.mark.parametrize(
    ("label", "taken", "key"),
    [
        ("Shopping list", [], "shopping_list"),
        ("  Draft answer!  ", [], "draft_answer"),
        ("Crème brûlée", [], "creme_brulee"),
        ("3 ideas", [], "n_3_ideas"),
        ("", [], "node"),
        ("日本", [], "node"),
        ("Draft", ["draft"], "draft_2"),
        ("Draft", ["draft", "draft_2"], "draft_3"),
        ("x" * 100, [], "x" * 64),
        ("x" * 100, ["x" * 64], "x" * 62 + "_2"),
    ],
)
def test_derive_key(label, taken, key):
    assert derive_key(label, taken) == key


def test_with_keys_gives_every_node_a_distinct_valid_key():
    graph = base_graph()
    find(graph["nodes"], "polish")["label"] = "Draft"  # the draft node's id is "draft"
    with_keys(graph)
    keys = [n["key"] for n in graph["nodes"]]
    assert len(set(keys)) == len(keys)
    assert find(graph["nodes"], "polish")["key"] == "draft_2"
    assert validate_graph(graph) == []


def test_keep_keys_restores_keys_an_editor_left_out():
    previous = with_keys(base_graph())
    saved = base_graph()
    find(saved["nodes"], "polish")["key"] = ""  # cleared on purpose: kept cleared
    keep_keys(saved, previous)
    assert find(saved["nodes"], "draft")["key"] == "draft"
    assert find(saved["nodes"], "polish")["key"] == ""


@pytest.mark.django_db
def test_renaming_a_node_keeps_references_by_key_working(api_for, editor, flow):
    graph = base_graph()
    find(graph["nodes"], "polish").update(label="Shopping list", key="shopping_list")
    find(graph["nodes"], "check")["config"]["target"] = "{{ nodes.shopping_list.output }}"
    client = api_for(editor)
    response = client.put(f"/api/flows/{flow.pk}/draft", {"graph": graph, "revision": 1})
    assert response.json()["errors"] == []
    # The editor renames the node and saves without the key it doesn't know about.
    del find(graph["nodes"], "polish")["key"]
    find(graph["nodes"], "polish")["label"] = "Groceries"
    response = client.put(f"/api/flows/{flow.pk}/draft", {"graph": graph, "revision": 2})
    assert response.json() == {"revision": 3, "valid": True, "errors": [], "warnings": []}
    stored = find(Flow.objects.get(pk=flow.pk).graph["nodes"], "polish")
    assert (stored["label"], stored["key"]) == ("Groceries", "shopping_list")
