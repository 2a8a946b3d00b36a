"""The re-run, reproduce and compare endpoints."""

from builder.models import Flow
from runs.executor import InlineExecutor, set_executor
from runs.models import Run
from runs.services import run_start
from workspaces.models import Role


def finished_run(demo):
    flow = Flow.objects.get(workspace=demo["workspace"], name="Trip budget")
    run = run_start(user=demo["owner"], flow=flow, inputs=None)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    return run


def test_api_rerun_from_step_and_compare(
    demo, llm_server, api_for, django_capture_on_commit_callbacks
):
    run = finished_run(demo)
    api = api_for(demo["owner"])
    set_executor(InlineExecutor())
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(f"/api/runs/{run.pk}/rerun", {"from_node": "explain"})
    finally:
        set_executor(None)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["parent_run"] == run.pk and body["from_node"] == "explain"
    new = Run.objects.get(pk=body["id"])
    assert new.status == "succeeded"
    diff = api.get(f"/api/runs/{run.pk}/compare/{new.pk}").json()
    nodes = {n["node_id"]: n for n in diff["nodes"]}
    assert nodes["lodging"]["right"]["reused"] is True
    assert nodes["explain"]["right"]["reused"] is False


def test_api_reproduce_matches(demo, llm_server, api_for, django_capture_on_commit_callbacks):
    run = finished_run(demo)
    llm_server.reset()
    set_executor(InlineExecutor())
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_for(demo["owner"]).post(f"/api/runs/{run.pk}/reproduce")
    finally:
        set_executor(None)
    assert response.status_code == 202
    new_id = response.json()["id"]
    assert llm_server.call_count == 0
    diff = api_for(demo["owner"]).get(f"/api/runs/{run.pk}/compare/{new_id}").json()
    assert diff["all_outputs_match"] is True


def test_api_reruns_scoped_and_role_checked(demo, llm_server, api_for, make_user, member):
    run = finished_run(demo)
    stranger = member(Role.OWNER, username="stranger")  # owner of another workspace
    assert api_for(stranger).post(f"/api/runs/{run.pk}/rerun", {}).status_code == 404
    assert api_for(stranger).get(f"/api/runs/{run.pk}/compare/{run.pk}").status_code == 404
    viewer = make_user("viewer2")
    from workspaces.models import Membership

    Membership.objects.create(workspace=demo["workspace"], user=viewer, role=Role.VIEWER)
    assert api_for(viewer).post(f"/api/runs/{run.pk}/rerun", {}).status_code == 403
    assert api_for(viewer).get(f"/api/runs/{run.pk}/compare/{run.pk}").status_code == 200
    assert api_for(None).post(f"/api/runs/{run.pk}/reproduce").status_code == 401
    bad = api_for(demo["owner"]).post(f"/api/runs/{run.pk}/rerun", {"from_node": "nope"})
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_node"
    assert api_for(demo["owner"]).post(f"/api/runs/{run.pk}/rerun", {"x": 1}).status_code == 422
