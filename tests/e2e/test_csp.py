"""The Content-Security-Policy in a real browser: the editor's canvas, a run page, the inbox and
the API docs work under it, with no violation reported (console or `securitypolicyviolation`)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from builder.models import Flow
from tests.llmserver import json_reply, text

from .conftest import login
from .test_run_page import INGREDIENTS, STEPS_TEXT, inline_runs, open_run, run_here  # noqa: F401

pytestmark = pytest.mark.e2e

# Playwright's init scripts are not subject to the page's CSP.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const { violatedDirective, blockedURI, sourceFile, lineNumber } = event;
  window.__cspViolations.push(`${violatedDirective} ${blockedURI} ${sourceFile}:${lineNumber}`);
});
"""


def watch_csp(page: Page) -> list[str]:
    """Record every CSP complaint the page makes: console messages and violation events."""
    complaints: list[str] = []
    page.on(
        "console",
        lambda message: (
            complaints.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)
    return complaints


def no_violations(page: Page, complaints: list[str], where: str) -> None:
    events = page.evaluate("window.__cspViolations")
    assert not complaints and not events, f"{where}: {complaints} {events}"


@pytest.mark.usefixtures("inline_runs")
def test_pages_work_under_the_csp_without_violations(page, demo, llm_server, artifacts):
    owner = demo["owner"]
    llm_server.on("ingredients", json_reply(INGREDIENTS))
    llm_server.on("cooking instructions", text(STEPS_TEXT))
    run = run_here(owner)
    flow = Flow.objects.get(workspace=demo["workspace"], name="Recipe assistant")
    complaints = watch_csp(page)

    response = page.goto("/login/")
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
    login(page, owner)

    page.goto(f"/flows/{flow.pk}/")
    expect(page.locator(".react-flow__node").first).to_be_visible()
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "csp-editor.png"))
    no_violations(page, complaints, "editor")

    open_run(page, run.pk)
    expect(page.get_by_test_id("run-status")).to_have_text(re.compile("waiting", re.I))
    expect(page.locator("[data-step-list] [data-step-row]").first).to_be_visible()
    page.screenshot(path=str(artifacts / "csp-run-page.png"))
    no_violations(page, complaints, "run page")

    page.goto("/approvals/")
    # The workspace stream (a websocket under connect-src) is up.
    expect(page.locator('body[data-workspace-stream="live"]')).to_have_count(1)
    no_violations(page, complaints, "inbox")

    page.goto("/api/docs")
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible()
    page.screenshot(path=str(artifacts / "csp-api-docs.png"))
    no_violations(page, complaints, "API docs")

    # The watcher is not blind: a style attribute set from script is refused, and reported.
    page.evaluate("document.body.setAttribute('style', 'outline: 1px solid red')")
    page.wait_for_function("window.__cspViolations.length > 0")
