"""Creating flows from starter templates, and a create form submitted twice."""

import threading

import pytest
from django.db import connection

from builder.models import Flow
from builder.starters import STARTERS
from workspaces.models import Role

from .conftest import assert_error

pytestmark = pytest.mark.django_db


def test_api_starters_list_each_with_a_preview(api_for, member):
    response = api_for(member(Role.VIEWER)).get("/api/starters")
    assert response.status_code == 200
    starters = {s["slug"]: s for s in response.json()}
    assert set(starters) == set(STARTERS) and len(starters) >= 6
    recipe = starters["recipe-assistant"]
    assert recipe["node_count"] == len(STARTERS["recipe-assistant"].graph["nodes"])
    assert recipe["preview"][0] == [{"label": "Dish request", "category": "flow"}]


def test_api_create_flow_from_a_starter(api_for, editor, workspace):
    response = api_for(editor).post(
        "/api/flows",
        {"workspace": workspace.pk, "name": "My recipes", "template": "recipe-assistant"},
    )
    assert response.status_code == 201, response.content
    flow = Flow.objects.get(pk=response.json()["id"])
    assert flow.graph == STARTERS["recipe-assistant"].graph
    assert flow.graph is not STARTERS["recipe-assistant"].graph  # a copy, not the catalogue


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"template": "no-such-starter"}, "unknown_template"),
        ({"template": "recipe-assistant", "graph": {"nodes": []}}, "invalid_request"),
        ({"request_token": "not a token!"}, "invalid_request"),
    ],
)
def test_api_create_flow_bad_template_or_token(api_for, editor, workspace, body, code):
    response = api_for(editor).post("/api/flows", {"workspace": workspace.pk, "name": "X", **body})
    assert_error(response, 422, code)
    assert not Flow.objects.exists()


def test_api_create_flow_twice_with_one_token_creates_one_flow(api_for, editor, member, workspace):
    client = api_for(editor)
    body = {"workspace": workspace.pk, "name": "Once", "request_token": "tok-123"}
    first, second = client.post("/api/flows", body), client.post("/api/flows", body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Flow.objects.count() == 1
    # Another person's token, or another token, is another form.
    other = api_for(member(Role.EDITOR, username="sam")).post("/api/flows", body)
    again = client.post("/api/flows", {**body, "request_token": "tok-456"})
    assert len({first.json()["id"], other.json()["id"], again.json()["id"]}) == 3


@pytest.mark.django_db(transaction=True)
def test_api_create_flow_concurrent_double_submit_creates_one_flow(editor, workspace):
    from builder.services import flow_create

    if connection.vendor == "sqlite":
        pytest.skip("needs a database with concurrent writers (PostgreSQL)")
    barrier = threading.Barrier(2)
    ids: list[int] = []
    failures: list[BaseException] = []

    def submit():
        try:
            barrier.wait(timeout=10)
            flow = flow_create(
                user=editor, workspace_id=workspace.pk, name="Once", request_token="tok-race"
            )
            ids.append(flow.pk)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures and len(ids) == 2 and ids[0] == ids[1], failures
    assert Flow.objects.filter(request_token="tok-race").count() == 1
