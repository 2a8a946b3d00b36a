"""A step parked after a lost worker (a tool not safe to repeat) is settled from the run page."""

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from runs.models import Run, Step
from runs.services import run_start, step_execute, step_recover
from runs.services.advancing import run_advance, step_claim
from workspaces.models import Role

from .conftest import login
from .test_run_page import state_of, status

pytestmark = pytest.mark.e2e

GRAPH = {
    "schema_version": 1,
    "nodes": [
        {
            "id": "start",
            "type": "input",
            "position": {"x": 0, "y": 0},
            "config": {"schema": {"type": "object"}},
        },
        {
            "id": "notify",
            "type": "tool",
            "label": "Notify the shop",
            "position": {"x": 260, "y": 0},
            "config": {
                "tool": "http_request",
                "arguments": {"url": "https://shop.example/orders", "method": "POST"},
            },
        },
        {"id": "done", "type": "output", "position": {"x": 520, "y": 0}, "config": {}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "notify"},
        {"id": "e2", "source": "notify", "target": "done"},
    ],
}


def parked_run(user, workspace) -> Run:
    flow = Flow.objects.create(workspace=workspace, name="Order", graph=GRAPH, created_by=user)
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    queued: list[int] = []
    for step_id in run_advance(run_id=run.pk):
        step_execute(run_id=run.pk, step_id=step_id, worker="w", chain=False, kick=queued.extend)
    (tool_step,) = queued
    step_claim(run_id=run.pk, step_id=tool_step, worker="lost-worker")  # it dies mid-POST
    step_recover(step_id=tool_step)
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "waiting"
    assert Step.objects.filter(run=run, status="needs_attention").exists()
    return run


def test_parked_step_can_be_failed_from_the_run_page(page, member, workspace, artifacts):
    owner = member(Role.OWNER, username="olga")
    run = parked_run(owner, workspace)
    login(page, owner)
    page.goto(f"/runs/{run.pk}/")
    expect(status(page)).to_have_text("waiting")
    page.locator('[data-step-node="notify"] .sb-step-head').last.click()
    expect(page.locator("[data-resolve]")).to_be_visible()
    page.screenshot(path=str(artifacts / "run-page-needs-attention.png"))
    page.get_by_role("button", name="Mark it failed").click()
    expect(status(page)).to_have_text("failed")
    assert Run.objects.get(pk=run.pk).status == "failed"
    assert not Step.objects.filter(run=run, status="needs_attention").exists()
    expect(state_of(page, "notify")).to_have_attribute("data-run-state", "failed")


def test_parked_step_offers_nothing_to_a_viewer(page, member, workspace):
    owner = member(Role.OWNER, username="olga")
    run = parked_run(owner, workspace)
    viewer = member(Role.VIEWER, username="vic")
    login(page, viewer)
    page.goto(f"/runs/{run.pk}/")
    page.locator('[data-step-node="notify"] .sb-step-head').last.click()
    expect(page.locator("[data-step-detail]")).to_contain_text("not safe to repeat")
    expect(page.locator("[data-resolve]")).to_have_count(0)
    assert Run.objects.get(pk=run.pk).status == "waiting"
