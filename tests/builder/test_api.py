"""The flows API: every endpoint's happy path, authentication, scoping, roles and bad input."""

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from builder.graph import ERROR_CODES
from builder.models import Flow, FlowVersion
from runs.engine.nodes import NODE_TYPES
from runs.tools import registry as tool_registry
from workspaces.models import Role

from .conftest import assert_error
from .graphs import base_graph, find

# (method, path, body): every endpoint, with {flow} and {ws} filled in per test.
FLOW_ENDPOINTS = [
    ("get", "/api/flows/{flow}", None),
    ("patch", "/api/flows/{flow}", {"name": "Renamed"}),
    ("delete", "/api/flows/{flow}", None),
    ("put", "/api/flows/{flow}/draft", {"graph": base_graph(), "revision": 1}),
    ("post", "/api/flows/{flow}/validate", {}),
    ("post", "/api/flows/{flow}/duplicate", None),
    ("get", "/api/flows/{flow}/versions", None),
    ("post", "/api/flows/{flow}/versions", {"note": "v1"}),
    ("get", "/api/flows/{flow}/versions/1", None),
    ("post", "/api/flows/{flow}/versions/1/restore", {}),
    ("get", "/api/flows/{flow}/export", None),
]
WORKSPACE_ENDPOINTS = [
    ("get", "/api/flows", None),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "New"}),
    ("post", "/api/flows/import", {"workspace": "{ws}", "document": {}}),
    ("get", "/api/node-types", None),
    ("get", "/api/graph-error-codes", None),
    ("get", "/api/graph-warning-codes", None),
    ("get", "/api/tools", None),
    ("get", "/api/flows/callable?workspace={ws}", None),
    ("get", "/api/starters", None),
    ("get", "/api/workspaces", None),
    ("get", "/api/workspaces/{ws}/people", None),
    ("get", "/api/tokens", None),
    ("post", "/api/tokens", {"name": "ci"}),
    ("delete", "/api/tokens/1", None),
]
# What an editor may do but a viewer or approver may not.
EDIT_ENDPOINTS = [
    ("patch", "/api/flows/{flow}", {"name": "Renamed"}),
    ("delete", "/api/flows/{flow}", None),
    ("put", "/api/flows/{flow}/draft", {"graph": base_graph(), "revision": 1}),
    ("post", "/api/flows/{flow}/duplicate", None),
    ("post", "/api/flows/{flow}/versions", {"note": "v1"}),
    ("post", "/api/flows/{flow}/versions/1/restore", {}),
]
READ_ENDPOINTS = [
    ("get", "/api/flows/{flow}", None),
    ("post", "/api/flows/{flow}/validate", {}),
    ("get", "/api/flows/{flow}/versions", None),
    ("get", "/api/flows/{flow}/versions/1", None),
    ("get", "/api/flows/{flow}/export", None),
]


def _fill(value, **ids):
    if isinstance(value, str):
        for key, id_ in ids.items():
            if value == "{" + key + "}":
                return id_
            value = value.replace("{" + key + "}", str(id_))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, **ids) for k, v in value.items()}
    return value


def _call(client, method: str, path: str, body, **ids):
    path = _fill(path, **ids)
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, _fill(body, **ids))


def _save(client, flow, graph, revision: int):
    return client.put(f"/api/flows/{flow.pk}/draft", {"graph": graph, "revision": revision})


def _publish(flow, user=None) -> FlowVersion:
    return FlowVersion.objects.create(
        flow=flow, number=1, graph=flow.graph, published=True, created_by=user
    )


# --- Authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), FLOW_ENDPOINTS + WORKSPACE_ENDPOINTS)
def test_api_anonymous_is_401(api_for, flow, workspace, method, path, body):
    response = _call(api_for(), method, path, body, flow=flow.pk, ws=workspace.pk)
    assert_error(response, 401, "unauthorized")


def test_api_session_requires_csrf_on_unsafe_methods(api_for, editor, workspace, flow):
    client = api_for(editor, csrf=True)
    assert client.get("/api/flows").status_code == 200
    assert_error(client.post("/api/flows", {"workspace": workspace.pk, "name": "X"}), 403)
    assert_error(client.patch(f"/api/flows/{flow.pk}", {"name": "X"}), 403)
    assert_error(client.delete(f"/api/flows/{flow.pk}"), 403)
    flow.refresh_from_db()
    assert flow.name == "Answer questions" and flow.deleted_at is None

    token = "CsrfSecretFromTheCookie012345678"  # as a page's {% csrf_token %} would set it
    client.client.cookies["csrftoken"] = token
    response = client.post(
        "/api/flows", {"workspace": workspace.pk, "name": "X"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201


def test_api_bearer_token_needs_no_csrf(editor, workspace):
    from tests.conftest import Api
    from workspaces.models import ApiToken

    _, raw = ApiToken.issue(user=editor, name="ci")
    client = Api(token=raw, csrf=True)
    response = client.post("/api/flows", {"workspace": workspace.pk, "name": "From CI"})
    assert response.status_code == 201
    assert response.json()["created_by"] == editor.username


def test_api_unknown_or_revoked_token_is_401(api_for, editor):
    from tests.conftest import Api
    from workspaces.models import ApiToken

    assert_error(Api(token="sb_not-a-real-token").get("/api/flows"), 401, "unauthorized")
    token, raw = ApiToken.issue(user=editor, name="ci")
    assert Api(token=raw).get("/api/flows").status_code == 200
    assert api_for(editor).delete(f"/api/tokens/{token.pk}").status_code == 204
    assert_error(Api(token=raw).get("/api/flows"), 401, "unauthorized")


def test_api_token_of_inactive_user_is_401(editor):
    from tests.conftest import Api
    from workspaces.models import ApiToken

    _, raw = ApiToken.issue(user=editor, name="ci")
    editor.is_active = False
    editor.save()
    assert_error(Api(token=raw).get("/api/flows"), 401)


# --- Scoping: another workspace's objects do not exist -----------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), FLOW_ENDPOINTS)
@pytest.mark.parametrize("role", [Role.OWNER, Role.VIEWER])
def test_api_flow_of_another_workspace_is_404(
    api_for, member, foreign_flow, method, path, body, role
):
    _publish(foreign_flow)
    user = member(role)
    response = _call(api_for(user), method, path, body, flow=foreign_flow.pk)
    assert_error(response, 404, "not_found")
    foreign_flow.refresh_from_db()
    assert foreign_flow.name == "Someone else's" and foreign_flow.revision == 1
    assert foreign_flow.deleted_at is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/flows", {"workspace": "{ws}", "name": "Sneaky"}),
        (
            "post",
            "/api/flows/import",
            {
                "workspace": "{ws}",
                "document": {"format": "switchboard.flow", "format_version": 1, "graph": {}},
            },
        ),
        ("get", "/api/workspaces/{ws}/people", None),
    ],
)
def test_api_another_workspace_is_404(api_for, member, other_workspace, method, path, body):
    response = _call(api_for(member(Role.OWNER)), method, path, body, ws=other_workspace.pk)
    assert_error(response, 404, "not_found")
    assert not Flow.objects.filter(workspace=other_workspace).exists()


def test_api_missing_flow_is_404(api_for, editor):
    assert_error(api_for(editor).get("/api/flows/999999"), 404, "not_found")
    # An id no database can hold is not a missing flow but a bad request: 422 naming the field.
    body = assert_error(api_for(editor).get(f"/api/flows/{2**70}"), 422, "invalid_request")
    assert body["detail"][0]["loc"][-1] == "flow_id"


def test_api_flow_list_shows_only_the_users_workspaces(api_for, editor, flow, foreign_flow):
    response = api_for(editor).get("/api/flows")
    assert response.status_code == 200
    assert [f["id"] for f in response.json()] == [flow.pk]
    other = api_for(editor).get(f"/api/flows?workspace={foreign_flow.workspace_id}")
    assert other.json() == []


# --- Roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), EDIT_ENDPOINTS)
@pytest.mark.parametrize("role", [Role.VIEWER, Role.APPROVER])
def test_api_read_only_roles_cannot_change_a_flow(api_for, member, flow, method, path, body, role):
    _publish(flow)
    before = Flow.objects.values().get(pk=flow.pk)
    response = _call(api_for(member(role)), method, path, body, flow=flow.pk)
    assert_error(response, 403, "forbidden")
    assert Flow.objects.values().get(pk=flow.pk) == before
    assert Flow.objects.count() == 1 and flow.versions.count() == 1


@pytest.mark.parametrize("role", [Role.VIEWER, Role.APPROVER])
def test_api_read_only_roles_cannot_create_or_import(api_for, member, workspace, role):
    client = api_for(member(role))
    assert_error(client.post("/api/flows", {"workspace": workspace.pk, "name": "X"}), 403)
    document = {"format": "switchboard.flow", "format_version": 1, "graph": base_graph()}
    response = client.post("/api/flows/import", {"workspace": workspace.pk, "document": document})
    assert_error(response, 403, "forbidden")
    assert not Flow.objects.exists()


@pytest.mark.parametrize(("method", "path", "body"), READ_ENDPOINTS)
@pytest.mark.parametrize("role", [Role.VIEWER, Role.APPROVER, Role.EDITOR, Role.OWNER])
def test_api_every_role_can_read(api_for, member, flow, method, path, body, role):
    _publish(flow)
    reader = member(role, username=f"reader-{role}")
    response = _call(api_for(reader), method, path, body, flow=flow.pk)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("method", "path", "body"), EDIT_ENDPOINTS)
def test_api_owner_can_edit(api_for, member, flow, method, path, body):
    _publish(flow)
    owner = member(Role.OWNER)
    response = _call(api_for(owner), method, path, body, flow=flow.pk)
    assert response.status_code in (200, 201, 204), response.content


# --- Happy paths -------------------------------------------------------------------------------


def test_api_flow_create_returns_the_flow(api_for, editor, workspace):
    body = {"workspace": workspace.pk, "name": "  Support triage ", "description": "Routes mail"}
    response = api_for(editor).post("/api/flows", body)
    assert response.status_code == 201
    data = response.json()
    assert data["name"] == "Support triage"
    assert data["graph"] == {"schema_version": 1, "nodes": [], "edges": []}
    assert data["revision"] == 1 and data["role"] == Role.EDITOR
    assert data["created_by"] == editor.username and data["published_version"] is None
    flow = Flow.objects.get(pk=data["id"])
    assert flow.workspace == workspace and flow.created_by == editor


def test_api_flow_create_with_a_graph(api_for, editor, workspace):
    body = {"workspace": workspace.pk, "name": "With graph", "graph": base_graph()}
    response = api_for(editor).post("/api/flows", body)
    assert response.status_code == 201
    assert response.json()["graph"] == base_graph() and response.json()["node_count"] == 8


def test_api_flow_list_filters(api_for, editor, make_flow, workspace):
    make_flow(name="Alpha", created_by=editor)
    make_flow(name="Beta", created_by=editor)
    client = api_for(editor)
    assert {f["name"] for f in client.get("/api/flows").json()} == {"Alpha", "Beta"}
    assert [f["name"] for f in client.get("/api/flows?q=alp").json()] == ["Alpha"]
    assert len(client.get(f"/api/flows?workspace={workspace.pk}").json()) == 2
    assert_error(client.get("/api/flows?workspace=abc"), 422, "invalid_request")
    assert_error(client.get("/api/flows?q=%00"), 422, "invalid_request")


def test_api_flow_list_query_count_does_not_grow_with_flows(api_for, editor, make_flow):
    client = api_for(editor)
    _publish(make_flow(created_by=editor))
    with CaptureQueriesContext(connection) as one:
        client.get("/api/flows")
    for _ in range(5):
        _publish(make_flow(created_by=editor))
    with CaptureQueriesContext(connection) as six:
        response = client.get("/api/flows")
    assert [f["published_version"] for f in response.json()] == [1] * 6
    assert len(six.captured_queries) == len(one.captured_queries)


def test_api_flow_get(api_for, member, flow):
    response = api_for(member(Role.VIEWER)).get(f"/api/flows/{flow.pk}")
    assert response.status_code == 200
    data = response.json()
    assert data["graph"] == base_graph() and data["role"] == Role.VIEWER
    assert data["workspace"] == flow.workspace_id


def test_api_flow_update(api_for, editor, flow):
    response = api_for(editor).patch(f"/api/flows/{flow.pk}", {"description": "New words"})
    assert response.status_code == 200
    assert response.json()["description"] == "New words"
    assert response.json()["name"] == "Answer questions"
    response = api_for(editor).patch(f"/api/flows/{flow.pk}", {"name": " Renamed "})
    assert response.json()["name"] == "Renamed"
    flow.refresh_from_db()
    assert (flow.name, flow.description, flow.revision) == ("Renamed", "New words", 1)


def test_api_flow_delete_is_soft_and_hides_the_flow(api_for, editor, flow):
    client = api_for(editor)
    response = client.delete(f"/api/flows/{flow.pk}")
    assert response.status_code == 204
    assert Flow.objects.get(pk=flow.pk).deleted_at is not None
    assert client.get("/api/flows").json() == []
    assert_error(client.get(f"/api/flows/{flow.pk}"), 404, "not_found")
    assert_error(client.patch(f"/api/flows/{flow.pk}", {"name": "X"}), 404)
    assert_error(client.put(f"/api/flows/{flow.pk}/draft", {"graph": {}, "revision": 1}), 404)
    assert_error(client.get(f"/api/flows/{flow.pk}/export"), 404)
    assert_error(client.delete(f"/api/flows/{flow.pk}"), 404)


def test_api_draft_save_bumps_the_revision_and_reports_errors(api_for, editor, flow):
    graph = base_graph()
    find(graph["nodes"], "polish")["config"]["temperature"] = 9
    response = api_for(editor).put(f"/api/flows/{flow.pk}/draft", {"graph": graph, "revision": 1})
    assert response.status_code == 200
    data = response.json()
    assert data["revision"] == 2 and data["valid"] is False
    assert [(e["code"], e["node_id"]) for e in data["errors"]] == [("graph.E003", "polish")]
    flow.refresh_from_db()
    assert flow.graph == graph and flow.revision == 2

    response = api_for(editor).put(
        f"/api/flows/{flow.pk}/draft", {"graph": base_graph(), "revision": 2}
    )
    assert response.json() == {"revision": 3, "valid": True, "errors": [], "warnings": []}


def test_api_stale_draft_save_is_409_and_changes_nothing(api_for, editor, flow):
    client = api_for(editor)
    mine = base_graph()
    find(mine["nodes"], "polish")["label"] = "Mine"
    assert (
        client.put(f"/api/flows/{flow.pk}/draft", {"graph": mine, "revision": 1}).status_code == 200
    )
    theirs = base_graph()
    find(theirs["nodes"], "polish")["label"] = "Theirs"
    response = client.put(f"/api/flows/{flow.pk}/draft", {"graph": theirs, "revision": 1})
    body = assert_error(response, 409, "stale_revision")
    assert body["current_revision"] == 2
    flow.refresh_from_db()
    assert flow.graph == mine and flow.revision == 2


def test_api_draft_save_refuses_a_malformed_graph(api_for, editor, flow):
    response = api_for(editor).put(
        f"/api/flows/{flow.pk}/draft", {"graph": {"nodes": "many"}, "revision": 1}
    )
    body = assert_error(response, 422, "invalid_graph")
    assert body["errors"][0]["code"] == "graph.E001"
    flow.refresh_from_db()
    assert flow.graph == base_graph() and flow.revision == 1


def test_api_draft_save_refuses_a_graph_over_a_limit(api_for, editor, flow):
    graph = base_graph()
    find(graph["nodes"], "polish")["config"]["prompt"] = "x" * (300 * 1024)
    response = api_for(editor).put(f"/api/flows/{flow.pk}/draft", {"graph": graph, "revision": 1})
    body = assert_error(response, 422, "invalid_graph")
    assert [e["code"] for e in body["errors"]] == ["graph.E017"]
    flow.refresh_from_db()
    assert flow.revision == 1


def test_api_validate_given_graph_or_saved_draft(api_for, member, flow):
    client = api_for(member(Role.VIEWER))
    empty = client.post(f"/api/flows/{flow.pk}/validate", "")
    assert empty.json() == {"valid": True, "errors": [], "warnings": []}
    assert client.post(f"/api/flows/{flow.pk}/validate", {}).json()["valid"] is True
    broken = base_graph()
    broken["edges"].append({"id": "e_loop", "source": "polish", "target": "draft"})
    data = client.post(f"/api/flows/{flow.pk}/validate", {"graph": broken}).json()
    assert data["valid"] is False
    assert [(e["code"], e["node_id"], e["edge_id"]) for e in data["errors"]] == [
        ("graph.E011", "draft", "e_loop")
    ]
    assert client.post(f"/api/flows/{flow.pk}/validate", {"graph": []}).json()["valid"] is False
    flow.refresh_from_db()
    assert flow.graph == base_graph()


def test_api_duplicate(api_for, editor, flow):
    response = api_for(editor).post(f"/api/flows/{flow.pk}/duplicate")
    assert response.status_code == 201
    data = response.json()
    assert data["id"] != flow.pk and data["name"] == "Answer questions (copy)"
    assert data["graph"] == flow.graph and data["revision"] == 1
    assert data["created_by"] == editor.username


def test_api_publish_creates_an_immutable_version(api_for, editor, flow):
    client = api_for(editor)
    response = client.post(f"/api/flows/{flow.pk}/versions", {"note": "First"})
    assert response.status_code == 201
    assert response.json()["number"] == 1 and response.json()["published"] is True
    assert client.post(f"/api/flows/{flow.pk}/versions", {}).json()["number"] == 2

    changed = base_graph()
    find(changed["nodes"], "polish")["config"]["prompt"] = "Shorter: {{ nodes.draft.output }}"
    assert _save(client, flow, changed, 1).status_code == 200
    version = client.get(f"/api/flows/{flow.pk}/versions/1").json()
    assert version["graph"] == base_graph() and version["note"] == "First"
    for method in ("put", "patch", "delete"):
        assert_error(getattr(client, method)(f"/api/flows/{flow.pk}/versions/1"), 405)
    assert FlowVersion.objects.get(flow=flow, number=1).graph == base_graph()
    assert client.get(f"/api/flows/{flow.pk}").json()["published_version"] == 2


def test_api_publish_refuses_an_invalid_draft(api_for, editor, make_flow):
    graph = base_graph()
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] != "result"]
    graph["edges"] = [e for e in graph["edges"] if e["target"] != "result"]
    flow = make_flow(graph=graph)
    response = api_for(editor).post(f"/api/flows/{flow.pk}/versions", {"note": "x"})
    body = assert_error(response, 422, "graph_invalid")
    assert [e["code"] for e in body["errors"]] == ["graph.E009"]
    assert not flow.versions.exists()


def test_api_version_list_hides_draft_snapshots(api_for, editor, flow):
    from builder.services import flow_snapshot_draft

    client = api_for(editor)
    client.post(f"/api/flows/{flow.pk}/versions", {"note": "v1"})
    changed = copy.deepcopy(flow.graph)
    find(changed["nodes"], "polish")["label"] = "Changed"
    client.put(f"/api/flows/{flow.pk}/draft", {"graph": changed, "revision": 1})
    flow.refresh_from_db()
    flow_snapshot_draft(flow=flow, user=editor)
    assert [v["number"] for v in client.get(f"/api/flows/{flow.pk}/versions").json()] == [1]
    listed = client.get(f"/api/flows/{flow.pk}/versions?include_drafts=true").json()
    assert [v["number"] for v in listed] == [None, 1]  # a draft snapshot uses no number
    assert_error(client.get(f"/api/flows/{flow.pk}/versions/9"), 404, "not_found")


def test_api_restore_copies_a_version_into_the_draft(api_for, editor, flow):
    client = api_for(editor)
    client.post(f"/api/flows/{flow.pk}/versions", {"note": "v1"})
    changed = base_graph()
    find(changed["nodes"], "polish")["label"] = "Changed"
    assert _save(client, flow, changed, 1).status_code == 200

    response = client.post(f"/api/flows/{flow.pk}/versions/1/restore", "")
    assert response.status_code == 200
    assert response.json()["graph"] == base_graph() and response.json()["revision"] == 3
    flow.refresh_from_db()
    assert flow.graph == base_graph() and flow.revision == 3
    assert flow.versions.count() == 1  # restoring makes no version

    stale = client.post(f"/api/flows/{flow.pk}/versions/1/restore", {"revision": 1})
    assert assert_error(stale, 409, "stale_revision")["current_revision"] == 3
    ok = client.post(f"/api/flows/{flow.pk}/versions/1/restore", {"revision": 3})
    assert ok.json()["revision"] == 4
    assert_error(client.post(f"/api/flows/{flow.pk}/versions/7/restore", ""), 404, "not_found")


def test_api_export_returns_a_download(api_for, member, flow):
    flow.name = "Réponse: FAQ"
    flow.save()
    response = api_for(member(Role.VIEWER)).get(f"/api/flows/{flow.pk}/export")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="r-ponse--faq.json"'
    document = response.json()
    assert document["format"] == "switchboard.flow" and document["graph"] == base_graph()


def test_api_node_types_describe_every_registered_type(api_for, member):
    response = api_for(member(Role.VIEWER)).get("/api/node-types")
    assert response.status_code == 200
    types = {t["type"]: t for t in response.json()}
    assert set(types) == set(NODE_TYPES)
    assert types["router"]["dynamic_outputs"] is True
    for node_type in types.values():
        assert node_type["help"] and node_type["config_schema"]["type"] == "object"
    # The error port and the on-failure policy reach the canvas through this metadata.
    error = {"name": "error", "label": "Error", "required": False}
    assert types["prompt"]["error_port"] == error and types["prompt"]["error_port_when"] == {}
    assert types["router"]["error_port_when"] == {"mode": "llm"}
    assert types["approval"]["error_port"] is None
    assert "error" not in [p["name"] for p in types["tool"]["outputs"]]
    policy = types["prompt"]["config_schema"]["properties"]
    assert policy["on_failure"]["enum"] == ["fail", "branch", "ask"]
    assert policy["fallback_users"]["format"] == "users"
    assert list(policy)[-7:] == [
        "on_failure",
        "fallback_users",
        "fallback_groups",
        "fallback_instructions",
        "fallback_timeout",
        "fallback_timeout_action",
        "fallback_remind_after",
    ]


def test_api_tools_describe_every_registered_tool(api_for, member):
    response = api_for(member(Role.VIEWER)).get("/api/tools")
    assert response.status_code == 200
    tools = {t["name"]: t for t in response.json()}
    assert set(tools) == set(tool_registry.names())
    pantry = tools["pantry"]
    assert pantry["description"].startswith("Check a recipe's ingredients")
    assert pantry["arguments_schema"]["required"] == ["ingredients"]
    assert pantry["result_schema"]["properties"]["missing"]["type"] == "array"
    assert pantry["idempotent"] is True
    assert tools["http_request"]["idempotent"] is None  # a GET is, a POST is not
    for tool in tools.values():
        assert tool["arguments_schema"]["type"] == "object"
        assert tool["result_schema"]["type"] == "object"


def test_api_callable_flows_lists_published_flows_with_their_inputs(
    api_for, member, workspace, make_flow, foreign_flow
):
    viewer = member(Role.VIEWER)
    called = make_flow(name="Summarise")
    FlowVersion.objects.create(flow=called, number=1, graph=called.graph, published=True)
    second = copy.deepcopy(called.graph)
    find(second["nodes"], "start")["config"]["schema"] = {
        "type": "object",
        "properties": {"topic": {"type": "string"}, "depth": {"type": "integer"}},
        "required": ["topic"],
    }
    FlowVersion.objects.create(flow=called, number=2, graph=second, published=True)
    FlowVersion.objects.create(flow=called, number=None, graph=second, published=False)
    make_flow(name="Never published")
    editing = make_flow(name="The one being edited")
    FlowVersion.objects.create(flow=editing, number=1, graph=editing.graph, published=True)
    _publish(foreign_flow)

    url = f"/api/flows/callable?workspace={workspace.pk}&exclude={editing.pk}"
    response = api_for(viewer).get(url)

    assert response.status_code == 200, response.content
    assert [f["name"] for f in response.json()] == ["Summarise"]
    entry = response.json()[0]
    assert entry["id"] == called.pk and entry["versions"] == [2, 1]
    assert entry["input_schema"]["required"] == ["topic"]
    assert set(entry["input_schema"]["properties"]) == {"topic", "depth"}
    everything = api_for(viewer).get(f"/api/flows/callable?workspace={workspace.pk}").json()
    assert {f["name"] for f in everything} == {"Summarise", "The one being edited"}


def test_api_callable_flows_of_a_foreign_workspace_is_404(api_for, member, foreign_flow):
    _publish(foreign_flow)
    owner = api_for(member(Role.OWNER))
    assert_error(owner.get(f"/api/flows/callable?workspace={foreign_flow.workspace_id}"), 404)
    assert_error(owner.get("/api/flows/callable?workspace=0"), 422)
    assert_error(owner.get("/api/flows/callable"), 422)


def test_api_graph_error_codes(api_for, member):
    assert api_for(member(Role.VIEWER)).get("/api/graph-error-codes").json() == ERROR_CODES


# --- Bad bodies, mass assignment and sizes -------------------------------------------------------

BAD_BODIES = [
    ("post", "/api/flows", {}),
    ("post", "/api/flows", {"name": "No workspace"}),
    ("post", "/api/flows", {"workspace": "{ws}"}),
    ("post", "/api/flows", {"workspace": "1", "name": "X"}),
    ("post", "/api/flows", {"workspace": True, "name": "X"}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": 5}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "   "}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "x" * 201}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "X", "description": "x" * 5001}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "X", "graph": "not an object"}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "X", "graph": []}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "X", "id": 7}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "X", "created_by": 1}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "X", "revision": 9}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "X", "deleted_at": None}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "Nul\x00"}),
    ("post", "/api/flows", {"workspace": "{ws}", "name": "Surrogate \ud800"}),
    ("post", "/api/flows", ["not", "an", "object"]),
    ("post", "/api/flows", '"just text"'),
    ("patch", "/api/flows/{flow}", {"name": ""}),
    ("patch", "/api/flows/{flow}", {"name": 5}),
    ("patch", "/api/flows/{flow}", {"workspace": "{other}"}),
    ("patch", "/api/flows/{flow}", {"id": 12345}),
    ("patch", "/api/flows/{flow}", {"created_by": 1}),
    ("patch", "/api/flows/{flow}", {"revision": 99}),
    ("patch", "/api/flows/{flow}", {"graph": {"nodes": []}}),
    ("patch", "/api/flows/{flow}", {"updated_at": "2020-01-01T00:00:00Z"}),
    ("put", "/api/flows/{flow}/draft", {"graph": {}}),
    ("put", "/api/flows/{flow}/draft", {"revision": 1}),
    ("put", "/api/flows/{flow}/draft", {"graph": {}, "revision": "1"}),
    ("put", "/api/flows/{flow}/draft", {"graph": {}, "revision": 0}),
    ("put", "/api/flows/{flow}/draft", {"graph": "{}", "revision": 1}),
    ("put", "/api/flows/{flow}/draft", {"graph": {}, "revision": 1, "workspace": "{other}"}),
    ("put", "/api/flows/{flow}/draft", {"graph": {}, "revision": 1, "name": "Sneaky"}),
    ("put", "/api/flows/{flow}/draft", {"graph": {"x": float("inf")}, "revision": 1}),
    ("post", "/api/flows/{flow}/validate", {"graph": {}, "extra": 1}),
    ("post", "/api/flows/{flow}/versions", {"note": 5}),
    ("post", "/api/flows/{flow}/versions", {"note": "x" * 501}),
    ("post", "/api/flows/{flow}/versions", {"note": "x", "number": 7}),
    ("post", "/api/flows/{flow}/versions", {"note": "x", "published": False}),
    ("post", "/api/flows/{flow}/versions/1/restore", {"revision": 0}),
    ("post", "/api/flows/{flow}/versions/1/restore", {"graph": {}}),
    ("post", "/api/flows/import", {"workspace": "{ws}"}),
    ("post", "/api/flows/import", {"workspace": "{ws}", "document": "text"}),
    ("post", "/api/flows/import", {"workspace": "{ws}", "document": []}),
    ("post", "/api/flows/import", {"workspace": "{ws}", "document": {}, "name": ""}),
    ("post", "/api/flows/import", {"workspace": "{ws}", "document": {}, "owner": 1}),
    ("post", "/api/tokens", {}),
    ("post", "/api/tokens", {"name": ""}),
    ("post", "/api/tokens", {"name": 5}),
    ("post", "/api/tokens", {"name": "x" * 101}),
    ("post", "/api/tokens", {"name": "ci", "user": 1}),
    ("post", "/api/tokens", {"name": "ci", "token_hash": "0" * 64}),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_BODIES)
def test_api_bad_body_is_422_and_changes_nothing(
    api_for, editor, flow, other_workspace, method, path, body
):
    _publish(flow)
    before = list(Flow.objects.values().order_by("pk"))
    response = _call(
        api_for(editor),
        method,
        path,
        body,
        flow=flow.pk,
        ws=flow.workspace_id,
        other=other_workspace.pk,
    )
    body = assert_error(response, 422)
    assert body["code"] in ("invalid_request", "invalid_name", "invalid_import")
    assert list(Flow.objects.values().order_by("pk")) == before
    assert flow.versions.count() == 1
    assert not editor.api_tokens.exists()


def test_api_validation_error_detail_names_the_field(api_for, editor, workspace):
    response = api_for(editor).post("/api/flows", {"workspace": workspace.pk, "colour": "red"})
    body = assert_error(response, 422, "invalid_request")
    locs = {tuple(err["loc"]) for err in body["detail"]}
    assert ("body", "payload", "name") in locs and ("body", "payload", "colour") in locs


def test_api_malformed_json_is_400(api_for, editor, workspace):
    response = api_for(editor).post("/api/flows", '{"workspace": ')
    assert_error(response, 400, "bad_request")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/flows"),
        ("put", "/api/flows/{flow}/draft"),
        ("post", "/api/flows/{flow}/validate"),
        ("post", "/api/flows/import"),
        ("post", "/api/tokens"),
    ],
)
def test_api_oversized_body_is_413(api_for, editor, flow, settings, method, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    graph = base_graph()
    find(graph["nodes"], "polish")["label"] = "x" * 10_000
    body = {"graph": graph, "revision": 1}
    response = _call(api_for(editor), method, path, body, flow=flow.pk)
    assert_error(response, 413, "too_large")
    flow.refresh_from_db()
    assert flow.revision == 1


def test_api_body_at_the_real_limit_is_413_not_500(api_for, editor, flow):
    from django.conf import settings

    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = api_for(editor).put(f"/api/flows/{flow.pk}/draft", {"graph": {"p": padding}})
    assert_error(response, 413, "too_large")


# --- Routing errors and docs ---------------------------------------------------------------------


def test_api_unknown_path_and_method_have_the_error_shape(api_for, editor):
    client = api_for(editor)
    assert_error(client.get("/api/nothing-here"), 404, "not_found")
    assert_error(client.get("/api/flows/not-a-number"), 404, "not_found")
    response = client.put("/api/flows", {})
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_api_docs_need_a_login(api_for, editor):
    for path in ("/api/docs", "/api/openapi.json"):
        response = api_for().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert api_for(editor).get("/api/docs").status_code == 200
    schema = api_for(editor).get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/flows/{flow_id}/draft" in paths and "/api/tokens" in paths
