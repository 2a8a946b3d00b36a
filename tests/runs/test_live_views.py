"""The run page's server side: permission, the server-rendered state, and no 500 for any input."""

import json
import re

import pytest
from django.urls import reverse

from builder.models import Flow
from runs.executor import InlineExecutor, set_executor
from runs.models import Approval, Run, Step
from runs.services import approval_decide, run_start
from tests.llmserver import http_error, text
from workspaces.models import Membership, Role, Workspace

from .support import fast_passwords  # noqa: F401


@pytest.fixture
def inline_runs(llm_server):
    set_executor(InlineExecutor())
    yield llm_server
    set_executor(None)


def recipe(demo) -> Flow:
    return Flow.objects.get(workspace=demo["workspace"], name="Recipe assistant")


def run_recipe(demo, inputs=None) -> Run:
    run = run_start(user=demo["owner"], flow=recipe(demo), inputs=inputs)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def page_state(response) -> dict:
    match = re.search(
        r'<script id="run-state" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the page carries its state for the page's modules"
    return json.loads(match.group(1))


def test_run_page_requires_login(client, demo, inline_runs):
    run = run_recipe(demo)
    response = client.get(reverse("runs:detail", args=[run.pk]))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_run_outside_the_users_workspaces_is_a_404(client, demo, inline_runs, make_user):
    run = run_recipe(demo)
    stranger = make_user("stranger")
    elsewhere = Workspace.objects.create(name="Elsewhere", slug="elsewhere")
    Membership.objects.create(workspace=elsewhere, user=stranger, role=Role.OWNER)
    client.force_login(stranger)
    assert client.get(f"/runs/{run.pk}/").status_code == 404


@pytest.mark.parametrize("run_id", ["0", "999999", "9" * 30, str(2**63), str(2**63 - 1)])
def test_unknown_or_absurd_run_ids_are_404_not_500(client, demo, run_id):
    client.force_login(demo["owner"])
    assert client.get(f"/runs/{run_id}/").status_code == 404


def test_non_numeric_run_ids_do_not_match(client, demo):
    client.force_login(demo["owner"])
    for path in ["/runs/abc/", "/runs/-1/", "/runs/1.5/", "/runs/%00/"]:
        assert client.get(path).status_code == 404


def test_waiting_run_renders_its_state_and_the_approval_server_side(client, demo, inline_runs):
    run = run_recipe(demo)
    assert run.status == "waiting"
    client.force_login(demo["owner"])
    response = client.get(f"/runs/{run.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span data-testid="run-status">waiting</span>' in html
    assert "Recipe assistant" in html and "v1" in html
    # Every step has one row, rendered before any script runs.
    steps = Step.objects.filter(run=run)
    for step in steps:
        assert html.count(f'data-step-key="s{step.pk}"') == 1
    # The chef may decide: the approval is inline with its buttons.
    assert ">Approve</button>" in html and ">Reject</button>" in html
    state = page_state(response)
    assert state["run"]["last_seq"] == run.last_seq
    assert {s["id"] for s in state["steps"]} == {s.pk for s in steps}
    assert state["approvals"][0]["can_decide"] is True
    assert state["nodes"]["instructions"]["label"] == "Cooking instructions"
    assert state["input_schema"]["required"] == ["dish"]


def test_someone_who_cannot_decide_sees_who_the_approval_waits_for(
    client, demo, inline_runs, make_user
):
    run = run_recipe(demo)
    viewer = make_user("vic")
    Membership.objects.create(workspace=demo["workspace"], user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert ">Approve</button>" not in html
    assert "Waiting for chef" in html
    # A viewer may not cancel or re-run.
    assert 'data-action="cancel"' not in html and 'data-action="rerun"' not in html


def test_finished_run_offers_reruns_and_links_a_rerun_to_its_original(client, demo, inline_runs):
    run = run_recipe(demo)
    approval = Approval.objects.get(run=run)
    approval_decide(user=demo["owner"], approval_id=approval.pk, decision="approved")
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    client.force_login(demo["owner"])
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert '<span data-testid="run-status">succeeded</span>' in html
    assert 'data-action="rerun"' in html and 'data-action="reproduce"' in html
    assert "Compare with the original" not in html

    from runs.services.reruns import run_rerun

    child = run_rerun(user=demo["owner"], run=run, from_node="instructions")
    html = client.get(f"/runs/{child.pk}/").content.decode()
    assert f'href="/runs/{run.pk}/compare/{child.pk}/"' in html
    assert "Compare with the original" in html
    state = page_state(client.get(f"/runs/{child.pk}/"))
    reused = {s["node_id"] for s in state["steps"] if s["reused"]}
    assert {"research", "pantry"} <= reused
    assert all(s["state"] == "reused" for s in state["steps"] if s["reused"])


def test_model_output_is_escaped_in_the_page_and_its_state(client, demo, inline_runs):
    inline_runs.on("cooking instructions", text("<script>window.__xss=1</script> and more text"))
    run = run_recipe(demo)
    client.force_login(demo["owner"])
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert "<script>window.__xss=1</script>" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html  # the approval payload, as text
    assert "\\u003Cscript\\u003Ewindow.__xss=1" in html  # json_script escapes it too


def test_failed_run_shows_its_reason(client, demo, inline_runs):
    inline_runs.on("ingredients", http_error(400, message="Bad request from the model"))
    run = run_recipe(demo)
    assert run.status == "failed"
    client.force_login(demo["owner"])
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert '<span data-testid="run-status">failed</span>' in html
    assert run.error_message[:40] in html
