"""The approvals inbox in a real browser: a request arrives live, is edited and approved, and the
run finishes on its page; someone not assigned sees nothing and gets a 404."""

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from runs import dispatch
from runs.models import Approval, ApprovalDecision, Run
from runs.services import run_start
from tests.llmserver import text
from tests.runs.support import inline, memory_layer, token_for  # noqa: F401
from workspaces.models import Membership, Role

from .conftest import eventually, login

pytestmark = pytest.mark.e2e


def fits_1280(page) -> None:
    """At 1280 px wide nothing spills sideways (the smallest width the pages support)."""
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.set_viewport_size({"width": 1440, "height": 900})


INSTRUCTIONS = (
    "1. Layer pasta and sauce.\n2. Bake 40 minutes at 180C.\n"
    "3. Rest 10 minutes <b>before</b> serving."
)


@pytest.fixture
def recipe(demo):
    return Flow.objects.get(workspace=demo["workspace"], name="Recipe assistant")


@pytest.fixture
def approver(demo, make_user):
    user = make_user("bea")
    Membership.objects.create(workspace=demo["workspace"], user=user, role=Role.APPROVER)
    return user


def api_post(base: str, path: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def stream_is_live(page) -> None:
    expect(page.locator('body[data-workspace-stream="live"]')).to_have_count(1)


def test_approval_arrives_live_is_edited_and_approved_and_the_run_finishes(
    new_page, live_url, demo, recipe, approver, llm_server, artifacts
):
    chef = demo["owner"]
    llm_server.on("Write cooking instructions", text(INSTRUCTIONS))

    bea = new_page()
    login(bea, approver)
    bea.goto("/approvals/")
    expect(bea.get_by_role("heading", name="You're all caught up")).to_be_visible()
    badge = bea.get_by_test_id("nav-approvals-count")
    expect(badge).to_have_attribute("data-count", "0")
    expect(badge).to_be_hidden()
    stream_is_live(bea)
    bea.screenshot(path=str(artifacts / "approvals-inbox-empty.png"))
    bea.evaluate("window.__sameDocument = true")

    started = api_post(live_url, f"/api/flows/{recipe.pk}/runs", token_for(chef), {})
    run_id = started["id"]

    chef_page = new_page()
    login(chef_page, chef)
    chef_page.goto(f"/runs/{run_id}/")
    expect(chef_page.get_by_test_id("run-status")).to_have_text(re.compile("waiting", re.I))
    chef_page.evaluate("window.__sameDocument = true")

    # The request appears in Bea's inbox, and the count in the navigation, without a reload.
    item = bea.locator("#approval-list [data-approval-id]")
    expect(item).to_have_count(1, timeout=20_000)
    expect(item).to_contain_text("Chef approval")
    expect(item).to_contain_text(f"run #{run_id}")
    expect(badge).to_have_attribute("data-count", "1")
    expect(badge).to_be_visible()
    assert bea.evaluate("window.__sameDocument") is True

    item.click()
    detail = bea.locator("#approval-detail")
    expect(detail.get_by_role("heading", name="Chef approval")).to_be_visible()
    expect(detail.get_by_test_id("approval-run-link")).to_have_attribute("href", f"/runs/{run_id}/")
    # Shown by its readable name, never a node id.
    review = detail.locator('[data-review-key="cooking_instructions"]')
    expect(review.get_by_test_id("review-text")).to_have_text(INSTRUCTIONS)  # text, not HTML
    expect(review.locator("b")).to_have_count(0)
    bea.screenshot(path=str(artifacts / "approvals-inbox.png"))
    fits_1280(bea)

    detail.get_by_role("link", name="Edit values").click()
    editor = review.get_by_role("textbox", name="Edit Cooking instructions")
    expect(editor).to_be_focused()
    edited = INSTRUCTIONS.replace("40 minutes", "45 minutes")
    editor.fill(edited)
    detail.get_by_role("textbox", name="Comment").fill("Longer bake for a crisp top.")
    bea.screenshot(path=str(artifacts / "approvals-edit.png"))
    detail.get_by_role("button", name="Approve with edits").click()

    expect(bea.get_by_test_id("decision-notice")).to_have_text(
        "Approved with your edits. The run continues with them."
    )
    expect(bea.get_by_test_id("approval-status")).to_have_text("Approved")
    expect(bea.get_by_test_id("audit")).to_contain_text("Longer bake for a crisp top.")
    expect(badge).to_have_attribute("data-count", "0")
    expect(bea.locator("#approval-list [data-approval-id]")).to_have_count(0)
    bea.screenshot(path=str(artifacts / "approvals-decided.png"))

    decision = ApprovalDecision.objects.get(approval__run_id=run_id)
    assert decision.user == approver and decision.edited_payload["instructions"] == edited

    # Chef's run page follows the run live: it completes without a reload.
    expect(chef_page.get_by_test_id("run-status")).to_have_text(
        re.compile("succeeded", re.I), timeout=20_000
    )
    assert chef_page.evaluate("window.__sameDocument") is True
    eventually(lambda: Run.objects.get(pk=run_id).status == "succeeded", timeout=20)
    assert Run.objects.get(pk=run_id).result["recipe"]["instructions"] == edited


def test_someone_not_assigned_sees_nothing_and_gets_404(
    new_page,
    demo,
    recipe,
    approver,
    make_user,
    inline,  # noqa: F811
):
    viewer = make_user("vic")
    Membership.objects.create(workspace=demo["workspace"], user=viewer, role=Role.VIEWER)
    run = run_start(user=demo["owner"], flow=recipe, inputs=None)
    dispatch.kick(run.pk)
    approval = Approval.objects.get(run=run)
    assert not approval.users.filter(pk=viewer.pk).exists()

    page = new_page()
    login(page, viewer)
    page.goto("/approvals/")
    expect(page.get_by_test_id("approvals-empty")).to_have_text("Nothing is waiting on you.")
    expect(page.get_by_test_id("nav-approvals-count")).to_have_attribute("data-count", "0")
    response = page.goto(f"/approvals/{approval.pk}/")
    assert response is not None and response.status == 404

    assignee = new_page()
    login(assignee, approver)
    assignee.goto(f"/approvals/{approval.pk}/")
    expect(assignee.get_by_role("heading", name="Chef approval")).to_be_visible()
