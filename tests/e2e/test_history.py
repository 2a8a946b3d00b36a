"""Run history in a real browser: the chart, filters applied in place, a status changing live."""

import json
import re
import urllib.request
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from builder.models import Flow, FlowVersion
from runs.models import Run
from tests.builder.graphs import base_graph
from tests.runs.support import token_for
from workspaces.models import Role

from .conftest import login

pytestmark = pytest.mark.e2e


def fits_1280(page) -> None:
    """At 1280 px wide nothing spills sideways (the smallest width the pages support)."""
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.set_viewport_size({"width": 1440, "height": 900})


def add_run(flow, user, status, days_ago, cost):
    created = timezone.now() - timedelta(days=days_ago, hours=1)
    finished = status not in ("running", "waiting", "queued")
    return Run.objects.create(
        flow=flow,
        version=flow.versions.get(number=1),
        workspace=flow.workspace,
        status=status,
        created_by=user,
        created_at=created,
        started_at=created,
        finished_at=created + timedelta(seconds=4 + days_ago) if finished else None,
        cost=Decimal(cost),
        tokens_in=300 + 10 * days_ago,
        tokens_out=120,
        error_code="llm_timeout" if status == "failed" else "",
        error_message="The model did not answer in 30 s." if status == "failed" else "",
    )


@pytest.fixture
def history(member, workspace):
    dana = member(Role.EDITOR, username="dana")
    sam = member(Role.EDITOR, username="sam")
    flows = {}
    for name in ("Support triage", "Blog writer", "Invoice checker"):
        flow = Flow.objects.create(workspace=workspace, name=name, graph=base_graph())
        FlowVersion.objects.create(flow=flow, number=1, graph=base_graph(), published=True)
        flows[name] = flow
    plan = [
        ("Support triage", dana, "succeeded", 0, "0.0042"),
        ("Support triage", sam, "failed", 0, "0.0011"),
        ("Blog writer", dana, "succeeded", 1, "0.0210"),
        ("Support triage", sam, "succeeded", 2, "0.0038"),
        ("Invoice checker", dana, "succeeded", 3, "0.0007"),
        ("Blog writer", sam, "cancelled", 5, "0.0090"),
        ("Support triage", dana, "succeeded", 6, "0.0045"),
        ("Blog writer", dana, "succeeded", 8, "0.0180"),
        ("Invoice checker", sam, "failed", 9, "0.0002"),
        ("Support triage", dana, "succeeded", 11, "0.0040"),
    ]
    for name, user, status, days_ago, cost in plan:
        add_run(flows[name], user, status, days_ago, cost)
    # Waiting (on a person): the server's sweeper leaves it alone, unlike a "running" one.
    waiting = add_run(flows["Blog writer"], dana, "waiting", 0, "0.0030")
    return {"dana": dana, "flows": flows, "waiting": waiting}


def test_history_chart_filters_and_a_live_status_change(page, live_url, history, artifacts):
    login(page, history["dana"])
    page.goto("/runs/")
    rows = page.locator("tr[data-run-id]")
    expect(rows).to_have_count(11)
    chart = page.get_by_test_id("history-chart")
    expect(chart.locator('[data-chart="runs"] rect.sb-chart-bar')).to_have_count(10)
    expect(chart.locator('[data-chart="cost"] rect.sb-chart-bar')).to_have_count(10)
    expect(chart.locator(".sb-chart-legend li")).to_have_count(3)
    expect(page.locator('body[data-workspace-stream="live"]')).to_have_count(1)
    page.screenshot(path=str(artifacts / "runs-history.png"), full_page=True)
    fits_1280(page)
    page.evaluate("window.__sameDocument = true")

    # A run still going changes status on the server: its row follows without a reload.
    waiting = history["waiting"]
    row = page.locator(f'tr[data-run-id="{waiting.pk}"]')
    expect(row.get_by_test_id("run-row-status")).to_have_text("Waiting")
    request = urllib.request.Request(
        f"{live_url}/api/runs/{waiting.pk}/cancel",
        headers={"Authorization": f"Bearer {token_for(history['dana'])}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["status"] == "cancelled"
    expect(row.get_by_test_id("run-row-status")).to_have_text("Cancelled")

    page.get_by_test_id("filter-status").select_option("failed")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"status=failed"))
    page.get_by_test_id("filter-flow").select_option(label="Support triage")
    expect(rows).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_text("Runs of Support triage")
    expect(chart.locator('[data-chart="runs"] rect.sb-chart-bar')).to_have_count(1)
    page.get_by_test_id("filter-status").select_option("")
    expect(rows).to_have_count(5)
    page.get_by_test_id("filter-person").select_option("sam")
    expect(rows).to_have_count(2)
    assert page.evaluate("window.__sameDocument") is True  # all in place, no reload

    page.goto("/runs/?since=2025-02-30&page=999999999999999999")
    expect(page.get_by_test_id("filter-notice")).to_contain_text("Ignored the “From” date")
    expect(rows).to_have_count(11)


def test_history_empty_state(page, member, artifacts):
    login(page, member(Role.EDITOR, username="newbie"))
    page.goto("/runs/")
    expect(page.get_by_role("heading", name="No runs yet")).to_be_visible()
    page.screenshot(path=str(artifacts / "runs-history-empty.png"))
