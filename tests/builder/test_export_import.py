"""Export and import: a lossless round trip, no secrets out, nothing executed in."""

import json
from unittest import mock

import pytest

from builder.models import Flow
from runs.models import Run
from workspaces.models import Role

from .conftest import assert_error
from .graphs import base_graph, find

OPENAI_KEY = "env-key-Zq81mXv0R4a7"
SK_KEY = "sk-proj-4fG7hJ2kL9mN3pQ8rS5t"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature"


def _export(client, flow, **query) -> dict:
    suffix = "".join(f"?{k}={v}" for k, v in query.items())
    response = client.get(f"/api/flows/{flow.pk}/export{suffix}")
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"].startswith("attachment;")
    return response.json()


def _import(client, workspace, document, **extra):
    return client.post(
        "/api/flows/import", {"workspace": workspace.pk, "document": document, **extra}
    )


def test_export_then_import_gives_an_equal_graph(api_for, editor, flow, workspace):
    client = api_for(editor)
    document = _export(client, flow)
    assert document["format"] == "switchboard.flow" and document["format_version"] == 1
    assert document["redactions"] == 0 and document["version"] is None

    response = _import(client, workspace, document)
    assert response.status_code == 201, response.content
    imported = Flow.objects.get(pk=response.json()["id"])
    assert imported.pk != flow.pk
    assert imported.graph == flow.graph == base_graph()
    assert (imported.name, imported.description) == (flow.name, flow.description)
    assert imported.revision == 1 and imported.created_by == editor
    assert response.json()["role"] == Role.EDITOR


def test_export_of_a_version(api_for, editor, flow, workspace):
    client = api_for(editor)
    assert client.post(f"/api/flows/{flow.pk}/versions", {"note": "v1"}).status_code == 201
    changed = base_graph()
    find(changed["nodes"], "polish")["label"] = "Changed"
    client.put(f"/api/flows/{flow.pk}/draft", {"graph": changed, "revision": 1})

    response = client.get(f"/api/flows/{flow.pk}/export?version=1")
    assert response["Content-Disposition"] == 'attachment; filename="answer-questions-v1.json"'
    document = response.json()
    assert document["version"] == 1 and document["graph"] == base_graph()
    assert _export(client, flow)["graph"] == changed
    assert_error(client.get(f"/api/flows/{flow.pk}/export?version=5"), 404, "not_found")
    assert_error(client.get(f"/api/flows/{flow.pk}/export?version=x"), 422, "invalid_request")


def test_export_redacts_secrets_wherever_they_are(api_for, editor, make_flow, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    graph = base_graph()
    find(graph["nodes"], "draft")["config"]["system"] = f"Use key {SK_KEY} when asked."
    find(graph["nodes"], "search")["config"]["arguments"] = {
        "headers": {"Authorization": BEARER, SK_KEY: "as a key"},
        "token": OPENAI_KEY,
        "list": ["a", f"x{OPENAI_KEY}y"],
    }
    flow = make_flow(graph=graph, name=f"Flow {SK_KEY}")
    flow.description = f"Our key is {OPENAI_KEY}"
    flow.save()

    response = api_for(editor).get(f"/api/flows/{flow.pk}/export")
    text = response.content.decode()
    for secret in (SK_KEY, OPENAI_KEY, "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in text
    document = response.json()
    assert document["redactions"] == 7
    assert find(document["graph"]["nodes"], "draft")["config"]["system"] == (
        "Use key [redacted] when asked."
    )
    arguments = find(document["graph"]["nodes"], "search")["config"]["arguments"]
    assert arguments == {
        "headers": {"Authorization": "[redacted]", "[redacted]": "as a key"},
        "token": "[redacted]",
        "list": ["a", "x[redacted]y"],
    }
    assert document["name"] == "Flow [redacted]"
    assert document["description"] == "Our key is [redacted]"
    flow.refresh_from_db()
    assert SK_KEY in json.dumps(flow.graph)  # the stored flow is untouched


def test_export_leaves_ordinary_text_alone(api_for, editor, flow, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "short")  # too short to hunt for in every text
    document = _export(api_for(editor), flow)
    assert document["redactions"] == 0 and document["graph"] == base_graph()


OURS = {"format": "switchboard.flow"}
V1 = {**OURS, "format_version": 1}


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({}, "invalid_import"),
        ({"format": "n8n.workflow", "format_version": 1, "graph": {}}, "invalid_import"),
        ({**OURS, "graph": {}}, "unsupported_format_version"),
        ({**OURS, "format_version": 2, "graph": {}}, "unsupported_format_version"),
        ({**OURS, "format_version": "1", "graph": {}}, "unsupported_format_version"),
        ({**OURS, "format_version": True, "graph": {}}, "unsupported_format_version"),
        (V1, "invalid_import"),
        ({**V1, "graph": []}, "invalid_import"),
        ({**V1, "graph": {}, "name": 5}, "invalid_import"),
        ({**V1, "graph": {"nodes": 1}}, "invalid_graph"),
    ],
)
def test_import_refuses_what_is_not_a_flow_export(api_for, editor, workspace, document, code):
    assert_error(_import(api_for(editor), workspace, document), 422, code)
    assert not Flow.objects.exists()


@pytest.mark.parametrize("document", ["text", 5, None, [base_graph()]])
def test_import_refuses_a_document_that_is_not_an_object(api_for, editor, workspace, document):
    assert_error(_import(api_for(editor), workspace, document), 422, "invalid_request")
    assert not Flow.objects.exists()


def test_import_takes_a_name_and_defaults_one(api_for, editor, workspace):
    client = api_for(editor)
    document = {"format": "switchboard.flow", "format_version": 1, "graph": base_graph()}
    assert _import(client, workspace, document).json()["name"] == "Imported flow"
    named = _import(client, workspace, {**document, "name": "Theirs"}, name=" Mine ")
    assert named.json()["name"] == "Mine"
    assert _import(client, workspace, {**document, "name": "   "}).json()["name"] == "Imported flow"


def test_import_keeps_an_incomplete_graph_and_reports_its_errors(api_for, editor, workspace):
    graph = base_graph()
    find(graph["nodes"], "polish")["config"]["prompt"] = "{{ nodes.nowhere.output }}"
    document = {"format": "switchboard.flow", "format_version": 1, "graph": graph}
    client = api_for(editor)
    response = _import(client, workspace, document)
    assert response.status_code == 201
    errors = client.post(f"/api/flows/{response.json()['id']}/validate", "").json()["errors"]
    assert [(e["code"], e["node_id"]) for e in errors] == [("graph.E014", "polish")]


def test_import_never_executes_anything(api_for, editor, workspace):
    hostile = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    graph = base_graph()
    find(graph["nodes"], "polish")["config"]["prompt"] = hostile
    find(graph["nodes"], "search")["config"]["arguments"] = {"q": "{{ lipsum.__globals__ }}"}
    document = {"format": "switchboard.flow", "format_version": 1, "graph": graph}
    client = api_for(editor)
    never = AssertionError("a template was rendered")
    with (
        mock.patch("jinja2.Template.render", side_effect=never),
        mock.patch("jinja2.Environment.from_string", side_effect=never),
    ):
        response = _import(client, workspace, document)
        assert response.status_code == 201, response.content
        flow_id = response.json()["id"]
        validated = client.post(f"/api/flows/{flow_id}/validate", "")
    assert validated.status_code == 200
    assert "<class" not in validated.content.decode()
    assert "subclasses" not in json.dumps(validated.json())
    stored = Flow.objects.get(pk=flow_id).graph
    assert find(stored["nodes"], "polish")["config"]["prompt"] == hostile
    assert not Run.objects.exists()
