"""Workspace settings in a real browser: an owner adds a teammate as approver, who then approves
a waiting run from the inbox; a token is created, copied once, used over the API, and revoked
(401 from then on). Screenshots of every settings page go to test-artifacts/settings-*.png."""

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from runs.models import Approval, ApprovalDecision, Run
from tests.llmserver import text
from workspaces.models import ApiToken, AuditEvent, Membership

from .conftest import eventually, login
from .test_csp import no_violations, watch_csp
from .test_inbox import INSTRUCTIONS, api_post

pytestmark = pytest.mark.e2e


def api_get(base: str, path: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_owner_adds_an_approver_who_approves_from_the_inbox(
    new_page, live_url, demo, make_user, llm_server, artifacts
):
    chef = demo["owner"]
    workspace = demo["workspace"]
    bea = make_user("bea", email="bea@example.com", first_name="Bea", last_name="Baker")
    llm_server.on("Write cooking instructions", text(INSTRUCTIONS))

    owner_page = new_page()
    complaints = watch_csp(owner_page)
    login(owner_page, chef)
    owner_page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(owner_page).to_have_url(re.compile(rf"/settings/{workspace.pk}/members/$"))
    expect(owner_page.get_by_role("heading", name="Members")).to_be_visible()

    # An unknown person is explained, and nothing is added.
    owner_page.get_by_label("Username or email").fill("nobody@example.com")
    owner_page.get_by_role("button", name="Add member").click()
    expect(owner_page.get_by_role("alert")).to_contain_text("No user with that username or email")
    expect(owner_page.get_by_label("Username or email")).to_have_value("nobody@example.com")

    owner_page.get_by_label("Username or email").fill("bea@example.com")
    owner_page.get_by_label("Role", exact=True).select_option("approver")
    owner_page.get_by_role("button", name="Add member").click()
    expect(owner_page.get_by_role("status")).to_contain_text("Added bea as approver.")
    row = owner_page.locator('tr[data-member="bea"]')
    expect(row).to_contain_text("Bea Baker")
    expect(row.get_by_label("Role of bea")).to_have_value("approver")
    # The last owner's role cannot be changed from the page.
    expect(owner_page.get_by_label("Role of chef")).to_be_disabled()
    owner_page.screenshot(path=str(artifacts / "settings-members.png"), full_page=True)
    no_violations(owner_page, complaints, "members page")
    assert Membership.objects.get(workspace=workspace, user=bea).role == "approver"

    # A run waits for an approval; Bea, new to the workspace, decides it from her inbox.
    recipe = Flow.objects.get(workspace=workspace, name="Recipe assistant")
    _, chef_token = ApiToken.issue(user=chef, name="e2e")
    run_id = api_post(live_url, f"/api/flows/{recipe.pk}/runs", chef_token, {})["id"]
    eventually(lambda: Approval.objects.filter(run_id=run_id, status="pending").exists(), 30)

    bea_page = new_page()
    login(bea_page, bea)
    bea_page.goto("/approvals/")
    item = bea_page.locator("#approval-list [data-approval-id]")
    expect(item).to_have_count(1, timeout=20_000)
    # The inbox opens the newest request itself.
    expect(item).to_have_attribute("aria-current", "true")
    detail = bea_page.locator("#approval-detail")
    expect(detail.get_by_role("heading", name="Chef approval")).to_be_visible()
    detail.get_by_role("button", name="Approve").click()
    expect(bea_page.get_by_test_id("decision-notice")).to_have_text("Approved. The run continues.")
    eventually(lambda: Run.objects.get(pk=run_id).status == "succeeded", timeout=30)
    assert ApprovalDecision.objects.get(approval__run_id=run_id).user == bea

    # The change is in the owners' audit log.
    owner_page.get_by_role("link", name="Audit log").click()
    entry = owner_page.locator('tr[data-audit-action="member.added"]')
    expect(entry).to_contain_text("bea")
    expect(entry).to_contain_text("approver")
    owner_page.screenshot(path=str(artifacts / "settings-audit.png"), full_page=True)

    # Bea, an approver, sees the members read-only and no audit log.
    bea_page.goto(f"/settings/{workspace.pk}/members/")
    expect(bea_page.get_by_role("button", name="Add member")).to_have_count(0)
    expect(bea_page.get_by_role("link", name="Audit log")).to_have_count(0)
    response = bea_page.goto(f"/settings/{workspace.pk}/audit/")
    assert response is not None and response.status == 403


def test_token_is_created_copied_once_used_and_revoked(page, live_url, demo, artifacts):
    chef = demo["owner"]
    workspace = demo["workspace"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_url)
    complaints = watch_csp(page)
    login(page, chef)
    page.goto(f"/settings/{workspace.pk}/tokens/")
    expect(page.get_by_role("heading", name="No tokens yet")).to_be_visible()

    page.get_by_label("Name").fill("Nightly export")
    expiry = page.get_by_label("Expires")
    expect(page.get_by_label("Expiry date")).to_be_hidden()
    expiry.select_option("custom")
    expect(page.get_by_label("Expiry date")).to_be_visible()
    expiry.select_option("7")
    page.get_by_role("button", name="Create token").click()

    shown = page.locator("[data-token-value]")
    expect(shown).to_be_visible()
    raw = shown.input_value()
    assert raw.startswith("sb_")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == raw
    # Back-navigation or reload does not show it again (the address is the list's again).
    expect(page).to_have_url(re.compile(rf"/settings/{workspace.pk}/tokens/$"))
    page.screenshot(path=str(artifacts / "settings-tokens-created.png"), full_page=True)
    no_violations(page, complaints, "tokens page")

    status, body = api_get(live_url, "/api/workspaces", raw)
    assert status == 200 and [w["slug"] for w in body] == ["demo"]

    page.reload()
    expect(page.locator("[data-token-value]")).to_have_count(0)
    assert raw not in page.content()
    row = page.locator('tr[data-token="Nightly export"]')
    expect(row).to_contain_text("just now")  # last used
    token = ApiToken.objects.get(name="Nightly export")
    expect(row).to_contain_text(f"{token.expires_at:%b} {token.expires_at.day}")
    page.screenshot(path=str(artifacts / "settings-tokens.png"), full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke Nightly export").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked “Nightly export”")
    expect(row).to_contain_text("Revoked")

    status, body = api_get(live_url, "/api/workspaces", raw)
    assert status == 401
    assert body["reason"] == "token_revoked" and "was revoked on" in body["detail"]
    assert [e.action for e in AuditEvent.objects.filter(workspace=workspace)] == [
        "token.revoked",
        "token.created",
    ]


def test_defaults_page_saves_and_explains(new_page, demo, make_user, artifacts):
    page = new_page()
    chef = demo["owner"]
    workspace = demo["workspace"]
    login(page, chef)
    page.goto(f"/settings/{workspace.pk}/defaults/")
    page.get_by_label("Model").fill("openai/gpt-4o")
    page.get_by_label("Max cost per run (USD)").fill("lots")
    page.get_by_role("button", name="Save defaults").click()
    expect(page.get_by_role("alert")).to_contain_text("must be a number")
    page.get_by_label("Max cost per run (USD)").fill("0.50")
    page.get_by_label("Max tokens per run").fill("20000")
    page.get_by_role("button", name="Save defaults").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    expect(page.get_by_label("Max cost per run (USD)")).to_have_value("0.5")
    page.screenshot(path=str(artifacts / "settings-defaults.png"), full_page=True)
    workspace.refresh_from_db()
    assert (workspace.default_model, workspace.default_max_cost) == ("openai/gpt-4o", 0.5)

    viewer = make_user("vic")
    Membership.objects.create(workspace=workspace, user=viewer, role="viewer")
    other = new_page()
    login(other, viewer)
    other.goto(f"/settings/{workspace.pk}/defaults/")
    expect(other.get_by_label("Model")).to_be_disabled()
    expect(other.get_by_role("button", name="Save defaults")).to_have_count(0)
    other.screenshot(path=str(artifacts / "settings-defaults-viewer.png"), full_page=True)
