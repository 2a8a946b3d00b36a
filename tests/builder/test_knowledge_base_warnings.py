"""Warnings about knowledge bases a Retrieve or Agent node names that the flow's workspace does
not have (graph.W001): reported by live validation, saving and publishing, never an error (the
flow publishes and runs; the step fails when it runs, see
tests/runs/engine/test_retrieve_flow_failures.py)."""

import pytest

from builder.graph import WARNING_CODES
from builder.knowledge_bases import knowledge_base_warnings
from builder.models import Flow, FlowVersion
from knowledge.models import KnowledgeBase

from .conftest import assert_error
from .graphs import INPUT_SCHEMA, edge, node

MESSAGE = (
    "Knowledge base “{}” does not exist in this workspace (yet); the step will fail when it runs."
)


def searching_graph(retrieve_bases=("Handbook",), agent_bases=()):
    nodes = [
        node("start", "input", {"schema": INPUT_SCHEMA}),
        node(
            "find",
            "retrieve",
            {"query": "{{ inputs.question }}", "knowledge_bases": list(retrieve_bases)},
            100,
        ),
        node(
            "helper",
            "agent",
            {"goal": "Answer {{ inputs.question }}", "knowledge_bases": list(agent_bases)},
            200,
        ),
        node("result", "output", {"value": "{{ nodes.helper.output.answer }}"}, 300),
    ]
    edges = [
        edge("e1", "start", "find"),
        edge("e2", "find", "helper"),
        edge("e3", "helper", "result"),
    ]
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


@pytest.fixture
def searching_flow(workspace, editor):
    return Flow.objects.create(
        workspace=workspace,
        name="Answers from the handbook",
        graph=searching_graph(retrieve_bases=["Handbook", "FAQ"], agent_bases=["Handbook"]),
        created_by=editor,
    )


def test_knowledge_base_warnings_name_each_node_and_missing_base(workspace, other_workspace):
    KnowledgeBase.objects.create(workspace=workspace, name="FAQ")
    # Another workspace's base of the same name does not count: the run looks in its own.
    KnowledgeBase.objects.create(workspace=other_workspace, name="Handbook")
    graph = searching_graph(retrieve_bases=["Handbook", "FAQ"], agent_bases=["Handbook", "faq"])
    warnings = knowledge_base_warnings(graph=graph, workspace_id=workspace.pk)
    assert [(w.code, w.node_id, w.field, w.message) for w in warnings] == [
        ("graph.W001", "find", "knowledge_bases", MESSAGE.format("Handbook")),
        ("graph.W001", "helper", "knowledge_bases", MESSAGE.format("Handbook")),
        # Names are matched exactly when the step runs: a base called FAQ is not "faq".
        ("graph.W001", "helper", "knowledge_bases", MESSAGE.format("faq")),
    ]
    assert all(w.code in WARNING_CODES for w in warnings)
    assert knowledge_base_warnings(graph=graph, workspace_id=other_workspace.pk) != []


def test_knowledge_base_warnings_none_once_the_bases_exist(workspace):
    KnowledgeBase.objects.create(workspace=workspace, name="Handbook")
    graph = searching_graph(agent_bases=["Handbook"])
    assert knowledge_base_warnings(graph=graph, workspace_id=workspace.pk) == []


def test_knowledge_base_warnings_ask_nothing_of_a_graph_that_searches_none(
    workspace, django_assert_num_queries
):
    graph = searching_graph(retrieve_bases=["Handbook"])
    graph["nodes"][1]["config"]["knowledge_bases"] = []  # a bad config: reported as an error
    with django_assert_num_queries(0):
        assert knowledge_base_warnings(graph=graph, workspace_id=workspace.pk) == []
        assert knowledge_base_warnings(graph={"nodes": "not a list"}, workspace_id=1) == []


def test_live_validation_warns_without_making_the_flow_invalid(api_for, editor, searching_flow):
    body = api_for(editor).post(f"/api/flows/{searching_flow.pk}/validate", {}).json()
    assert body["valid"] is True and body["errors"] == []
    assert [(w["code"], w["node_id"], w["message"]) for w in body["warnings"]] == [
        ("graph.W001", "find", MESSAGE.format("Handbook")),
        ("graph.W001", "find", MESSAGE.format("FAQ")),
        ("graph.W001", "helper", MESSAGE.format("Handbook")),
    ]
    # The graph being edited, not only the saved draft.
    edited = searching_graph(retrieve_bases=["Handbook"])
    body = api_for(editor).post(f"/api/flows/{searching_flow.pk}/validate", {"graph": edited})
    assert [w["node_id"] for w in body.json()["warnings"]] == ["find"]


def test_saving_the_draft_returns_its_warnings(api_for, editor, searching_flow, workspace):
    KnowledgeBase.objects.create(workspace=workspace, name="Handbook")
    response = api_for(editor).put(
        f"/api/flows/{searching_flow.pk}/draft",
        {"graph": searching_graph(retrieve_bases=["Handbook", "FAQ"]), "revision": 1},
    )
    body = response.json()
    assert response.status_code == 200 and body["valid"] is True
    assert [w["message"] for w in body["warnings"]] == [MESSAGE.format("FAQ")]


def test_publishing_goes_ahead_with_warnings(api_for, editor, searching_flow):
    response = api_for(editor).post(f"/api/flows/{searching_flow.pk}/versions", {"note": "v1"})
    body = response.json()
    assert response.status_code == 201 and body["number"] == 1 and body["published"] is True
    assert {w["code"] for w in body["warnings"]} == {"graph.W001"} and len(body["warnings"]) == 3
    assert FlowVersion.objects.filter(flow=searching_flow, published=True).count() == 1


def test_publishing_refused_for_errors_also_lists_the_warnings(api_for, editor, searching_flow):
    graph = searching_graph()
    graph["edges"].pop()  # the output is cut off: an error
    Flow.objects.filter(pk=searching_flow.pk).update(graph=graph)
    response = api_for(editor).post(f"/api/flows/{searching_flow.pk}/versions", {"note": "v1"})
    body = assert_error(response, 422, "graph_invalid")
    assert body["errors"] and all(e["code"].startswith("graph.E") for e in body["errors"])
    assert [w["node_id"] for w in body["warnings"]] == ["find"]
    assert not FlowVersion.objects.filter(flow=searching_flow).exists()


def test_warning_codes_are_listed(api_for, editor):
    assert api_for(editor).get("/api/graph-warning-codes").json() == WARNING_CODES
