"""Failed steps handed to a person, over the API and the database: a scripted provider failure
becomes an inbox task of kind "fallback"; the assignee types the output (checked against the
node's output schema), retries the step (with another model), or fails it; every decision is
audited, and the task survives a killed process."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

import json
import urllib.error
import urllib.request

import pytest

from builder.graph import validate_graph
from builder.models import Flow, FlowVersion
from runs.models import Approval, ApprovalDecision, Run, RunEvent, Step
from tests.llmserver import http_error, refusal, text
from workspaces.models import Role

from .support import (  # noqa: F401
    Daphne,
    embedded_env,
    fast_passwords,
    flow_named,
    inline,
    join,
    memory_layer,
    token_for,
    wait_settled,
    wait_status,
    wait_until,
)

SCHEMA = {
    "type": "object",
    "required": ["items"],
    "properties": {"items": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
}


def fallback_graph(**config) -> dict:
    def node(node_id, type_, **cfg):
        return {"id": node_id, "type": type_, "label": node_id.title(), "config": cfg}

    graph = {
        "schema_version": 1,
        "nodes": [
            node("ask", "input", schema={"type": "object", "properties": {"dish": {}}}),
            node(
                "listing",
                "prompt",
                prompt="List what to buy for {{ inputs.dish }}",
                model="openai/gpt-4o-mini",
                retries=0,
                output_format="json",
                json_schema=SCHEMA,
                on_failure="ask",
                fallback_users=["ann"],
                fallback_instructions="Write the list for {{ inputs.dish }}.",
                **config,
            ),
            node("done", "output", name="shopping"),
        ],
        "edges": [
            {"id": "e1", "source": "ask", "source_port": "out", "target": "listing"},
            {"id": "e2", "source": "listing", "source_port": "out", "target": "done"},
        ],
    }
    for edge in graph["edges"]:
        edge["target_port"] = "in"
    assert validate_graph(graph) == []
    return graph


@pytest.fixture
def people(workspace, make_user):
    ann, bob, vic = make_user("ann"), make_user("bob"), make_user("vic")
    join(ann, workspace, Role.APPROVER)
    join(bob, workspace, Role.EDITOR)
    join(vic, workspace, Role.VIEWER)
    return {"ann": ann, "bob": bob, "vic": vic}


@pytest.fixture
def failed_run(workspace, people, inline, api_for, django_capture_on_commit_callbacks):
    """A run whose prompt failed at the provider and now waits for ann."""
    inline.on("List what to buy", http_error(500, retry_after=0))
    flow = Flow.objects.create(workspace=workspace, name="Shopping", graph=fallback_graph())
    FlowVersion.objects.create(flow=flow, number=1, graph=flow.graph, published=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(people["bob"]).post(
            f"/api/flows/{flow.pk}/runs", {"inputs": {"dish": "soup"}}
        )
    run = Run.objects.get(pk=response.json()["id"])
    assert run.status == "waiting"
    return run


@pytest.fixture
def settle(api_for, django_capture_on_commit_callbacks):
    """POST a fallback decision and execute what it kicked on commit."""

    def call(user, approval_id, body):
        with django_capture_on_commit_callbacks(execute=True):
            return api_for(user).post(f"/api/approvals/{approval_id}/fallback", body)

    return call


def test_a_failed_step_becomes_an_inbox_task_with_inputs_and_error(failed_run, people, api_for):
    approval = Approval.objects.get(run=failed_run)
    assert approval.kind == "fallback" and approval.status == "pending"
    step = Step.objects.get(pk=approval.step_id)
    assert step.status == "waiting" and step.error_code == "server_error"

    listed = api_for(people["ann"]).get("/api/approvals").json()["items"]
    assert [(a["id"], a["kind"]) for a in listed] == [(approval.pk, "fallback")]
    detail = api_for(people["ann"]).get(f"/api/approvals/{approval.pk}").json()
    assert detail["can_decide"] is True
    assert detail["instructions"] == "Write the list for soup."
    assert detail["payload"]["error"]["type"] == "provider_error"
    assert detail["payload"]["error"]["node"] == "listing"
    assert detail["payload"]["inputs"]["prompt"] == "List what to buy for soup"
    assert detail["fallback"]["output_schema"] == SCHEMA
    assert detail["fallback"]["model"] == "openai/gpt-4o-mini"
    requested = RunEvent.objects.get(run=failed_run, kind="approval.requested")
    assert requested.data["kind"] == "fallback" and requested.data["code"] == "server_error"
    # Not an assignee: may see it (workspace member), may not decide it.
    assert api_for(people["bob"]).get("/api/approvals").json()["items"] == []


def test_typed_output_invalid_is_refused_and_loses_nothing_then_valid_completes(
    failed_run, people, api_for, settle
):
    approval = Approval.objects.get(run=failed_run)
    bad = settle(
        people["ann"],
        approval.pk,
        {"action": "output", "output": {"items": []}},
    )
    assert bad.status_code == 422, bad.content
    assert bad.json()["code"] == "invalid_output"
    assert "does not match" in bad.json()["detail"]
    assert bad.json()["errors"] == ["items: [] should be non-empty"]
    approval.refresh_from_db()
    assert approval.status == "pending" and not ApprovalDecision.objects.exists()
    assert Step.objects.get(pk=approval.step_id).status == "waiting"

    good = settle(
        people["ann"],
        approval.pk,
        {"action": "output", "output": {"items": ["leeks", "stock"]}, "comment": "by hand"},
    )
    assert good.status_code == 200, good.content
    assert good.json()["status"] == "answered" and good.json()["changed"] is True
    failed_run.refresh_from_db()
    assert failed_run.status == "succeeded"
    assert failed_run.result == {"shopping": {"items": ["leeks", "stock"]}}
    audit = ApprovalDecision.objects.get(approval=approval)
    assert (audit.user, audit.decision, audit.comment) == (people["ann"], "output", "by hand")
    assert audit.edited_payload == {"output": {"items": ["leeks", "stock"]}}
    decided = RunEvent.objects.get(run=failed_run, kind="approval.decided")
    assert decided.data["decision"] == "output" and decided.data["by"] == "ann"
    # Repeating it is a no-op; a different decision now is a conflict.
    again = settle(
        people["ann"],
        approval.pk,
        {"action": "output", "output": {"items": ["leeks"]}},
    )
    assert again.status_code == 200 and again.json()["changed"] is False
    conflict = settle(people["ann"], approval.pk, {"action": "fail"})
    assert conflict.status_code == 409


def test_output_that_is_not_json_for_a_json_step_is_refused_clearly(
    failed_run, people, api_for, settle
):
    approval = Approval.objects.get(run=failed_run)
    response = settle(
        people["ann"],
        approval.pk,
        {"action": "output", "output": "leeks, stock"},
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("This is not valid JSON")
    missing = settle(people["ann"], approval.pk, {"action": "output"})
    assert missing.status_code == 422 and missing.json()["code"] == "output_missing"


def test_retry_with_another_model_runs_the_step_again_and_completes(
    failed_run, people, api_for, settle, inline
):
    inline.reset()
    inline.on(lambda r: r.get("model") == "gpt-4o-mini", http_error(500, retry_after=0))
    inline.on(lambda r: r.get("model") == "gpt-4o", text(json.dumps({"items": ["bread"]})))
    approval = Approval.objects.get(run=failed_run)
    unknown = settle(
        people["ann"],
        approval.pk,
        {"action": "retry", "model": "nowhere/else"},
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "invalid_model"
    assert "nowhere" in unknown.json()["detail"]

    response = settle(
        people["ann"],
        approval.pk,
        {"action": "retry", "model": "openai/gpt-4o"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "retried"
    failed_run.refresh_from_db()
    assert failed_run.status == "succeeded", failed_run.error_message
    assert failed_run.result == {"shopping": {"items": ["bread"]}}
    assert [r["model"] for r in inline.requests] == ["gpt-4o"]
    attempts = list(
        Step.objects.filter(run=failed_run, node_id="listing")
        .order_by("attempt")
        .values_list("attempt", "status", "model")
    )
    assert attempts == [(0, "failed", ""), (1, "succeeded", "openai/gpt-4o")]
    retried = Step.objects.get(run=failed_run, node_id="listing", attempt=1)
    assert retried.details["overrides"] == {"model": "openai/gpt-4o"}
    audit = ApprovalDecision.objects.get(approval=approval)
    assert audit.decision == "retry" and audit.edited_payload == {"model": "openai/gpt-4o"}


def test_retry_that_fails_again_asks_again_and_fail_fails_the_run(
    failed_run, people, api_for, settle, inline
):
    inline.reset()
    inline.on("List what to buy", refusal("I won't."))
    first = Approval.objects.get(run=failed_run)
    settle(people["ann"], first.pk, {"action": "retry"})
    failed_run.refresh_from_db()
    assert failed_run.status == "waiting"
    second = Approval.objects.get(run=failed_run, status="pending")
    assert second.pk != first.pk
    assert second.payload["error"]["type"] == "refusal"

    response = settle(people["ann"], second.pk, {"action": "fail"})
    assert response.status_code == 200 and response.json()["status"] == "failed"
    failed_run.refresh_from_db()
    assert failed_run.status == "failed"
    assert failed_run.error_code == "refusal"
    assert "failed by ann" in failed_run.error_message


def test_only_assignees_may_settle_and_approvals_endpoints_keep_to_their_kind(
    failed_run, people, api_for, settle, make_user, other_workspace
):
    approval = Approval.objects.get(run=failed_run)
    for user, status in ((people["bob"], 403), (people["vic"], 403)):
        response = settle(user, approval.pk, {"action": "fail"})
        assert response.status_code == status
    outsider = make_user("olga")
    join(outsider, other_workspace, Role.OWNER)
    assert settle(outsider, approval.pk, {"action": "fail"}).status_code == 404
    wrong = api_for(people["ann"]).post(
        f"/api/approvals/{approval.pk}/decision", {"decision": "approved"}
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "not_an_approval"
    bogus = settle(people["ann"], approval.pk, {"action": "skip"})
    assert bogus.status_code == 422
    approval.refresh_from_db()
    assert approval.status == "pending" and not ApprovalDecision.objects.exists()


def test_demo_recipe_shopping_list_falls_back_to_a_person(
    demo, inline, api_for, settle, django_capture_on_commit_callbacks
):
    inline.on("Write a short shopping list", http_error(503, retry_after=0))
    flow = flow_named("Recipe assistant")
    with django_capture_on_commit_callbacks(execute=True):
        run_id = api_for(demo["owner"]).post(f"/api/flows/{flow.pk}/runs", {}).json()["id"]
    approval = Approval.objects.get(run_id=run_id, kind="fallback")
    assert approval.node_id == "shopping"
    assert approval.instructions.startswith("The model could not write the shopping list")
    response = settle(
        demo["owner"],
        approval.pk,
        {"action": "output", "output": "- lasagne sheets\n- ricotta"},
    )
    assert response.status_code == 200, response.content
    # The run goes on to the chef's approval with the person's list in it.
    chef = Approval.objects.get(run_id=run_id, kind="approval")
    assert "- lasagne sheets\n- ricotta" in chef.payload.values()
    assert Run.objects.get(pk=run_id).status == "waiting"


def _post(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.django_db(transaction=True)
def test_a_waiting_fallback_survives_a_killed_process_and_resumes_on_decision(demo, llm_server):
    llm_server.on("Write a short shopping list", http_error(500, retry_after=0))
    token = token_for(demo["owner"])
    env = embedded_env(llm_server.base_url)
    first = Daphne(env).start()
    second = None
    try:
        flow = flow_named("Recipe assistant")
        status, body = _post(f"{first.http}/api/flows/{flow.pk}/runs", token, {})
        assert status == 202, body
        run_id = body["id"]
        wait_until(
            lambda: Approval.objects.filter(run_id=run_id, kind="fallback").exists(), timeout=30
        )
        wait_status(run_id, "waiting")
        calls = llm_server.call_count
        first.kill()
        second = Daphne(env).start()
        # The new process recovers what the old one left: nothing, since nothing was in flight.
        approval = Approval.objects.get(run_id=run_id, kind="fallback")
        assert approval.status == "pending"
        assert Run.objects.get(pk=run_id).status == "waiting"
        status, body = _post(
            f"{second.http}/api/approvals/{approval.pk}/fallback",
            token,
            {"action": "output", "output": "- ricotta"},
        )
        assert status == 200, body
        wait_until(
            lambda: Approval.objects.filter(run_id=run_id, kind="approval").exists(), timeout=30
        )
        wait_status(run_id, "waiting")
    except BaseException:
        for server in (first, second):
            if server is not None:
                print(f"--- daphne {server.pid} ---\n{server.output()}")
        raise
    finally:
        if second is not None:
            wait_settled()
            second.stop()
        first.stop()
    steps = list(
        Step.objects.filter(run_id=run_id, node_id="shopping").values_list("attempt", "status")
    )
    assert steps == [(0, "succeeded")]  # settled by the person, never re-executed
    assert Step.objects.get(run_id=run_id, node_id="shopping").output == "- ricotta"
    # The failing call was made before the kill only (3 tries: retries 2), never again after.
    shopping_calls = [
        r for r in llm_server.requests if "Write a short shopping list" in json.dumps(r)
    ]
    assert len(shopping_calls) == 3 and llm_server.call_count > calls


def test_inbox_page_shows_the_failed_step_and_keeps_bad_input(
    failed_run, people, client, django_capture_on_commit_callbacks
):
    approval = Approval.objects.get(run=failed_run)
    client.force_login(people["ann"])
    page = client.get(f"/approvals/{approval.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Failed step" in html and "The model provider could not answer" in html
    assert "List what to buy for soup" in html and "Use this output" in html
    url = f"/approvals/{approval.pk}/fallback/"
    bad = client.post(
        url, {"action": "output", "output": '{"items": "eggs"}'}, HTTP_HX_REQUEST="true"
    )
    assert bad.status_code == 422
    text = bad.content.decode()
    assert "does not match what this step must produce" in text
    assert "items: &#x27;eggs&#x27; is not of type &#x27;array&#x27;" in text
    assert "{&quot;items&quot;: &quot;eggs&quot;}" in text  # what was typed is still there
    assert Approval.objects.get(pk=approval.pk).status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        good = client.post(
            url, {"action": "output", "output": '{"items": ["eggs"]}'}, HTTP_HX_REQUEST="true"
        )
    assert good.status_code == 200
    assert "Output saved" in good.content.decode()
    assert Run.objects.get(pk=failed_run.pk).status == "succeeded"
    # Someone who may not decide sees it read-only; a viewer gets no form.
    client.force_login(people["bob"])
    assert client.get(f"/approvals/{approval.pk}/").status_code == 404  # not assigned to bob


def test_reproducing_a_run_replays_the_typed_output_with_zero_calls(
    failed_run, people, settle, inline
):
    from runs.executor import InlineExecutor
    from runs.services.reruns import run_reproduce

    approval = Approval.objects.get(run=failed_run)
    settle(people["ann"], approval.pk, {"action": "output", "output": {"items": ["salt"]}})
    failed_run.refresh_from_db()
    assert failed_run.status == "succeeded"
    inline.reset()
    copy = run_reproduce(user=people["bob"], run=failed_run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded" and copy.result == failed_run.result
    assert inline.call_count == 0  # the provider is not asked; the person's output is replayed
    assert not Approval.objects.filter(run=copy).exists()  # and nobody is asked again
