"""The runs API: start (202), list with filters, get with steps and totals, cancel, events."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

import pytest

from runs.models import Approval, Run, RunEvent
from tests.llmserver import json_reply
from workspaces.models import Role, Workspace

from .support import fast_passwords, flow_named, inline, join, memory_layer  # noqa: F401


@pytest.fixture
def start(api_for, django_capture_on_commit_callbacks):
    """POST a run and execute what it enqueued on commit."""

    def call(client, flow, body=None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/api/flows/{flow.pk}/runs", body or {})

    return call


def test_run_start_answers_202_with_stream_urls(demo, inline, api_for, start):
    client = api_for(demo["owner"], token=True)
    response = start(
        client,
        flow_named("Trip budget"),
        {"inputs": {"city": "Oslo", "nights": 2, "nightly_rate": 100}},
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"id", "status", "ws_url", "events_url", "url"}
    assert body["ws_url"] == f"/ws/runs/{body['id']}/"
    assert body["events_url"] == f"/api/runs/{body['id']}/events"
    run = Run.objects.get(pk=body["id"])
    assert run.status == "succeeded"
    assert run.trigger == "api"
    assert run.inputs == {"city": "Oslo", "nights": 2, "nightly_rate": 100}


def test_run_start_from_session_is_a_ui_run_on_sample_inputs(demo, inline, api_for, start):
    response = start(api_for(demo["owner"]), flow_named("Trip budget"))
    run = Run.objects.get(pk=response.json()["id"])
    assert run.trigger == "ui"
    assert run.inputs == {"city": "Lisbon", "nights": 3, "nightly_rate": 120}


def test_run_start_with_bad_inputs_lists_every_problem(demo, inline, api_for, start):
    response = start(
        api_for(demo["owner"], token=True),
        flow_named("Trip budget"),
        {"inputs": {"city": 3, "nights": 0}},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_inputs"
    assert len(body["errors"]) == 3  # city type, nights minimum, nightly_rate missing
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"inputs": {}, "surprise": 1}, "invalid_request"),
        ({"inputs": "not an object"}, "invalid_request"),
        ({"budgets": {"max_steps": -1}}, "invalid_budget"),
        ({"budgets": {"max_wishes": 3}}, "invalid_budget"),
        ({"version": 0}, "invalid_request"),
    ],
)
def test_run_start_refuses_malformed_bodies(demo, inline, api_for, start, body, code):
    response = start(api_for(demo["owner"], token=True), flow_named("Trip budget"), body)
    assert response.status_code == 422
    assert response.json()["code"] == code


def test_run_start_unknown_version_is_404(demo, inline, api_for, start):
    response = start(api_for(demo["owner"]), flow_named("Trip budget"), {"version": 99})
    assert response.status_code == 404


def test_run_start_draft_snapshots_the_draft(demo, inline, api_for, start):
    flow = flow_named("Trip budget")
    flow.graph["nodes"][-1]["label"] = "Budget (edited)"
    flow.save()
    published = Run.objects.get(pk=start(api_for(demo["owner"]), flow).json()["id"])
    assert published.version.number == 1
    response = start(api_for(demo["owner"]), flow, {"use_draft": True})
    run = Run.objects.get(pk=response.json()["id"])
    # A draft snapshot: no version number used up, and it says what it is.
    assert run.version.number is None and run.version.label == "Draft snapshot"
    assert response.status_code == 202
    body = api_for(demo["owner"]).get(f"/api/runs/{run.pk}").json()
    assert (body["version"], body["version_label"]) == (None, "Draft snapshot")
    assert not run.version.published
    assert run.version.graph["nodes"][-1]["label"] == "Budget (edited)"


def test_run_start_needs_the_run_permission(demo, inline, api_for, start, make_user):
    viewer = make_user("vera")
    join(viewer, demo["workspace"], Role.VIEWER)
    approver = make_user("april")
    join(approver, demo["workspace"], Role.APPROVER)
    outsider = make_user("otto")
    join(outsider, Workspace.objects.create(name="Elsewhere", slug="elsewhere"))
    flow = flow_named("Trip budget")
    assert start(api_for(viewer, token=True), flow).status_code == 403
    assert start(api_for(approver), flow).status_code == 403
    response = start(api_for(outsider, token=True), flow)
    assert response.status_code == 404
    assert response.json() == {"detail": "Flow not found", "code": "not_found"}
    assert start(api_for(), flow).status_code == 401
    assert not Run.objects.exists()


def test_run_start_with_session_needs_csrf(demo, inline, api_for, start):
    response = start(api_for(demo["owner"], csrf=True), flow_named("Trip budget"))
    assert response.status_code in (401, 403)
    assert not Run.objects.exists()


def test_run_get_has_steps_and_totals(demo, inline, api_for, start):
    client = api_for(demo["owner"], token=True)
    run_id = start(client, flow_named("Trip budget")).json()["id"]
    response = client.get(f"/api/runs/{run_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["flow_name"] == "Trip budget"
    assert body["version"] == 1
    nodes = [s["node_id"] for s in body["steps"]]
    assert set(nodes) == {"trip", "lodging", "today", "pick", "explain", "budget"}
    explain = next(s for s in body["steps"] if s["node_id"] == "explain")
    assert explain["model"] and explain["tokens_in"] > 0 and explain["latency_ms"] is not None
    totals = body["totals"]
    assert totals["tokens_in"] == sum(s["tokens_in"] for s in body["steps"])
    assert totals["steps"] == len(body["steps"])
    assert totals["duration_ms"] is not None
    assert body["result"] and "budget" in body["result"]
    assert body["last_seq"] == RunEvent.objects.filter(run_id=run_id).count()
    assert "sk-test-sentinel" not in response.content.decode()


def test_run_get_outside_the_workspace_is_404(demo, inline, api_for, start, make_user):
    run_id = start(api_for(demo["owner"]), flow_named("Trip budget")).json()["id"]
    outsider = make_user("otto")
    join(outsider, Workspace.objects.create(name="Elsewhere", slug="elsewhere"))
    client = api_for(outsider, token=True)
    for path in (f"/api/runs/{run_id}", f"/api/runs/{run_id}/events"):
        assert client.get(path).status_code == 404
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 404
    assert client.get("/api/runs").json()["count"] == 0


def test_run_list_filters_and_pages(demo, inline, api_for, start, make_user):
    owner = demo["owner"]
    editor = make_user("eddie")
    join(editor, demo["workspace"])
    trip, triage = flow_named("Trip budget"), flow_named("Support triage")
    for _ in range(3):
        start(api_for(owner), trip)
    start(api_for(editor), triage)
    # Nothing missing from the pantry: the recipe's map starts no item runs to list too.
    inline.on("List the ingredients", json_reply({"ingredients": ["salt"], "summary": "Salt."}))
    recipe_run = start(api_for(editor), flow_named("Recipe assistant")).json()["id"]
    client = api_for(owner, token=True)

    everything = client.get("/api/runs").json()
    assert everything["count"] == 5
    assert [r["id"] for r in everything["items"]] == sorted(
        [r["id"] for r in everything["items"]], reverse=True
    )
    assert client.get(f"/api/runs?flow={trip.pk}").json()["count"] == 3
    assert client.get("/api/runs?created_by=me").json()["count"] == 3
    assert client.get("/api/runs?created_by=eddie").json()["count"] == 2
    waiting = client.get("/api/runs?status=waiting").json()
    assert [r["id"] for r in waiting["items"]] == [recipe_run]
    assert client.get("/api/runs?status=waiting,succeeded").json()["count"] == 5
    assert client.get("/api/runs?status=bogus").status_code == 422
    assert client.get("/api/runs?since=2000-01-01T00:00:00Z").json()["count"] == 5
    assert client.get("/api/runs?until=2000-01-01T00:00:00Z").json()["count"] == 0
    page = client.get("/api/runs?limit=2&offset=2").json()
    assert (page["count"], page["limit"], page["offset"]) == (5, 2, 2)
    assert [r["id"] for r in page["items"]] == [r["id"] for r in everything["items"][2:4]]
    assert client.get("/api/runs?limit=500").status_code == 422


def test_run_cancel_a_waiting_run(demo, inline, api_for, start, make_user):
    client = api_for(demo["owner"], token=True)
    run_id = start(client, flow_named("Recipe assistant")).json()["id"]
    assert Run.objects.get(pk=run_id).status == "waiting"
    viewer = make_user("vera")
    join(viewer, demo["workspace"], Role.VIEWER)
    assert api_for(viewer, token=True).post(f"/api/runs/{run_id}/cancel").status_code == 403

    response = client.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert Approval.objects.get(run_id=run_id).status == "cancelled"
    assert RunEvent.objects.filter(run_id=run_id).last().kind == "run.cancelled"
    # Cancelling again is harmless; cancelling a finished run is a conflict.
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
    done = start(client, flow_named("Trip budget")).json()["id"]
    conflict = client.post(f"/api/runs/{done}/cancel")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "already_finished"


def test_run_events_after_seq_in_order(demo, inline, api_for, start):
    client = api_for(demo["owner"], token=True)
    run_id = start(client, flow_named("Trip budget")).json()["id"]
    stored = [e.as_dict() for e in RunEvent.objects.filter(run_id=run_id).order_by("seq")]
    body = client.get(f"/api/runs/{run_id}/events").json()
    assert body["events"] == stored
    assert body["last_seq"] == stored[-1]["seq"] and body["has_more"] is False
    assert [e["seq"] for e in body["events"]] == list(range(1, len(stored) + 1))
    assert body["events"][0]["kind"] == "run.queued"
    assert body["events"][-1]["kind"] == "run.succeeded"

    tail = client.get(f"/api/runs/{run_id}/events?after=5").json()["events"]
    assert tail == stored[5:]
    page = client.get(f"/api/runs/{run_id}/events?after=2&limit=3").json()
    assert [e["seq"] for e in page["events"]] == [3, 4, 5] and page["has_more"] is True
    assert client.get(f"/api/runs/{run_id}/events?after=-1").status_code == 422


def test_runs_api_requires_authentication(demo, api_for):
    anonymous = api_for()
    for path in ("/api/runs", "/api/runs/1", "/api/runs/1/events", "/api/approvals"):
        response = anonymous.get(path)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
