"""The Triggers page in a real browser: add a schedule, turn on the webhook, call it signed, and
see the run it started (on the embedded executor of the live server)."""

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from builder.services import flow_publish
from runs.models import Run
from tests.runs.support import wait_until
from triggers import signing

from .conftest import login

pytestmark = pytest.mark.e2e


def test_schedule_and_webhook_from_the_triggers_page(page, demo, artifacts):
    flow = Flow.objects.get(workspace=demo["workspace"], name="Trip budget")
    flow_publish(flow=flow, user=demo["owner"])
    login(page, demo["owner"])
    page.goto(f"/flows/{flow.pk}/triggers/")
    expect(page.get_by_test_id("schedules-empty")).to_be_visible()

    page.get_by_label("Name").fill("Weekday check")
    page.get_by_test_id("schedule-preset").select_option("weekdays")
    page.get_by_test_id("schedule-timezone").fill("Europe/Lisbon")
    page.get_by_label("City").fill("Porto")
    page.get_by_test_id("schedule-add").click()
    expect(page.get_by_test_id("triggers-notice")).to_have_text("Schedule added.")
    row = page.get_by_test_id("schedule-row")
    expect(row).to_contain_text("Weekday check")
    expect(row).to_contain_text("0 9 * * 1-5")
    expect(row.locator("time")).to_have_count(3)

    page.get_by_test_id("webhook-on").click()
    url = page.get_by_test_id("webhook-url").inner_text()
    secret = page.get_by_test_id("webhook-secret").inner_text()
    page.screenshot(path=str(artifacts / "triggers-page.png"), full_page=True)

    body = json.dumps({"city": "Faro", "nights": 2, "nightly_rate": 70}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", signing.HEADER: signing.sign(secret, body)},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
        run_id = json.loads(response.read())["run_id"]
    wait_until(lambda: Run.objects.filter(pk=run_id, status="succeeded").exists(), timeout=60)
    page.goto(f"/runs/{run_id}/")
    expect(page.get_by_text("by its webhook")).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded")
