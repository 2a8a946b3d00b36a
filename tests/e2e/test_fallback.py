"""Ask a person, in a real browser: the demo recipe's shopping-list prompt fails at the provider
(scripted HTTP 500s), the failed step lands in the inbox with its inputs and error, the run page
points there, a person types the list, and the run goes on to complete."""

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from runs.models import Approval, ApprovalDecision, Run
from tests.llmserver import http_error, text
from tests.runs.support import token_for
from workspaces.models import Membership, Role

from .conftest import eventually, login
from .test_run_page import inline_runs, run_here  # noqa: F401

pytestmark = pytest.mark.e2e

SHOPPING = "Write a short shopping list"
TYPED = "- lasagne sheets\n- ricotta\n- spinach"


@pytest.fixture
def recipe(demo):
    return Flow.objects.get(workspace=demo["workspace"], name="Recipe assistant")


def api_post(base: str, path: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_provider_failure_lands_in_the_inbox_and_a_person_types_the_output(
    new_page, live_url, demo, recipe, make_user, llm_server, artifacts
):
    chef = demo["owner"]
    bea = make_user("bea")
    Membership.objects.create(workspace=demo["workspace"], user=bea, role=Role.APPROVER)
    llm_server.on(SHOPPING, http_error(500, retry_after=0, message="upstream overloaded"))
    steps = "1. Boil the sheets. 2. Layer with ricotta. 3. Bake for 40 minutes."
    llm_server.on("Write cooking instructions", text(steps))

    run_id = api_post(live_url, f"/api/flows/{recipe.pk}/runs", token_for(chef), {})["id"]
    eventually(lambda: Approval.objects.filter(run_id=run_id, kind="fallback").exists(), 30)
    task = Approval.objects.get(run_id=run_id, kind="fallback")

    # The run page says the step failed and waits for a person, with a way to the inbox.
    page = new_page()
    login(page, chef)
    page.goto(f"/runs/{run_id}/")
    expect(page.get_by_test_id("run-status")).to_have_text(re.compile("waiting", re.I))
    panel = page.locator('[data-approval][data-kind="fallback"]')
    expect(panel).to_contain_text("Shopping list failed and is waiting for a person")
    expect(panel.locator("[data-fallback-error]")).to_contain_text("HTTP 500")
    page.screenshot(path=str(artifacts / "failure-run-page-waiting.png"), full_page=True)

    # Bea (an approver, assigned since the node names nobody) settles it in the inbox.
    inbox = new_page()
    login(inbox, bea)
    inbox.goto("/approvals/")
    item = inbox.locator(f'#approval-list [data-approval-id="{task.pk}"]')
    expect(item).to_contain_text("Failed step")
    item.click()
    detail = inbox.locator("#approval-detail")
    expect(detail.get_by_test_id("failed-step-tag")).to_be_visible()
    expect(detail.get_by_test_id("fallback-error")).to_contain_text(
        "The model provider could not answer"
    )
    expect(detail.get_by_test_id("fallback-error")).to_contain_text("upstream overloaded")
    expect(detail.get_by_test_id("fallback-inputs")).to_contain_text(SHOPPING)
    expect(detail).to_contain_text("The model could not write the shopping list")
    inbox.screenshot(path=str(artifacts / "failure-inbox-task.png"), full_page=True)

    # Nothing typed: the pane says what is missing (a 422 swapped in, not a toast).
    output = detail.get_by_role("textbox", name="The text this step should have produced")
    detail.get_by_role("button", name="Use this output").click()
    expect(detail).to_contain_text("Type the output the step should have produced.")
    expect(inbox.locator(".sb-toast")).to_have_count(0)
    output.fill(TYPED)
    # Clicking the item already open loads nothing, so what was typed stays.
    sent: list[tuple[str, str]] = []
    inbox.on("request", lambda r: sent.append((r.method, r.url)))
    item.click()
    expect(output).to_have_value(TYPED)
    detail.get_by_role("textbox", name="Comment").fill("Wrote it from the pantry list.")
    detail.get_by_role("button", name="Use this output").click()
    expect(inbox.get_by_test_id("decision-notice")).to_have_text(
        "Output saved. The run continues with it."
    )
    assert [
        url for method, url in sent if method == "GET" and f"/approvals/{task.pk}/" in url
    ] == []
    expect(inbox.get_by_test_id("approval-status")).to_have_text("Output given")
    expect(inbox.get_by_test_id("typed-output")).to_have_text(TYPED)
    inbox.screenshot(path=str(artifacts / "failure-inbox-settled.png"), full_page=True)
    decision = ApprovalDecision.objects.get(approval=task)
    assert (decision.user, decision.decision) == (bea, "output")

    # The run goes on to the chef's approval, which shows the typed list; approving finishes it.
    eventually(lambda: Approval.objects.filter(run_id=run_id, kind="approval").exists(), 30)
    chef_task = Approval.objects.get(run_id=run_id, kind="approval")
    assert TYPED in chef_task.payload.values()
    inbox.goto(f"/approvals/{chef_task.pk}/")
    inbox.get_by_role("button", name="Approve").click()
    expect(inbox.get_by_test_id("approval-status")).to_have_text("Approved")
    expect(page.get_by_test_id("run-status")).to_have_text(
        re.compile("succeeded", re.I), timeout=20_000
    )
    eventually(lambda: Run.objects.get(pk=run_id).status == "succeeded", 20)
    page.screenshot(path=str(artifacts / "failure-run-page-done.png"), full_page=True)
    # The provider was called for the shopping list only before the person stepped in.
    calls = [r for r in llm_server.requests if SHOPPING in json.dumps(r)]
    assert len(calls) == 3  # one try and two retries, then the person


def _editor_graph() -> dict:
    def n(node_id, type_, x, **config):
        return {
            "id": node_id,
            "type": type_,
            "label": node_id.title(),
            "position": {"x": x, "y": 100},
            "config": config,
        }

    def e(source, target, port="out"):
        return {
            "id": f"{source}-{port}-{target}",
            "source": source,
            "source_port": port,
            "target": target,
            "target_port": "in",
        }

    return {
        "schema_version": 1,
        "nodes": [
            n("start", "input", 0, schema={"type": "object"}),
            n("draft", "prompt", 260, prompt="Say hi"),
            n("route", "router", 520, routes=[{"name": "yes"}]),
            n("done", "output", 780),
        ],
        "edges": [
            e("start", "draft"),
            e("draft", "route"),
            e("route", "done", "yes"),
            e("route", "done", "otherwise"),
        ],
    }


def test_the_canvas_shows_error_ports_and_the_on_failure_setting(page, member, artifacts):
    designer = member(Role.EDITOR, username="dana")
    flow = Flow.objects.create(
        workspace=designer.memberships.get().workspace, name="Errors", graph=_editor_graph()
    )
    login(page, designer)
    page.goto(f"/flows/{flow.pk}/")

    def ports(node_id):
        return page.locator(f'.react-flow__node[data-id="{node_id}"] [data-port]')

    draft, route = ports("draft"), ports("route")
    expect(draft).to_have_count(2)
    expect(page.locator('.react-flow__node[data-id="draft"] [data-port="error"]')).to_be_visible()
    expect(route).to_have_count(2)  # a rules router cannot fail: no error port

    page.locator('.react-flow__node[data-id="route"] .sb-node-label').click()
    page.get_by_role("radiogroup", name="Mode").get_by_role("radio", name="LLM").click()
    page.get_by_role("textbox", name="Text to classify (LLM mode)", exact=False).fill("hi")
    expect(page.locator('.react-flow__node[data-id="route"] [data-port="error"]')).to_be_visible()

    page.locator('.react-flow__node[data-id="draft"] .sb-node-label').click()
    inspector = page.locator('[data-inspector-node="draft"]')
    inspector.get_by_role("radiogroup", name="On failure").get_by_role(
        "radio", name="Branch"
    ).click()
    expect(page.locator(".sb-node-problem")).to_contain_text("nothing is connected to that port")
    inspector.get_by_role("radiogroup", name="On failure").get_by_role("radio", name="Ask").click()
    expect(inspector.get_by_label("Ask these people")).to_be_visible()
    expect(page.locator('[data-problem-total="0"]')).to_be_visible()
    page.screenshot(path=str(artifacts / "failure-editor-policy.png"))


def _expiring_graph() -> dict:
    x = {"start": 0, "listing": 300, "done": 600}

    def n(node_id, type_, **config):
        return {"id": node_id, "type": type_, "label": node_id.title(), "config": config,
                "position": {"x": x[node_id], "y": 80}}  # fmt: skip

    def e(source, target, port="out"):
        return {"id": f"{source}-{port}", "source": source, "source_port": port,
                "target": target, "target_port": "in"}  # fmt: skip

    listing = n("listing", "prompt", prompt="List for {{ inputs.dish }}", retries=0,
                on_failure="ask", fallback_users=["chef"], fallback_timeout="2h",
                fallback_remind_after="1h")  # fmt: skip
    listing["label"] = "Shopping list"
    return {
        "schema_version": 1,
        "nodes": [
            n("start", "input", schema={"type": "object", "properties": {"dish": {}}}),
            listing,
            n("done", "output", name="shopping"),
        ],
        "edges": [e("start", "listing"), e("listing", "done")],
    }


def test_a_task_nobody_settles_expires_and_the_run_page_says_why(
    page,
    demo,
    inline_runs,  # noqa: F811
    artifacts,
):
    from datetime import timedelta

    from django.utils import timezone

    from builder.services import flow_publish
    from notifications.services import reminders_send
    from runs.executor import InlineExecutor
    from runs.services import sweep

    chef = demo["owner"]
    inline_runs.on("List for", http_error(400, message="bad request: context too long"))
    flow = Flow.objects.create(
        workspace=demo["workspace"], name="Shopping", graph=_expiring_graph()
    )
    flow_publish(flow=flow, user=chef)
    run = run_here(chef, Flow.objects.select_related("workspace").get(pk=flow.pk),
                   inputs={"dish": "soup"})  # fmt: skip
    assert run.status == "waiting", (run.error_code, run.error_message)
    task = Approval.objects.get(run=run, kind="fallback")

    # The inbox says when the task expires, what happens then, and when the reminder goes.
    login(page, chef)
    page.goto("/approvals/")
    item = page.locator(f'#approval-list [data-approval-id="{task.pk}"]')
    expect(item.get_by_test_id("item-expiry")).to_have_text("Expires in 2 h, then fails the step")
    expect(item.get_by_test_id("item-reminder")).to_have_text("Reminder in 1 h")
    detail = page.locator("#approval-detail")
    expect(detail.get_by_test_id("approval-expiry")).to_contain_text(
        "expires in 2 h, then fails the run"
    )

    # 70 minutes on (the task's clock moved back), the reminder has gone out.
    earlier = timedelta(minutes=70)
    Approval.objects.filter(pk=task.pk).update(
        created_at=task.created_at - earlier,
        due_at=task.due_at - earlier,
        remind_at=task.remind_at - earlier,
    )
    reminders_send(timezone.now())
    page.reload()
    expect(item.get_by_test_id("item-expiry")).to_have_text(
        "Expires in 50 min, then fails the step"
    )
    expect(item.get_by_test_id("item-reminder")).to_have_text("Reminder sent just now")
    expect(detail.get_by_test_id("approval-reminder")).to_contain_text("reminder sent just now")
    page.screenshot(path=str(artifacts / "fallback-task-expiry.png"), full_page=True)

    # Nobody settles it: past its expiry the sweep (under a fake clock) fails the step.
    for run_id in sweep(now=timezone.now() + timedelta(hours=1)):
        InlineExecutor().advance(run_id)
    run.refresh_from_db()
    assert run.status == "failed", (run.error_code, run.error_message)

    page.goto(f"/runs/{run.pk}/")
    expect(page.get_by_test_id("run-status")).to_have_text(re.compile("failed", re.I))
    expect(page.locator("body")).to_contain_text("not settled within 2h")
    expect(page.locator('.react-flow__node[data-id="listing"]')).to_be_visible()
    page.screenshot(path=str(artifacts / "fallback-task-expired-run.png"), full_page=True)
    page.goto(f"/approvals/{task.pk}/")
    expect(page.get_by_test_id("approval-status")).to_have_text("Timed out")
